//! `yelp`: Yelp partner webhooks (reviews, leads), registered through a Yelp representative.
//!
//! Yelp signs nothing (Yelp, "Guide to Webhooks", docs.developer.yelp.com/docs/webhooks).
//! Before sending events it verifies the URL: a `GET` of the webhook URL with a query
//! parameter `verification` (alphanumeric), expecting the value back; the stored copy of the
//! page is cut off before the exact response, so the gateway answers
//! `{"verification": "<value>"}` with status 200, the form Yelp partners use; check it with
//! your Yelp representative. Events then arrive as `POST`s of
//! `{"time", "object": "business", "data": {"id", "updates": […]}}`.
//!
//! The endpoint authenticates both by a secret `url_tokens` token in the registered URL
//! (Yelp calls exactly the URL it was given, query included); `basic_auth` is accepted too.

use chrono::{DateTime, Utc};
use http::Method;

use super::unsigned::Unsigned;
use crate::config::EndpointConfig;
use crate::error::{VerifyError, quote};
use crate::request::{Control, Request, Verified};
use crate::secret::Environment;

/// The query parameter of Yelp's URL verification.
pub const VERIFICATION_PARAM: &str = "verification";

#[derive(Debug)]
pub struct Verifier {
    unsigned: Unsigned,
    body_limit: usize,
}

impl Verifier {
    pub(crate) fn build(
        endpoint: &EndpointConfig,
        env: &dyn Environment,
        problems: &mut Vec<String>,
    ) -> Self {
        Self {
            unsigned: Unsigned::build(endpoint, env, problems),
            body_limit: endpoint.body_limit_bytes,
        }
    }

    pub fn verify(
        &self,
        request: &Request<'_>,
        _now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        if request.method == Method::GET {
            self.unsigned.check(request)?;
            let value = request
                .query_param(VERIFICATION_PARAM)
                .ok_or(VerifyError::MissingCredentials("verification parameter"))?;
            if value.is_empty()
                || value.len() > 256
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(VerifyError::malformed(format!(
                    "verification value {} is not 1-256 alphanumerics",
                    quote(&value)
                )));
            }
            return Ok(Verified {
                delivery_id: None,
                control: Some(Control::Respond {
                    content_type: "application/json",
                    body: serde_json::json!({ VERIFICATION_PARAM: value }).to_string(),
                }),
            });
        }
        request.require_method(&Method::POST)?;
        request.require_body_within(self.body_limit)?;
        self.unsigned.check(request)?;
        Ok(Verified::event(None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    const BODY: &str = r#"{"time":"2024-05-20T08:00:00+00:00","object":"business","data":{"id":"b1","updates":[{"event_type":"NEW_REVIEW_EVENT","review_id":"r1"}]}}"#;

    fn verifier() -> Verifier {
        let mut e = endpoint(Source::Yelp);
        e.url_tokens = values(&["s3cret"]);
        Verifier::build(&e, &no_env(), &mut vec![])
    }

    #[test]
    fn the_url_verification_is_answered_as_a_control_message() {
        let r = Owned::new(
            Method::GET,
            "/hooks/yelp/test?token=s3cret&verification=abc123XYZ",
            &[],
            "",
        );
        let ok = verifier().verify(&r.request(), at(0)).unwrap();
        assert_eq!(
            ok.control,
            Some(Control::Respond {
                content_type: "application/json",
                body: r#"{"verification":"abc123XYZ"}"#.into()
            })
        );
        assert!(!ok.forward());
    }

    #[test]
    fn the_verification_needs_the_token_and_a_plain_value() {
        let r = Owned::new(Method::GET, "/hooks/yelp/test?verification=abc", &[], "");
        assert_eq!(
            verifier().verify(&r.request(), at(0)).unwrap_err().reason(),
            Reason::MissingCredentials
        );
        let r = Owned::new(
            Method::GET,
            "/hooks/yelp/test?token=s3cret&verification=%3Cscript%3E",
            &[],
            "",
        );
        assert_eq!(
            verifier().verify(&r.request(), at(0)).unwrap_err().reason(),
            Reason::Malformed
        );
    }

    #[test]
    fn events_need_the_token() {
        let r = Owned::post("/hooks/yelp/test?token=s3cret", &[], BODY);
        assert!(verifier().verify(&r.request(), at(0)).unwrap().forward());
        let r = Owned::post("/hooks/yelp/test?token=guess", &[], BODY);
        assert_eq!(
            verifier().verify(&r.request(), at(0)).unwrap_err().reason(),
            Reason::BadCredentials
        );
        let r = Owned::new(Method::PUT, "/hooks/yelp/test?token=s3cret", &[], BODY);
        assert_eq!(
            verifier().verify(&r.request(), at(0)).unwrap_err().reason(),
            Reason::MethodNotAllowed
        );
    }
}
