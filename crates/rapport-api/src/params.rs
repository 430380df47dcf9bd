//! Query-string parameters: each endpoint names the ones it knows, and anything else, a repeated
//! parameter, or a value that does not parse is a 400 that says what was expected. An empty
//! value (`channel=`) counts as absent.

use std::time::Duration;

use rapport_model::{Channel, Timestamp};

use crate::cursor::Order;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(raw: Option<&str>, known: &[&str]) -> ApiResult<Self> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !known.contains(&name.as_ref()) {
                return Err(ApiError::bad_parameter(if known.is_empty() {
                    format!("unknown parameter {name:?}: this endpoint takes none")
                } else {
                    format!(
                        "unknown parameter {name:?}; this endpoint takes {}",
                        known.join(", ")
                    )
                }));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad_parameter(format!(
                    "parameter {name:?} is given more than once"
                )));
            }
            if !value.is_empty() {
                pairs.push((name.into_owned(), value.into_owned()));
            }
        }
        Ok(Self { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub fn limit(&self, default: u32, max: u32) -> ApiResult<u32> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_parameter(format!(
                    "limit must be a whole number from 1 to {max} (got {text:?})"
                ))),
            },
        }
    }

    /// An RFC 3339 time (`2024-06-03T09:00:00Z`) as epoch milliseconds.
    pub fn time(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name)
            .map(|text| {
                Timestamp::parse_rfc3339(text)
                    .map(Timestamp::as_millis)
                    .ok_or_else(|| {
                        ApiError::bad_parameter(format!(
                            "{name} must be an RFC 3339 time such as 2024-06-03T09:00:00Z (got {text:?})"
                        ))
                    })
            })
            .transpose()
    }

    /// `from` (inclusive) and `to` (exclusive); `from` must be before `to` when both are given.
    pub fn window(&self) -> ApiResult<(Option<i64>, Option<i64>)> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(ApiError::bad_parameter("from must be before to"));
        }
        Ok((from, to))
    }

    pub fn channel(&self) -> ApiResult<Option<String>> {
        self.get("channel")
            .map(|text| {
                Channel::parse(text)
                    .map(|c| c.as_str().to_owned())
                    .map_err(|_| {
                        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
                        ApiError::bad_parameter(format!(
                            "channel must be one of {} (got {text:?})",
                            names.join(", ")
                        ))
                    })
            })
            .transpose()
    }

    pub fn order(&self) -> ApiResult<Option<Order>> {
        self.get("order")
            .map(|text| {
                Order::parse(text).ok_or_else(|| {
                    ApiError::bad_parameter(format!("order must be asc or desc (got {text:?})"))
                })
            })
            .transpose()
    }

    /// A duration such as `90s`, `30m`, `2h`, `1day`, `2h 30m`.
    pub fn duration(&self, name: &str) -> ApiResult<Option<Duration>> {
        self.get(name)
            .map(|text| {
                humantime::parse_duration(text).map_err(|_| {
                    ApiError::bad_parameter(format!(
                        "{name} must be a duration such as 30m, 2h or 1day (got {text:?})"
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn params(raw: &str) -> ApiResult<Params> {
        Params::parse(
            Some(raw),
            &["limit", "from", "to", "channel", "order", "older_than"],
        )
    }

    fn refused(result: ApiResult<impl std::fmt::Debug>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::BadParameter);
        error.message
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert_eq!(params("").unwrap().limit(50, 500).unwrap(), 50);
        assert_eq!(params("limit=500").unwrap().limit(50, 500).unwrap(), 500);
        for bad in [
            "limit=0",
            "limit=501",
            "limit=10000",
            "limit=-1",
            "limit=ten",
        ] {
            assert!(refused(params(bad).unwrap().limit(50, 500)).contains("limit"));
        }
    }

    #[test]
    fn times_are_rfc3339_and_from_must_precede_to() {
        let p = params("to=2024-06-03T11:00:00%2B02:00").unwrap();
        assert_eq!(
            p.time("to").unwrap(),
            Some(1_717_405_200_000),
            "offsets fold into UTC"
        );
        let p = params("from=2024-06-03T09:00:00Z&to=2024-06-03T10:00:00Z").unwrap();
        assert_eq!(p.window().unwrap().1, Some(1_717_408_800_000));
        assert!(refused(params("from=yesterday").unwrap().window()).contains("RFC 3339"));
        assert!(
            refused(
                params("from=2024-06-03T10:00:00Z&to=2024-06-03T09:00:00Z")
                    .unwrap()
                    .window()
            )
            .contains("before")
        );
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(refused(params("limt=5")).contains("limit"));
        assert!(refused(params("limit=5&limit=6")).contains("more than once"));
        let p = params("channel=&limit=").unwrap();
        assert_eq!(p.channel().unwrap(), None);
        assert_eq!(p.limit(50, 500).unwrap(), 50);
    }

    #[test]
    fn channels_orders_and_durations_are_checked() {
        assert_eq!(
            params("channel=chat")
                .unwrap()
                .channel()
                .unwrap()
                .as_deref(),
            Some("chat")
        );
        assert!(refused(params("channel=fax").unwrap().channel()).contains("email"));
        assert_eq!(
            params("order=asc").unwrap().order().unwrap(),
            Some(Order::Asc)
        );
        assert!(refused(params("order=up").unwrap().order()).contains("asc"));
        assert_eq!(
            params("older_than=2h")
                .unwrap()
                .duration("older_than")
                .unwrap(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            params("older_than=1h%2030m")
                .unwrap()
                .duration("older_than")
                .unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert!(refused(params("older_than=soon").unwrap().duration("older_than")).contains("2h"));
    }
}
