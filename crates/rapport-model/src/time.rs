use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with millisecond precision, stored as milliseconds since the Unix epoch.
///
/// JSON renders it as RFC 3339 (`2024-03-01T09:30:00.250Z`) so golden files stay readable;
/// Avro carries the raw `long` with the `timestamp-millis` logical type, and ClickHouse an
/// `Int64` column (18.16 has no `DateTime64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// Parses RFC 3339 / ISO 8601 with an offset; the offset is folded into UTC.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|dt| Self(dt.timestamp_millis()))
    }

    pub fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(1000))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Millis(i64),
            Text(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Millis(millis) => Ok(Self(millis)),
            Repr::Text(text) => Self::parse_rfc3339(&text)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_milliseconds() {
        let ts = Timestamp::from_millis(1_709_285_400_250);
        let json = serde_json::to_string(&ts).unwrap();
        assert_eq!(json, "\"2024-03-01T09:30:00.250Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), ts);
    }

    #[test]
    fn offsets_are_folded_into_utc() {
        let ts = Timestamp::parse_rfc3339("2024-03-01T10:30:00+01:00").unwrap();
        assert_eq!(ts.to_string(), "2024-03-01T09:30:00.000Z");
    }
}
