//! Input quoted in error messages, bounded: a message names what was wrong without copying a
//! hostile payload into logs, dead-letter headers or terminals.

use std::fmt;

/// How much of an input value an error message quotes by default.
pub const QUOTE_LIMIT: usize = 200;

/// Displays at most `limit` bytes of the text (cut at a character boundary), followed by
/// `… (N bytes)` when it was cut.
#[derive(Debug, Clone, Copy)]
pub struct Quote<'a> {
    text: &'a str,
    limit: usize,
}

impl<'a> Quote<'a> {
    pub fn new(text: &'a str) -> Self {
        Self::with_limit(text, QUOTE_LIMIT)
    }

    pub fn with_limit(text: &'a str, limit: usize) -> Self {
        Self { text, limit }
    }

    /// The part of the text that is shown.
    pub fn shown(&self) -> &'a str {
        &self.text[..floor_char_boundary(self.text, self.limit)]
    }
}

impl fmt::Display for Quote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.shown();
        f.write_str(shown)?;
        if shown.len() < self.text.len() {
            write!(f, "… ({} bytes)", self.text.len())?;
        }
        Ok(())
    }
}

/// `text` cut to at most `limit` bytes plus the marker, as an owned string only when it is cut.
pub fn bounded(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= limit {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(Quote::with_limit(text, limit).to_string())
    }
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_shown_whole() {
        assert_eq!(Quote::new("ticket.id").to_string(), "ticket.id");
    }

    #[test]
    fn long_text_is_cut_and_says_its_size() {
        let long = "x".repeat(1_000_000);
        let shown = Quote::new(&long).to_string();
        assert_eq!(shown.len(), QUOTE_LIMIT + "… (1000000 bytes)".len());
        assert!(shown.ends_with("… (1000000 bytes)"));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let text = "é".repeat(300);
        let shown = Quote::with_limit(&text, 5).shown();
        assert_eq!(shown, "éé");
        assert_eq!(bounded(&text, 5), "éé… (600 bytes)");
        assert_eq!(bounded("short", 5), "short");
    }
}
