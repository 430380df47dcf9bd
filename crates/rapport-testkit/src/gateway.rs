//! A `rapport-gateway` set up for generated traffic (`rapport generate --gateway`): an endpoint
//! per source for tenant `acme`, each secret in a file, the SES endpoint trusting a stand-in SNS
//! certificate, and Google's hosts rerouted to the sender's loopback stand-in.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};

/// The SNS topic the generator's SES notifications name.
pub const SES_TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:rapport-inbound";
/// The `SigningCertURL` `rapport_gateway::sign` puts in SNS messages.
pub const SNS_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-rapport-demo.pem";

/// The files a gateway for generated traffic needs, in `dir`.
#[derive(Debug, Clone)]
pub struct GatewayFiles {
    /// The `[[endpoints]]`, `[rate_limit]` and `[outbound]` sections (no `[kafka]`, `[topics]`
    /// or `[http]`: the caller adds those).
    pub endpoints_toml: PathBuf,
    /// The RSA key standing in for AWS's and Google's signing keys (PKCS#8 PEM), for
    /// `rapport generate --signing-key`.
    pub signing_key: PathBuf,
    /// Where `rapport generate --google-stand-in` must listen.
    pub google_stand_in: SocketAddr,
}

/// Writes the endpoints (secrets as files beside them), a fresh stand-in key and its
/// self-signed certificate into `dir`; Google's hosts go to `google_stand_in`.
pub fn gateway_files(dir: &Path, google_stand_in: SocketAddr) -> GatewayFiles {
    // 1024 bits keeps debug-mode key generation short; verification does not depend on it.
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("an RSA key");
    let signing_key = dir.join("signing-key.pem");
    std::fs::write(
        &signing_key,
        key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("the key encodes")
            .as_bytes(),
    )
    .expect("the key is written");
    let certificate = dir.join("sns-certificate.pem");
    std::fs::write(&certificate, self_signed(&key)).expect("the certificate is written");

    let secret = |name: &str| {
        let path = dir.join(format!("{name}.secret"));
        std::fs::write(&path, format!("{name}-secret-0123456789\n")).expect("a secret written");
        format!("{{ file = \"{}\" }}", path.display())
    };
    let mut text = format!(
        "[rate_limit]\nrequests_per_second = 100000.0\nburst = 100000\n\n[outbound]\ntimeout_ms = 5000\n[outbound.test_only_reroute]\n\"www.googleapis.com\" = \"http://{google_stand_in}\"\n\"mybusiness.googleapis.com\" = \"http://{google_stand_in}\"\n\n"
    );
    for (source, field) in [
        ("generic", "secrets"),
        ("mailgun", "secrets"),
        ("intercom", "secrets"),
        ("chatwoot", "secrets"),
        ("zendesk", "secrets"),
        ("sendgrid", "url_tokens"),
        ("trustpilot", "url_tokens"),
        ("yelp", "url_tokens"),
    ] {
        text.push_str(&format!(
            "[[endpoints]]\nid = \"acme-{source}\"\ntenant = \"acme\"\nsource = \"{source}\"\n{field} = [{}]\n\n",
            secret(source)
        ));
    }
    text.push_str(&format!(
        "[[endpoints]]\nid = \"acme-freshdesk\"\ntenant = \"acme\"\nsource = \"freshdesk\"\nbasic_auth = [{{ username = \"rapport\", password = {} }}]\n\n",
        secret("freshdesk")
    ));
    text.push_str(&format!(
        "[[endpoints]]\nid = \"acme-ses\"\ntenant = \"acme\"\nsource = \"ses\"\nsns = {{ topic_arns = [\"{SES_TOPIC_ARN}\"], fetch_certificates = false, certificates = [{{ url = \"{SNS_CERT_URL}\", file = \"{}\" }}] }}\n\n",
        certificate.display()
    ));
    text.push_str(&format!(
        "[[endpoints]]\nid = \"acme-google\"\ntenant = \"acme\"\nsource = \"google\"\ngoogle = {{ audiences = [\"https://gateway.test/hooks/google/acme-google\"], service_accounts = [\"gbp-push@rapport-demo.iam.gserviceaccount.com\"], api_token = {} }}\n\n",
        secret("google")
    ));
    let endpoints_toml = dir.join("gateway-endpoints.toml");
    std::fs::write(&endpoints_toml, text).expect("the endpoints are written");
    GatewayFiles {
        endpoints_toml,
        signing_key,
        google_stand_in,
    }
}

/// A self-signed certificate for `key`, like SNS's (`CN=sns.amazonaws.com`), valid for a day.
fn self_signed(key: &rsa::RsaPrivateKey) -> String {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let public = rsa::RsaPublicKey::from(key)
        .to_public_key_der()
        .expect("the public key encodes");
    let spki = SubjectPublicKeyInfoOwned::try_from(public.as_bytes()).expect("an SPKI");
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        Validity::from_now(Duration::from_secs(86_400)).expect("a validity"),
        Name::from_str("CN=sns.amazonaws.com").expect("a name"),
        spki,
        &signer,
    )
    .expect("a certificate builder");
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .expect("the certificate is signed")
        .to_pem(x509_cert::der::pem::LineEnding::LF)
        .expect("the certificate encodes")
}
