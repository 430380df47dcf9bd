//! Which sources the traffic comes from, in what proportions: `--mix sendgrid=2,zendesk=1`.
//!
//! A weight is a share of conversations: each conversation draws its source from the mix, and
//! every event of it is rendered as that source's system posts it. A native source brings its
//! channel (SendGrid is email, Zendesk support, …). `generic` carries any channel: it draws one
//! from the day's channel shares (email 35, chat 30, support 25, review 10), among the channels
//! no native source of the mix covers, or among all four when the natives cover every channel.
//! So `classic` (`rfc822=35,generic=65`) is the traffic of the generator before native sources:
//! email as RFC 5322 mail, the other channels as `generic` JSON, in the same shares.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rapport_model::{Channel, Quote, Source};

use crate::TrafficError;
use crate::render::SOURCES;

/// How often each channel starts a conversation, in percent.
const CHANNEL_SHARES: [(Channel, u32); 4] = [
    (Channel::Email, 35),
    (Channel::Chat, 30),
    (Channel::Support, 25),
    (Channel::Review, 10),
];

/// Source weights; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Source, u32)>,
    /// The channels a `generic` conversation draws from, with their shares.
    generic_channels: Vec<(Channel, u32)>,
}

impl Mix {
    /// A mix of these weights; zero weights are dropped, and at least one must remain.
    pub fn new(weights: impl IntoIterator<Item = (Source, u32)>) -> Result<Self, TrafficError> {
        let mut kept: Vec<(Source, u32)> = Vec::new();
        for (source, weight) in weights {
            if kept.iter().any(|(s, _)| *s == source) {
                return Err(TrafficError::Mix(format!("{source} is given twice")));
            }
            if weight > 0 {
                kept.push((source, weight));
            }
        }
        if kept.is_empty() {
            return Err(TrafficError::Mix(
                "no source has a weight above 0".to_owned(),
            ));
        }
        if kept
            .iter()
            .try_fold(0u32, |sum, (_, w)| sum.checked_add(*w))
            .is_none()
        {
            return Err(TrafficError::Mix("the weights add up past 2^32".to_owned()));
        }
        let covered: Vec<Channel> = kept.iter().filter_map(|(s, _)| s.channel()).collect();
        let uncovered: Vec<(Channel, u32)> = CHANNEL_SHARES
            .into_iter()
            .filter(|(c, _)| !covered.contains(c))
            .collect();
        let generic_channels = if uncovered.is_empty() {
            CHANNEL_SHARES.to_vec()
        } else {
            uncovered
        };
        Ok(Self {
            weights: kept,
            generic_channels,
        })
    }

    /// A realistic mix of every source the generator renders (the default).
    pub fn native() -> Self {
        Self::new(SOURCES.iter().map(|s| (s.source, s.weight))).expect("the default mix is valid")
    }

    /// The generator's traffic before native sources: email as raw RFC 5322 mail, every other
    /// channel as `generic` JSON, in the day's channel shares.
    pub fn classic() -> Self {
        Self::new([(Source::Rfc822, 35), (Source::Generic, 65)]).expect("the classic mix is valid")
    }

    /// Every conversation from `source`.
    pub fn only(source: Source) -> Self {
        Self::new([(source, 1)]).expect("a weight of 1 is valid")
    }

    /// The sources and their weights, in the order given.
    pub fn weights(&self) -> &[(Source, u32)] {
        &self.weights
    }

    /// A conversation's source and channel.
    pub(crate) fn pick(&self, rng: &mut ChaCha8Rng) -> (Source, Channel) {
        let source = draw(rng, &self.weights);
        let channel = source
            .channel()
            .unwrap_or_else(|| draw(rng, &self.generic_channels));
        (source, channel)
    }
}

fn draw<T: Copy>(rng: &mut ChaCha8Rng, weights: &[(T, u32)]) -> T {
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut point = rng.random_range(0..total);
    for (item, weight) in weights {
        if point < *weight {
            return *item;
        }
        point -= weight;
    }
    unreachable!("the point is below the total")
}

