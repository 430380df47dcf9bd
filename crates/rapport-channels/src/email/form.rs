//! The body of an inbound-mail webhook POST as a list of named fields, whichever encoding the
//! provider (or a bridge in front of Kafka) used: `multipart/form-data`,
//! `application/x-www-form-urlencoded`, or a JSON object of the same fields.
//!
//! The Kafka record carries the POST body without its HTTP `Content-Type` header, so the
//! encoding is recognised from the body itself: a multipart body starts with `--<boundary>`, a
//! JSON object with `{`, and a URL-encoded body is `name=value&…`.

use mail_parser::{MimeHeaders, PartType};
use serde_json::Value;

use crate::common::json;
use crate::email::mime::PARSER;
use crate::{AdapterError, Limits};

/// One form field: text fields have no file name; uploaded files (attachments) have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub value: Vec<u8>,
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    pub fields: Vec<Field>,
}

/// RFC 2046 limits a boundary to 70 characters; some senders go over, so allow some slack.
const MAX_BOUNDARY: usize = 200;

impl Form {
    /// Reads a webhook body; `expected` names the source in `unknown_shape` errors.
    pub fn parse(
        payload: &[u8],
        limits: &Limits,
        expected: &'static str,
    ) -> Result<Self, AdapterError> {
        let start = payload
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(payload.len());
        let body = payload.get(start..).unwrap_or_default();
        if body.starts_with(b"--") {
            multipart(body, expected)
        } else if body.starts_with(b"{") {
            from_json(body, limits)
        } else if looks_urlencoded(body) {
            Ok(urlencoded(body))
        } else {
            Err(AdapterError::shape(
                expected,
                "body is neither multipart/form-data, URL-encoded form nor a JSON object",
            ))
        }
    }

    /// The first text field with this name (exact, then case-insensitive), as bytes.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        let text_fields = || self.fields.iter().filter(|f| f.filename.is_none());
        text_fields()
            .find(|f| f.name == name)
            .or_else(|| text_fields().find(|f| f.name.eq_ignore_ascii_case(name)))
            .map(|f| f.value.as_slice())
    }

    /// The first text field with this name as UTF-8 text (invalid bytes replaced), if not blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.bytes(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .filter(|t| !t.trim().is_empty())
    }

    /// Every text field with this name, in order (a JSON array of strings becomes several).
    pub fn all_text(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.filename.is_none() && f.name.eq_ignore_ascii_case(name))
            .map(|f| String::from_utf8_lossy(&f.value).into_owned())
            .filter(|t| !t.trim().is_empty())
            .collect()
    }

    /// Uploaded files, in order.
    pub fn files(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.filename.is_some())
    }

    pub fn has(&self, name: &str) -> bool {
        self.bytes(name).is_some()
    }
}

fn looks_urlencoded(body: &[u8]) -> bool {
    let first = body.split(|&b| b == b'&').next().unwrap_or_default();
    first.contains(&b'=')
        && !first.starts_with(b"=")
        && body
            .iter()
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n')
}

fn urlencoded(body: &[u8]) -> Form {
    let fields = form_urlencoded::parse(body)
        .map(|(name, value)| Field {
            name: name.trim().to_owned(),
            value: value.into_owned().into_bytes(),
            filename: None,
        })
        .collect();
    Form { fields }
}

