//! Plain text out of message bodies: HTML conversion and removal of quoted history.

/// Converts HTML to plain text with mail-parser's converter (the same one it uses for HTML-only
/// mail), then tidies white space.
pub fn html_to_text(html: &str) -> String {
    tidy(&mail_parser::decoders::html::html_to_text(html))
}

/// Trims trailing white space per line, collapses runs of blank lines, trims the ends.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in unix_newlines(text).lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

/// Cuts quoted history and the signature off a reply, keeping only what the sender wrote.
///
/// Recognizes the conventions the big clients use: an attribution line (`On … wrote:`,
/// `Le … a écrit :`, `Am … schrieb`), Outlook's `-----Original Message-----` and `From:` header
/// blocks, `>` quoted lines, and the `-- ` signature separator of RFC 3676. When cutting would
/// leave nothing (a message that is all quote), the text is kept whole.
pub fn strip_quoted(text: &str) -> String {
    let normalized = unix_newlines(text);
    let lines: Vec<&str> = normalized.lines().collect();
    // quoted_from[i]: every line from i to the end is blank or quoted. Computed once from the
    // end so that a body of many `>` lines costs one pass, not one rescan per line.
    let mut quoted_from = vec![true; lines.len() + 1];
    for i in (0..lines.len()).rev() {
        let t = lines[i].trim();
        quoted_from[i] = quoted_from[i + 1] && (t.is_empty() || t.starts_with('>'));
    }
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let attribution = (t.starts_with("On ") && t.ends_with("wrote:"))
            || (t.starts_with("Le ") && (t.ends_with("a écrit :") || t.ends_with("a écrit:")))
            || (t.starts_with("Am ") && t.contains("schrieb"))
            || (t.starts_with("El ") && t.ends_with("escribió:"));
        let outlook = t.starts_with("-----Original Message-----")
            || t.starts_with("________________________________")
            || (t.starts_with("From:")
                && lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with("Sent:")));
        let signature = *line == "-- " || t == "--";
        let quote_block = t.starts_with('>') && quoted_from[i];
        if attribution || outlook || signature || quote_block {
            end = i;
            break;
        }
    }
    let kept = tidy(&lines[..end].join("\n"));
    if kept.is_empty() {
        tidy(&normalized)
    } else {
        kept
    }
}

/// `\r\n` as `\n`, copying only when there is one to replace (most chat and helpdesk text has
/// none).
fn unix_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains("\r\n") {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Empty or white-space-only text is no text.
pub fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_attribution_and_quote_are_removed() {
        let body = "Thanks, that worked!\n\nOn Tue, 5 Mar 2024 at 10:02, Ana <ana@acme.com> wrote:\n> Try restarting.\n> Ana";
        assert_eq!(strip_quoted(body), "Thanks, that worked!");
    }

    #[test]
    fn signature_is_removed() {
        assert_eq!(strip_quoted("Hello\n\n-- \nMaria Lopez\nCEO"), "Hello");
    }

    #[test]
    fn outlook_header_block_is_removed() {
        let body =
            "See below.\r\n\r\nFrom: Ana\r\nSent: Monday\r\nTo: Maria\r\nSubject: x\r\n\r\nold";
        assert_eq!(strip_quoted(body), "See below.");
    }

    #[test]
    fn inline_quotes_followed_by_answers_are_kept() {
        let body = "> Which plan?\nThe pro plan.\n> And size?\nLarge.";
        assert_eq!(strip_quoted(body), body);
    }

    #[test]
    fn all_quote_message_is_kept_whole() {
        assert_eq!(strip_quoted("> only quote"), "> only quote");
    }

    #[test]
    fn html_becomes_plain_text() {
        let text = html_to_text("<p>Hello <b>Maria</b>,</p><p>your order shipped.</p>");
        assert!(text.contains("Hello Maria,"), "{text:?}");
        assert!(text.contains("your order shipped."), "{text:?}");
        assert!(!text.contains('<'));
    }
}
