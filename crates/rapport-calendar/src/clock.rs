//! Wall-clock times and periods as written in the config (`"09:00"`, `"22:00-06:00"`).

use crate::error::quote;

/// Minutes in a day; `24:00` is this many minutes after midnight.
pub(crate) const DAY_MINUTES: u16 = 24 * 60;

/// Parses `HH:MM` (`00:00` to `24:00`) into minutes after midnight.
pub(crate) fn parse_clock(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let digit = |i: usize| {
        bytes[i]
            .is_ascii_digit()
            .then(|| u16::from(bytes[i] - b'0'))
    };
    let hours = digit(0)? * 10 + digit(1)?;
    let minutes = digit(3)? * 10 + digit(4)?;
    if minutes > 59 || hours > 24 || (hours == 24 && minutes != 0) {
        return None;
    }
    Some(hours * 60 + minutes)
}

/// Formats minutes after midnight as `HH:MM`.
#[cfg(test)]
pub(crate) fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// An open period of one weekday, in minutes after that day's local midnight. `end` is past
/// `DAY_MINUTES` when the period runs into the next day: `22:00-06:00` is `1320..1800`,
/// `00:00-24:00` is `0..1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Period {
    pub(crate) start: u16,
    pub(crate) end: u16,
}

impl Period {
    /// Parses `HH:MM-HH:MM`. An end earlier than the start means the next day; `24:00` is the
    /// end of the day; an end equal to the start is refused (a day-long period is
    /// `00:00-24:00`, a 24-hour shift from elsewhere is two periods).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let malformed = || {
            format!(
                "{} is not a period like \"09:00-17:30\" (HH:MM-HH:MM, 24:00 allowed as an end)",
                quote(text)
            )
        };
        let (start, end) = text.trim().split_once('-').ok_or_else(malformed)?;
        let start = parse_clock(start.trim()).ok_or_else(malformed)?;
        let end = parse_clock(end.trim()).ok_or_else(malformed)?;
        if start == DAY_MINUTES {
            return Err(format!("{}: a period cannot start at 24:00", quote(text)));
        }
        if start == end {
            return Err(format!(
                "{}: start and end are equal; write a whole day as \"00:00-24:00\"",
                quote(text)
            ));
        }
        let end = if end > start { end } else { end + DAY_MINUTES };
        Ok(Self { start, end })
    }

    /// A same-day range for a partial holiday (`13:00-24:00`): the end must be after the start.
    pub(crate) fn parse_same_day(text: &str) -> Result<Self, String> {
        let period = Self::parse(text)?;
        if period.end > DAY_MINUTES {
            return Err(format!(
                "{}: a holiday closes hours of its own date; the end must be after the start \
                 (use 24:00 for midnight)",
                quote(text)
            ));
        }
        Ok(period)
    }

    /// The whole day, `00:00-24:00`.
    pub(crate) const WHOLE_DAY: Period = Period {
        start: 0,
        end: DAY_MINUTES,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_same_day_overnight_and_whole_day() {
        assert_eq!(
            Period::parse("09:00-17:30"),
            Ok(Period {
                start: 540,
                end: 1050
            })
        );
        assert_eq!(
            Period::parse("22:00-06:00"),
            Ok(Period {
                start: 1320,
                end: 1800
            })
        );
        assert_eq!(Period::parse("00:00-24:00"), Ok(Period::WHOLE_DAY));
        assert_eq!(
            Period::parse("18:00-24:00"),
            Ok(Period {
                start: 1080,
                end: 1440
            })
        );
        assert_eq!(
            Period::parse(" 08:00 - 12:00 "),
            Ok(Period {
                start: 480,
                end: 720
            })
        );
    }

    #[test]
    fn malformed_periods_are_refused() {
        for bad in [
            "9:00-17:00",
            "09:00",
            "09:00-17:60",
            "25:00-26:00",
            "24:00-06:00",
            "09:00-09:00",
            "24:30-01:00",
            "09h00-17h00",
            "",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Period::parse_same_day("22:00-06:00").is_err());
        assert!(Period::parse_same_day("13:00-24:00").is_ok());
    }

    #[test]
    fn clock_round_trips() {
        for minutes in [0, 59, 60, 721, 1439, 1440] {
            assert_eq!(parse_clock(&format_clock(minutes)), Some(minutes));
        }
    }
}