/// Parses `multipart/form-data` with mail-parser: a synthetic `Content-Type` header naming the
/// boundary from the body's first line turns the body into a MIME multipart it can split. Field
/// values are taken as raw bytes (SendGrid sends some in the charset its `charsets` field names).
fn multipart(body: &[u8], expected: &'static str) -> Result<Form, AdapterError> {
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let boundary = first_line.strip_prefix(b"--").unwrap_or_default();
    let boundary = std::str::from_utf8(boundary)
        .map(str::trim_end)
        .map_err(|_| AdapterError::shape(expected, "multipart boundary is not ASCII"))?;
    if boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY
        || !boundary.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        || boundary.contains('"')
    {
        return Err(AdapterError::shape(
            expected,
            "body starts with \"--\" but has no valid multipart boundary",
        ));
    }
    let mut raw =
        format!("Content-Type: multipart/form-data; boundary=\"{boundary}\"\r\n\r\n").into_bytes();
    raw.extend_from_slice(body);
    let message = PARSER
        .parse(&raw)
        .ok_or_else(|| AdapterError::shape(expected, "multipart body could not be split"))?;
    let children: &[u32] = match message.parts.first().map(|p| &p.body) {
        Some(PartType::Multipart(ids)) => ids,
        _ => &[],
    };
    let mut fields = Vec::with_capacity(children.len());
    for part in children
        .iter()
        .filter_map(|&id| message.parts.get(usize::try_from(id).ok()?))
    {
        let Some(disposition) = part.content_disposition() else {
            continue;
        };
        let Some(name) = disposition.attribute("name") else {
            continue;
        };
        let start = usize::try_from(part.offset_body).unwrap_or(usize::MAX);
        let end = usize::try_from(part.offset_end).unwrap_or(usize::MAX);
        let value = raw.get(start..end).unwrap_or_default().to_vec();
        let filename = disposition.attribute("filename").map(str::to_owned);
        fields.push(Field {
            name: name.trim().to_owned(),
            value,
            filename,
        });
    }
    if fields.is_empty() {
        return Err(AdapterError::shape(
            expected,
            "multipart body has no form-data fields",
        ));
    }
    Ok(Form { fields })
}

/// A JSON object of the same fields: strings stay as they are, a string array becomes repeated
/// fields, anything else (an `envelope` object, `message-headers` pairs) is kept as JSON text so
/// the adapters read it exactly as they read the form-encoded variant.
fn from_json(body: &[u8], limits: &Limits) -> Result<Form, AdapterError> {
    let object: serde_json::Map<String, Value> = json::parse(body, limits)?;
    let mut fields = Vec::with_capacity(object.len());
    for (name, value) in object {
        let mut push = |value: String| {
            fields.push(Field {
                name: name.clone(),
                value: value.into_bytes(),
                filename: None,
            })
        };
        match value {
            Value::Null => {}
            Value::String(text) => push(text),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                for item in items {
                    if let Value::String(text) = item {
                        push(text);
                    }
                }
            }
            Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                push(value.to_string())
            }
        }
    }
    Ok(Form { fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<Form, AdapterError> {
        Form::parse(body, &Limits::default(), "test")
    }

    #[test]
    fn multipart_fields_keep_raw_bytes_and_file_names() {
        let body = b"--xYzZY\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nCaf\xe9\r\n--xYzZY\r\nContent-Disposition: form-data; name=\"attachment1\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--xYzZY--\r\n";
        let form = parse(body).unwrap();
        assert_eq!(form.bytes("text"), Some(&b"Caf\xe9"[..]));
        assert_eq!(
            form.files()
                .map(|f| f.filename.as_deref())
                .collect::<Vec<_>>(),
            [Some("a.pdf")]
        );
        assert_eq!(form.bytes("attachment1"), None, "files are not text fields");
    }

    #[test]
    fn urlencoded_and_json_read_the_same_fields() {
        let a = parse(b"subject=Hi+there&body-plain=x%26y").unwrap();
        let b =
            parse(br#"{"subject":"Hi there","body-plain":"x&y","n":3,"list":["a","b"]}"#).unwrap();
        assert_eq!(a.text("subject"), b.text("subject"));
        assert_eq!(a.text("body-plain").as_deref(), Some("x&y"));
        assert_eq!(b.text("n").as_deref(), Some("3"));
        assert_eq!(b.all_text("list"), ["a", "b"]);
    }

    #[test]
    fn other_bodies_are_unknown_shapes() {
        for body in [&b"hello world"[..], b"--\r\n", b"", b"\x00\x01\x02"] {
            assert_eq!(
                parse(body).unwrap_err().code().to_string(),
                "unknown_shape",
                "{body:?}"
            );
        }
    }
}
