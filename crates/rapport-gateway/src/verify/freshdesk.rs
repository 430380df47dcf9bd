//! `freshdesk`: the "Trigger webhook" action of a Freshdesk automation rule.
//!
//! Freshdesk signs nothing (Freshdesk, "Using Webhooks in automation rules",
//! support.freshdesk.com/support/solutions/articles/132589): the action can send basic
//! authentication (user name and password, or an API key) and custom headers. The endpoint
//! therefore accepts any of: `basic_auth`, a shared-secret `header`, or a `url_tokens` token
//! in the URL. With no timestamp there is no replay protection; TLS and the secret are all.

/// Freshdesk signs nothing: the endpoint's secret is the whole check.
pub type Verifier = super::unsigned::Posted;

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::{BasicAuth, HeaderAuth, Source};
    use crate::error::Reason;
    use crate::secret::SecretSource;

    const BODY: &str = r#"{"freshdesk_webhook":{"ticket_id":42}}"#;

    fn verifier() -> Verifier {
        let mut e = endpoint(Source::Freshdesk);
        e.basic_auth = vec![
            BasicAuth {
                username: "rapport".into(),
                password: SecretSource::Value("old-pass".into()),
            },
            BasicAuth {
                username: "rapport".into(),
                password: SecretSource::Value("new-pass".into()),
            },
        ];
        e.header = Some(HeaderAuth {
            name: "X-Rapport-Key".into(),
            values: values(&["k3y"]),
        });
        Verifier::build(&e, &no_env(), &mut vec![])
    }

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    fn reason(r: &Owned) -> Reason {
        verifier().verify(&r.request(), at(0)).unwrap_err().reason()
    }

    #[test]
    fn either_password_or_the_header_is_accepted() {
        for auth in [basic("rapport", "old-pass"), basic("rapport", "new-pass")] {
            let r = Owned::post("/hooks/freshdesk/test", &[("authorization", &auth)], BODY);
            assert!(verifier().verify(&r.request(), at(0)).is_ok());
        }
        let r = Owned::post("/hooks/freshdesk/test", &[("x-rapport-key", "k3y")], BODY);
        assert!(verifier().verify(&r.request(), at(0)).is_ok());
    }

    #[test]
    fn wrong_or_missing_credentials_are_refused() {
        let r = Owned::post("/", &[("authorization", &basic("rapport", "guess"))], BODY);
        assert_eq!(reason(&r), Reason::BadCredentials);
        let r = Owned::post("/", &[("authorization", &basic("admin", "new-pass"))], BODY);
        assert_eq!(reason(&r), Reason::BadCredentials);
        let r = Owned::post("/", &[("x-rapport-key", "k3y ")], BODY);
        assert_eq!(reason(&r), Reason::BadCredentials);
        assert_eq!(
            reason(&Owned::post("/", &[], BODY)),
            Reason::MissingCredentials
        );
        let r = Owned::post("/", &[("authorization", "Basic !!!")], BODY);
        assert_eq!(reason(&r), Reason::Malformed);
    }
}
