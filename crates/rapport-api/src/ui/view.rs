//! How values read from the store are shown on a page: times in UTC, durations in words, text
//! previews, links. Every function returns plain text; the templates escape it.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a path segment may carry unencoded (RFC 3986 unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` as one URL path segment or query value: everything but unreserved characters is
/// percent-encoded, `/`, `?`, `#`, `&` and `+` included.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// The customer page of a customer id or identifier.
pub fn customer_href(id_or_identifier: &str) -> String {
    format!("/ui/customers/{}", encode(id_or_identifier))
}

/// The page of one conversation.
pub fn conversation_href(conversation_id: &str) -> String {
    format!("/ui/conversations/{}", encode(conversation_id))
}

fn zoned(ms: i64) -> Option<jiff::Zoned> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned(TimeZone::UTC))
}

/// `Mon 3 Jun 2024, 09:12 UTC`.
pub fn time(ms: i64) -> String {
    zoned(ms).map_or_else(
        || "?".to_owned(),
        |z| z.strftime("%a %-d %b %Y, %H:%M UTC").to_string(),
    )
}

/// `09:12:05`, for events within one conversation.
pub fn clock(ms: i64) -> String {
    zoned(ms).map_or_else(|| "?".to_owned(), |z| z.strftime("%H:%M:%S").to_string())
}

/// `3 Jun 2024`.
pub fn date(ms: i64) -> String {
    zoned(ms).map_or_else(|| "?".to_owned(), |z| z.strftime("%-d %b %Y").to_string())
}

/// `2024-06-03T09:12:05Z`, for `<time datetime>`.
pub fn machine_time(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
}

/// A duration in the two largest units that matter: `850 ms`, `42 s`, `4 min 10 s`,
/// `2 h 14 min`, `3 d 4 h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// An optional duration, `–` when absent.
pub fn maybe_duration(ms: Option<i64>) -> String {
    ms.map_or_else(|| "–".to_owned(), duration)
}

/// At most `chars` characters of `text` on one line, with `…` when cut.
pub fn preview(text: &str, chars: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", line[..cut].trim_end()),
        None => line,
    }
}

/// A count with thousands separated: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(240_000), "4 min");
        assert_eq!(duration(250_000), "4 min 10 s");
        assert_eq!(duration(7_200_000), "2 h");
        assert_eq!(duration(8_040_000), "2 h 14 min");
        assert_eq!(duration(3 * 86_400_000), "3 d");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000 + 5), "3 d 4 h");
        assert_eq!(duration(-5), "0 ms");
        assert_eq!(maybe_duration(None), "–");
    }

    #[test]
    fn times_are_utc_and_dates_short() {
        let ms = 1_717_405_925_000; // 2024-06-03T09:12:05Z
        assert_eq!(time(ms), "Mon 3 Jun 2024, 09:12 UTC");
        assert_eq!(clock(ms), "09:12:05");
        assert_eq!(date(ms), "3 Jun 2024");
        assert_eq!(machine_time(ms), "2024-06-03T09:12:05Z");
    }

    #[test]
    fn previews_fold_whitespace_and_cut_on_characters() {
        assert_eq!(preview("  a\n\nb\tc ", 10), "a b c");
        assert_eq!(preview("héllo wörld", 5), "héllo…");
        assert_eq!(preview("ab cd", 3), "ab…");
    }

    #[test]
    fn links_encode_every_reserved_character() {
        assert_eq!(
            conversation_href("email:<a/b?c#d&e+f@x>"),
            "/ui/conversations/email%3A%3Ca%2Fb%3Fc%23d%26e%2Bf%40x%3E"
        );
        assert_eq!(customer_href("9f0e-d4"), "/ui/customers/9f0e-d4");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
