//! Helpers the chat adapters share: customer identities, message bodies, flexible ids.

use serde::{Deserialize, Deserializer};

use crate::common::identifiers::is_placeholder;
use crate::common::scalar::{self, Scalar};
use crate::common::text;

/// A message body as plain text: HTML (Intercom before API 2.15, rich chat messages) is
/// converted, plain text is only tidied, so a literal `<` in a chat message survives.
pub(crate) fn body_text(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let text = if looks_like_html(raw) {
        // The converter runs list items and divs together ("frontside"); a break after each
        // keeps them on their own lines.
        let blocks = raw
            .replace("</li>", "</li><br>")
            .replace("</div>", "</div><br>");
        text::html_to_text(&blocks)
    } else {
        text::tidy(raw)
    };
    text::non_empty(Some(text))
}

fn looks_like_html(raw: &str) -> bool {
    const TAGS: [&str; 12] = [
        "<p", "<br", "<div", "<span", "<a ", "<b>", "<i>", "<strong", "<em>", "<ul", "<ol", "<img",
    ];
    let lower = raw.to_ascii_lowercase();
    TAGS.iter().any(|t| lower.contains(t)) || (lower.contains("</") && lower.contains('>'))
}

/// The last path segment of an attachment URL, for sources that send no file name.
pub(crate) fn file_name_from_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let name = path.rsplit('/').next()?;
    text::non_empty(Some(name.to_owned()))
}

/// Reads an id that a source sends as a string in one place and as a number in another
/// (Intercom's `team_assignee_id`, Chatwoot's ids across versions).
pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    // An empty id would give every such event the same event id and merge unrelated messages.
    match scalar::read(d, "Repr")? {
        Scalar::Text(t) if t.trim().is_empty() => Err(serde::de::Error::custom("empty id")),
        Scalar::Text(t) => Ok(t),
        Scalar::Signed(n) => Ok(n.to_string()),
        Scalar::Unsigned(n) => Ok(n.to_string()),
        Scalar::Float(_) => Err(scalar::no_variant("Repr")),
    }
}

/// Like [`id`], with `null` as none; use with `#[serde(default)]`.
pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "id")] String);
    Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
}

/// `None` for the empty strings and zeros sources use for "nobody".
pub(crate) fn real(id: Option<&String>) -> Option<&str> {
    id.map(String::as_str).filter(|s| !is_placeholder(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_with_angle_brackets_is_not_treated_as_html() {
        assert_eq!(
            body_text(Some("is 3 < 5? yes")).as_deref(),
            Some("is 3 < 5? yes")
        );
        assert_eq!(
            body_text(Some("<p>Hello <b>there</b></p>")).as_deref(),
            Some("Hello there")
        );
        assert_eq!(body_text(Some("  ")), None);
        assert_eq!(
            body_text(Some("<ul><li>front</li><li>side</li></ul>")).as_deref(),
            Some("front\nside")
        );
        assert_eq!(
            body_text(Some("<div>front</div><div>side</div>")).as_deref(),
            Some("front\nside")
        );
    }

    #[test]
    fn file_name_comes_from_the_url_path() {
        assert_eq!(
            file_name_from_url("https://x.io/a/b/receipt.pdf?sig=1").as_deref(),
            Some("receipt.pdf")
        );
        assert_eq!(file_name_from_url("https://x.io/a/"), None);
    }
}
