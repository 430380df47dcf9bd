//! `trustpilot`: Trustpilot service-review webhooks (Business app → Integrations → Developers
//! → Webhooks; "How to set up Trustpilot Webhooks" and "Manage your webhook notifications" on
//! support.trustpilot.com).
//!
//! Neither page describes a signature, a shared secret or authentication: Trustpilot POSTs
//! the `{"events": […]}` JSON to the subscription URL. The endpoint therefore authenticates
//! by a secret `url_tokens` token in that URL (or `basic_auth`, if Trustpilot keeps user info
//! of the URL; not documented, so the token is the recommended setting).

/// Trustpilot signs nothing: the endpoint's secret is the whole check.
pub type Verifier = super::unsigned::Posted;

#[cfg(test)]
mod tests {
    use super::super::testing::{Owned, at, endpoint, no_env, values};
    use super::*;
    use crate::config::Source;
    use crate::error::Reason;

    const BODY: &str = r#"{"events":[{"eventName":"service-review-created","version":"1","eventData":{"id":"53bffd360000640002975387"}}]}"#;

    fn verifier(tokens: &[&str]) -> Verifier {
        let mut e = endpoint(Source::Trustpilot);
        e.url_tokens = values(tokens);
        Verifier::build(&e, &no_env(), &mut vec![])
    }

    #[test]
    fn the_current_and_the_next_token_are_accepted_and_others_refused() {
        let v = verifier(&["current", "next"]);
        for t in ["current", "next"] {
            let r = Owned::post(&format!("/hooks/trustpilot/test?token={t}"), &[], BODY);
            assert!(v.verify(&r.request(), at(0)).is_ok(), "{t}");
        }
        let retired = Owned::post("/hooks/trustpilot/test?token=retired", &[], BODY);
        assert_eq!(
            v.verify(&retired.request(), at(0)).unwrap_err().reason(),
            Reason::BadCredentials
        );
        let none = Owned::post("/hooks/trustpilot/test?other=1", &[], BODY);
        assert_eq!(
            v.verify(&none.request(), at(0)).unwrap_err().reason(),
            Reason::MissingCredentials
        );
    }
}
