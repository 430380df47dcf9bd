//! Scenario events to the bytes each source's system puts on a raw topic: the body of the
//! webhook it posts (or the API object a collector fetches where the webhook carries too
//! little), exactly as the adapters in `rapport-channels` read them. One file per family; the
//! [`SOURCES`] table says which function renders which source, and its share in the default mix.

mod chat;
mod email;
mod generic;
mod review;
mod support;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rapport_model::{Channel, Source, Timestamp};

use crate::scenario::{Agent, Conversation, Customer, Scenario, Step};

/// One record for a raw topic, with the headers the contract defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub channel: Channel,
    pub key: String,
    pub source: Source,
    pub tenant: String,
    pub received_at: Timestamp,
    pub payload: Vec<u8>,
    /// Deliberately broken, so the normalizer must dead-letter it.
    pub invalid: bool,
}

/// One event of the scenario, as a renderer sees it.
#[derive(Clone, Copy)]
pub(crate) struct Event<'a> {
    pub scenario: &'a Scenario,
    pub conversation: &'a Conversation,
    /// Index of the event in its conversation.
    pub n: usize,
    /// The company's mail domain: agents write from it, customers write to `support@` it.
    pub agent_domain: &'a str,
}

impl<'a> Event<'a> {
    pub fn customer(&self) -> &'a Customer {
        &self.scenario.customers[self.conversation.customer]
    }

    pub fn agent(&self, index: usize) -> &'a Agent {
        &self.scenario.agents[index]
    }

    pub fn step(&self) -> &'a Step {
        &self.conversation.events[self.n].step
    }

    pub fn at(&self) -> Timestamp {
        self.conversation.events[self.n].at
    }

    /// The conversation's first event: when it started.
    pub fn started(&self) -> Timestamp {
        self.conversation.events[0].at
    }

    /// The same conversation at an earlier event.
    pub fn earlier(&self, n: usize) -> Event<'a> {
        Event { n, ..*self }
    }

    /// A number unique to this event within the day, for ids sources give their own objects.
    pub fn serial(&self) -> u64 {
        self.conversation.id * 100 + self.n as u64
    }
}

/// A source's renderer: the payload its system sends for the event, or `None` when the system
/// never reports such an event (Yelp shows no owner replies, mail carries no bot messages).
pub(crate) type Renderer = fn(&Event<'_>) -> Option<Vec<u8>>;

/// One source the generator renders.
pub(crate) struct SourceEntry {
    pub source: Source,
    /// Share of conversations in the default mix (they add up to 100).
    pub weight: u32,
    pub render: Renderer,
}

/// Every source, its renderer and its share in the default mix: email about 35 %, chat 26 %,
/// support 22 %, reviews 9 %, and the rest `generic` (any channel).
pub(crate) const SOURCES: [SourceEntry; 12] = [
    SourceEntry {
        source: Source::Rfc822,
        weight: 12,
        render: email::rfc822,
    },
    SourceEntry {
        source: Source::Sendgrid,
        weight: 10,
        render: email::sendgrid,
    },
    SourceEntry {
        source: Source::Mailgun,
        weight: 7,
        render: email::mailgun,
    },
    SourceEntry {
        source: Source::Ses,
        weight: 6,
        render: email::ses,
    },
    SourceEntry {
        source: Source::Intercom,
        weight: 16,
        render: chat::intercom,
    },
    SourceEntry {
        source: Source::Chatwoot,
        weight: 10,
        render: chat::chatwoot,
    },
    SourceEntry {
        source: Source::Zendesk,
        weight: 13,
        render: support::zendesk,
    },
    SourceEntry {
        source: Source::Freshdesk,
        weight: 9,
        render: support::freshdesk,
    },
    SourceEntry {
        source: Source::Google,
        weight: 5,
        render: review::google,
    },
    SourceEntry {
        source: Source::Yelp,
        weight: 2,
        render: review::yelp,
    },
    SourceEntry {
        source: Source::Trustpilot,
        weight: 2,
        render: review::trustpilot,
    },
    SourceEntry {
        source: Source::Generic,
        weight: 8,
        render: generic::generic,
    },
];

fn renderer(source: Source) -> Renderer {
    SOURCES
        .iter()
        .find(|s| s.source == source)
        .map(|s| s.render)
        .expect("every source has a renderer")
}

pub(crate) struct RenderParams<'a> {
    pub tenant: &'a str,
    pub agent_domain: &'a str,
    pub invalid_rate: f64,
}

/// A record and the scenario event it renders (which the tests check it against).
#[derive(Debug)]
pub(crate) struct Rendered {
    #[cfg_attr(not(test), allow(dead_code))]
    pub conversation: usize,
    #[cfg_attr(not(test), allow(dead_code))]
    pub event: usize,
    pub record: RawRecord,
}

/// Every event of every conversation, in scenario order (not yet in receive order).
pub(crate) fn render(
    rng: &mut ChaCha8Rng,
    scenario: &Scenario,
    params: &RenderParams<'_>,
) -> Vec<Rendered> {
    let mut out = Vec::new();
    for (index, conversation) in scenario.conversations.iter().enumerate() {
        let render = renderer(conversation.source);
        for (n, event) in conversation.events.iter().enumerate() {
            let Some(mut payload) = render(&Event {
                scenario,
                conversation,
                n,
                agent_domain: params.agent_domain,
            }) else {
                continue;
            };
            let invalid = rng.random_bool(params.invalid_rate);
            if invalid {
                corrupt(rng, &mut payload);
            }
            out.push(Rendered {
                conversation: index,
                event: n,
                record: RawRecord {
                    channel: conversation.channel,
                    key: format!("{}-{}", conversation.channel, conversation.id),
                    source: conversation.source,
                    tenant: params.tenant.to_owned(),
                    received_at: Timestamp::from_millis(
                        event.at.as_millis() + rng.random_range(200..30_000),
                    ),
                    payload,
                    invalid,
                },
            });
        }
    }
    out
}

/// Breaks a payload the way real ones break: JSON cut off mid-way, or bytes that are not text at
/// all. (A cut-off mail or form post can still be readable, so those are always made binary.)
fn corrupt(rng: &mut ChaCha8Rng, payload: &mut Vec<u8>) {
    if payload.first() == Some(&b'{') && rng.random_bool(0.5) {
        payload.truncate(payload.len() / 3);
    } else {
        *payload = (0..64).map(|_| rng.random::<u8>() | 0x80).collect();
    }
}

/// `2024-06-03T10:15:00Z`: RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    at.to_datetime()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `2024-06-03T10:15:00.000Z`: RFC 3339 in UTC with milliseconds.
pub(crate) fn rfc3339_millis(at: Timestamp) -> String {
    at.to_string()
}

pub(crate) fn unix_seconds(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(1_000)
}

/// Text as HTML: escaped, in a paragraph.
pub(crate) fn html_paragraph(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 7);
    html.push_str("<p>");
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            c => html.push(c),
        }
    }
    html.push_str("</p>");
    html
}

/// A deterministic UUID for an object a source names by UUID (a notification, a webhook event).
pub(crate) fn uuid(parts: &[&str]) -> uuid::Uuid {
    rapport_model::namespaced_id(parts)
}

/// True for a status step that reopens the conversation (the others close it).
pub(crate) fn is_reopen(status: &str) -> bool {
    status == "open"
}

#[cfg(test)]
mod tests;
