//! Reads a few short text fields out of a form body (`application/x-www-form-urlencoded` or
//! `multipart/form-data`) without parsing the rest: Mailgun puts its signature fields beside the
//! message, whose attachments make the body multipart.
//!
//! Hand-written rather than a crate because the maintained multipart parsers (`multer`) are
//! async stream readers, while the gateway holds the whole body already and needs three small
//! fields. One pass over the body with `memchr`'s substring search: linear in its size.

use std::collections::HashMap;

use memchr::memmem;

/// The longest field value read; signature fields are at most a few dozen bytes.
const MAX_VALUE: usize = 1024;

/// The values of `names` (first occurrence each) in a form body whose `Content-Type` header is
/// `content_type`.
pub(crate) fn form_fields(
    content_type: &str,
    body: &[u8],
    names: &[&'static str],
) -> Result<HashMap<&'static str, String>, String> {
    form_fields_within(content_type, body, names, MAX_VALUE)
}

/// [`form_fields`] for values of up to `max_value` bytes (a mail's header block).
pub(crate) fn form_fields_within(
    content_type: &str,
    body: &[u8],
    names: &[&'static str],
    max_value: usize,
) -> Result<HashMap<&'static str, String>, String> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-www-form-urlencoded" => Ok(urlencoded(body, names, max_value)),
        "multipart/form-data" => multipart(content_type, body, names, max_value),
        other => Err(format!("content type {other:?} is not a form")),
    }
}

fn urlencoded(
    body: &[u8],
    names: &[&'static str],
    max_value: usize,
) -> HashMap<&'static str, String> {
    let mut found = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if let Some(name) = names.iter().find(|n| **n == key)
            && value.len() <= max_value
        {
            found.entry(*name).or_insert_with(|| value.into_owned());
        }
    }
    found
}

fn boundary(content_type: &str) -> Result<String, String> {
    let param = content_type
        .split(';')
        .skip(1)
        .map(str::trim)
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then_some(v.trim())
        })
        .ok_or("multipart body without a boundary")?;
    let boundary = param.trim_matches('"');
    if boundary.is_empty() || boundary.len() > 70 {
        return Err("multipart boundary must be 1-70 characters".into());
    }
    Ok(boundary.to_string())
}

fn multipart(
    content_type: &str,
    body: &[u8],
    names: &[&'static str],
    max_value: usize,
) -> Result<HashMap<&'static str, String>, String> {
    let delimiter = format!("--{}", boundary(content_type)?);
    let delimiter = delimiter.as_bytes();
    // A delimiter counts only at the start of a line (RFC 2046 §5.1.1).
    let starts: Vec<usize> = memmem::find_iter(body, delimiter)
        .filter(|&p| p == 0 || body[p - 1] == b'\n')
        .collect();
    let mut found = HashMap::new();
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        if part.starts_with(b"--") {
            break;
        }
        let part = strip_line_end_front(part);
        let part = strip_line_end_back(part);
        let (headers, content) = split_headers(part).ok_or("multipart part without headers")?;
        if let Some(name) = field_name(headers)
            && let Some(wanted) = names.iter().find(|n| **n == name)
            && content.len() <= max_value
        {
            let value = String::from_utf8(content.to_vec())
                .map_err(|_| format!("field {wanted} is not UTF-8"))?;
            found.entry(*wanted).or_insert(value);
        }
    }
    Ok(found)
}

fn strip_line_end_front(part: &[u8]) -> &[u8] {
    part.strip_prefix(b"\r\n")
        .or_else(|| part.strip_prefix(b"\n"))
        .unwrap_or(part)
}

fn strip_line_end_back(part: &[u8]) -> &[u8] {
    part.strip_suffix(b"\r\n")
        .or_else(|| part.strip_suffix(b"\n"))
        .unwrap_or(part)
}

fn split_headers(part: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(i) = memmem::find(part, b"\r\n\r\n") {
        return Some((&part[..i], &part[i + 4..]));
    }
    memmem::find(part, b"\n\n").map(|i| (&part[..i], &part[i + 2..]))
}

/// The `name` of a `Content-Disposition: form-data` part that is not a file.
fn field_name(headers: &[u8]) -> Option<String> {
    let headers = std::str::from_utf8(headers).ok()?;
    let disposition = headers.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut name = None;
    for param in disposition.split(';').skip(1) {
        let (k, v) = param.split_once('=')?;
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v.to_string()),
            "filename" => return None,
            _ => {}
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["timestamp", "token", "signature"];

    #[test]
    fn reads_urlencoded_fields() {
        let body = b"recipient=a%40b.c&timestamp=1700000000&token=abc&signature=de%66&token=second";
        let f = form_fields("application/x-www-form-urlencoded", body, NAMES).unwrap();
        assert_eq!(f["timestamp"], "1700000000");
        assert_eq!(f["token"], "abc", "first occurrence wins");
        assert_eq!(f["signature"], "def");
    }

    #[test]
    fn reads_multipart_fields_and_skips_files() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"attachment-1\"; filename=\"token\"\r\n\r\nfile --XyZ bytes\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabc\r\n\
--XyZ\r\ncontent-disposition: form-data; name=timestamp\r\n\r\n1700000000\r\n\
--XyZ--\r\n";
        let f = form_fields(
            "multipart/form-data; boundary=\"XyZ\"",
            body.as_bytes(),
            NAMES,
        )
        .unwrap();
        assert_eq!(f["token"], "abc");
        assert_eq!(f["timestamp"], "1700000000");
        assert!(!f.contains_key("signature"));
    }

    #[test]
    fn refuses_what_is_not_a_form() {
        assert!(form_fields("application/json", b"{}", NAMES).is_err());
        assert!(form_fields("multipart/form-data", b"", NAMES).is_err());
    }

    #[test]
    fn a_long_body_of_delimiters_is_read_in_one_pass() {
        // The worst shape: a delimiter on every line. Linear in size; a quadratic reader would
        // take minutes here.
        let part = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n";
        let body = part.repeat(200_000);
        let f = form_fields("multipart/form-data; boundary=b", body.as_bytes(), NAMES).unwrap();
        assert!(f.is_empty());
    }
}