impl Default for Mix {
    fn default() -> Self {
        Self::native()
    }
}

impl FromStr for Mix {
    type Err = TrafficError;

    /// `native`, `classic`, or `source=weight` pairs separated by commas.
    fn from_str(text: &str) -> Result<Self, TrafficError> {
        match text.trim() {
            "native" => return Ok(Self::native()),
            "classic" => return Ok(Self::classic()),
            _ => {}
        }
        let mut weights = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = pair.split_once('=').ok_or_else(|| {
                TrafficError::Mix(format!(
                    "\"{}\" is not source=weight",
                    Quote::with_limit(pair, 40)
                ))
            })?;
            let source = Source::parse(name.trim()).map_err(|_| {
                let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
                TrafficError::Mix(format!(
                    "unknown source \"{}\"; one of: {}",
                    Quote::with_limit(name.trim(), 40),
                    names.join(", ")
                ))
            })?;
            let weight = weight.trim().parse::<u32>().map_err(|_| {
                TrafficError::Mix(format!(
                    "the weight of {source} must be a whole number, not \"{}\"",
                    Quote::with_limit(weight.trim(), 40)
                ))
            })?;
            weights.push((source, weight));
        }
        Self::new(weights)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, (source, weight)) in self.weights.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{source}={weight}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_default_mix_has_every_source() {
        let mix = Mix::default();
        for source in Source::ALL {
            assert!(
                mix.weights().iter().any(|(s, w)| s == source && *w > 0),
                "{source} missing from the default mix"
            );
        }
        assert_eq!(mix.to_string().parse::<Mix>().unwrap(), mix);
    }

    #[test]
    fn mixes_parse_from_pairs_and_presets_and_refuse_nonsense() {
        let mix: Mix = " sendgrid=2, zendesk=1 ,yelp=0".parse().unwrap();
        assert_eq!(
            mix.weights(),
            [(Source::Sendgrid, 2), (Source::Zendesk, 1)],
            "zero weights are dropped"
        );
        assert_eq!("classic".parse::<Mix>().unwrap(), Mix::classic());
        for (bad, says) in [
            ("", "no source"),
            ("yelp=0", "no source"),
            ("fax=1", "unknown source"),
            ("sendgrid", "not source=weight"),
            ("sendgrid=-1", "whole number"),
            ("sendgrid=1,sendgrid=2", "twice"),
            ("sendgrid=4294967295,yelp=1", "past 2^32"),
        ] {
            let error = bad.parse::<Mix>().unwrap_err().to_string();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
        let long = format!("{}=1", "x".repeat(10_000));
        assert!(long.parse::<Mix>().unwrap_err().to_string().len() < 400);
    }

    #[test]
    fn generic_covers_the_channels_the_natives_leave_out() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let classic = Mix::classic();
        let channels: Vec<Channel> = (0..2_000).map(|_| classic.pick(&mut rng).1).collect();
        let share = |c: Channel| channels.iter().filter(|x| **x == c).count() as f64 / 2_000.0;
        assert!((0.30..0.40).contains(&share(Channel::Email)));
        assert!((0.25..0.35).contains(&share(Channel::Chat)));
        assert!((0.20..0.30).contains(&share(Channel::Support)));
        assert!((0.06..0.14).contains(&share(Channel::Review)));
        let generic_email = (0..500)
            .map(|_| classic.pick(&mut rng))
            .filter(|(s, c)| *s == Source::Generic && *c == Channel::Email)
            .count();
        assert_eq!(generic_email, 0, "rfc822 covers email");
        let alone = Mix::only(Source::Generic);
        let channels: std::collections::BTreeSet<Channel> =
            (0..500).map(|_| alone.pick(&mut rng).1).collect();
        assert_eq!(channels.len(), 4, "generic alone carries every channel");
    }
}
