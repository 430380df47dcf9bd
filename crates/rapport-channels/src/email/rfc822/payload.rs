//! The native shape of this source: an Internet Message Format message, RFC 5322 (headers) with
//! MIME, RFC 2045–2049 (bodies), RFC 2047 (encoded words) and RFC 2231 (parameter values).
//! There is no vendor wrapper; parsing is done by the `mail-parser` crate (0.11), and the fields
//! read are listed in [`crate::email::mime`].
//!
//! Checked against RFC 5322 §2.2 (a header field is `name ":" value`, names printable US-ASCII
//! without colon) and §3.6 (the origination, identification and threading fields).

/// How much of the record to scan for the header block; real header blocks are far shorter than
/// this, and detection must stay cheap on large records.
const SCAN_LIMIT: usize = 64 * 1024;

/// A cheap check that `payload` starts with an RFC 5322 header block containing `From:` or
/// `Message-ID:`: the first line must be a header field (`Name: value`), and the fields are
/// scanned up to the first empty line.
pub(crate) fn looks_like_message(payload: &[u8]) -> bool {
    let head = payload.get(..SCAN_LIMIT).unwrap_or(payload);
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .peekable();
    if !lines.peek().is_some_and(|first| is_field_line(first)) {
        return false;
    }
    for line in lines.take_while(|line| !line.is_empty()) {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if is_field_line(line)
            && (name.eq_ignore_ascii_case(b"from") || name.eq_ignore_ascii_case(b"message-id"))
        {
            return true;
        }
    }
    false
}

fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = line.get(..colon).unwrap_or_default();
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blocks_are_recognised() {
        assert!(looks_like_message(
            b"Received: x\r\nFrom: a@b.io\r\n\r\nbody"
        ));
        assert!(looks_like_message(b"Message-ID: <1@x>\nSubject: s\n\nbody"));
    }

    #[test]
    fn other_payloads_are_not() {
        assert!(!looks_like_message(br#"{"From": "a@b.io"}"#));
        assert!(!looks_like_message(
            b"--xYzZY\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nFrom: a@b.io\r\n"
        ));
        assert!(!looks_like_message(b"recipient=a%40b.io&from=x"));
        assert!(
            !looks_like_message(b"Subject: s\r\n\r\nFrom: a@b.io\r\n"),
            "From: in the body does not count"
        );
    }
}
