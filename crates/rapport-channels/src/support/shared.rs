//! Helpers both helpdesk adapters share: typed decoding of an already parsed JSON value with the
//! stable error codes, ids that arrive as numbers or strings, customer identities and comment
//! bodies.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AdapterError;
use crate::common::scalar::{self, Scalar};
use crate::common::text::{html_to_text, non_empty, strip_quoted};

/// Decodes `value` into `T`, naming a missing or mistyped field by its full path under `prefix`
/// (the same codes `common::json::parse` gives for a whole payload).
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, AdapterError> {
    // The path is only needed for the error: decode untracked first (see `json::parse`).
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let join = |field: &str| {
            [prefix, path.as_str(), field]
                .into_iter()
                .filter(|p| !p.is_empty() && *p != ".")
                .collect::<Vec<_>>()
                .join(".")
        };
        let message = err.into_inner().to_string();
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            AdapterError::MissingField(join(field))
        } else {
            let field = join("");
            if field.is_empty() {
                AdapterError::shape("json", message)
            } else {
                AdapterError::invalid(field, message)
            }
        }
    })
}

/// An id that a source sends as a JSON number in one API and as a string in another (Zendesk's
/// REST API versus its event webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar::read(d, "Repr")? {
            Scalar::Signed(n) => Ok(Self(n.to_string())),
            Scalar::Unsigned(n) if i64::try_from(n).is_ok() => Ok(Self(n.to_string())),
            Scalar::Text(t) if t.trim().len() == t.len() && !t.is_empty() => Ok(Self(t)),
            Scalar::Text(t) if !t.trim().is_empty() => Ok(Self(t.trim().to_owned())),
            Scalar::Text(_) => Err(serde::de::Error::custom("empty id")),
            Scalar::Unsigned(_) | Scalar::Float(_) => Err(scalar::no_variant("Repr")),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The plain text of a comment: the first non-empty of the plain variants, else the HTML
/// converted, with quoted history cut off.
pub fn body_text(plain: &[Option<&str>], html: Option<&str>) -> Option<String> {
    let text = plain
        .iter()
        .flatten()
        .map(|t| t.trim())
        .find(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| html.map(|h| html_to_text(without_quoted_html(h))))?;
    non_empty(Some(strip_quoted(&text)))
}

/// Markers of the quoted history mail clients and helpdesks wrap in HTML replies (Gmail, Apple
/// Mail and Thunderbird blockquotes, Outlook's reply header, Freshdesk's own quote container).
const HTML_QUOTE_MARKERS: [&str; 5] = [
    "class=\"gmail_quote",
    "class=\"freshdesk_quote",
    "<blockquote",
    "id=\"divrplyfwdmsg",
    "class=\"yahoo_quoted",
];

/// Cuts an HTML body at the first quoted-history container, unless nothing would be left.
pub fn without_quoted_html(html: &str) -> &str {
    let lower = html.to_ascii_lowercase();
    let cut = HTML_QUOTE_MARKERS
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .and_then(|at| {
            lower
                .get(..at)
                .and_then(|before| before.rfind('<'))
                .or(Some(at))
        });
    match cut.and_then(|at| html.get(..at)) {
        Some(kept) if !html_to_text(kept).is_empty() => kept,
        _ => html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_html_history_is_cut() {
        let html = "<div><p>Still waiting.</p></div><div class=\"gmail_quote\"><div>On Mon Ana wrote:</div><blockquote>old</blockquote></div>";
        assert_eq!(
            body_text(&[], Some(html)).as_deref(),
            Some("Still waiting.")
        );
        assert_eq!(
            without_quoted_html("<blockquote>only quote</blockquote>"),
            "<blockquote>only quote</blockquote>"
        );
    }

    #[test]
    fn ids_accept_numbers_and_strings() {
        let ids: Vec<Id> = serde_json::from_str(r#"[35436, "35436", " 7 "]"#).unwrap();
        assert_eq!(
            ids,
            vec![Id("35436".into()), Id("35436".into()), Id("7".into())]
        );
        assert!(serde_json::from_str::<Id>(r#""""#).is_err());
    }

    #[test]
    fn nested_missing_field_is_named_under_prefix() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            inner: Inner,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            id: i64,
        }
        let err = from_value::<T>(serde_json::json!({"inner": {}}), "audit").unwrap_err();
        assert_eq!(err.code().to_string(), "missing_field:audit.inner.id");
        let err = from_value::<T>(serde_json::json!({"inner": {"id": "x"}}), "").unwrap_err();
        assert_eq!(err.code().to_string(), "invalid_value:inner.id");
    }
}
