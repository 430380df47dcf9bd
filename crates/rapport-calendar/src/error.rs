use std::fmt;

/// Longest slice of a configured value quoted back in a problem.
const QUOTE_LIMIT: usize = 40;

/// One thing wrong with a configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the offending field, relative to `[business_hours]`
    /// (`calendars.support.versions[1].week.mon[0]`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration was rejected; every problem found is listed.
    #[error("invalid business hours ({} problems): {}", problems.len(), join(problems))]
    Invalid {
        /// Each problem with the field it concerns, in the order found.
        problems: Vec<Problem>,
    },
}

impl Error {
    /// Configuration problems do not go away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// The problems, for tests and for callers that report them one by one.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems } => problems,
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects problems while a configuration is checked, so that all of them are reported at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_result<T>(self, value: T) -> Result<T, Error> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(Error::Invalid { problems: self.0 })
        }
    }

    pub(crate) fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    /// Re-roots every problem under `prefix` (`calendars.support.` + `versions[0].zone`).
    pub(crate) fn prefixed(self, prefix: &str) -> Problems {
        Problems(
            self.0
                .into_iter()
                .map(|p| Problem {
                    field: format!("{prefix}{}", p.field),
                    message: p.message,
                })
                .collect(),
        )
    }
}

/// A configured value quoted for a message: at most [`QUOTE_LIMIT`] characters, then `…`.
pub(crate) fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTE_LIMIT).collect();
    if chars.next().is_some() {
        format!("{:?}…", head)
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_bounded() {
        let long = "x".repeat(10_000);
        let quoted = quote(&long);
        assert!(quoted.len() < 50, "{quoted}");
        assert!(quoted.ends_with('…'));
        assert_eq!(quote("Europe/Berln"), "\"Europe/Berln\"");
    }
}
