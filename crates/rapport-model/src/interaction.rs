use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Identity, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
}

/// A closed set of names that travels as a plain string in JSON and Avro, so that adding a
/// value later never breaks an old reader's schema (Avro enums would).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $label:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<Self, ParseEnumError> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(ParseEnumError { kind: $label, value: text.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// The family of channel an interaction happened on.
    Channel, "channel" {
        Email => "email",
        Chat => "chat",
        Review => "review",
        Support => "support",
    }
);

string_enum!(
    /// The system that emitted the native payload; each has one adapter.
    Source, "source" {
        Rfc822 => "rfc822",
        Sendgrid => "sendgrid",
        Mailgun => "mailgun",
        Ses => "ses",
        Intercom => "intercom",
        Chatwoot => "chatwoot",
        Google => "google",
        Yelp => "yelp",
        Trustpilot => "trustpilot",
        Zendesk => "zendesk",
        Freshdesk => "freshdesk",
        /// The documented Rapport JSON shape, for any system without an adapter.
        Generic => "generic",
    }
);

impl Source {
    /// The channel a source always belongs to; `None` for `generic`, whose payload names it.
    pub fn channel(self) -> Option<Channel> {
        match self {
            Self::Rfc822 | Self::Sendgrid | Self::Mailgun | Self::Ses => Some(Channel::Email),
            Self::Intercom | Self::Chatwoot => Some(Channel::Chat),
            Self::Google | Self::Yelp | Self::Trustpilot => Some(Channel::Review),
            Self::Zendesk | Self::Freshdesk => Some(Channel::Support),
            Self::Generic => None,
        }
    }
}

string_enum!(
    /// What happened.
    InteractionKind, "kind" {
        /// A message between customer and company (email, chat message, public ticket comment).
        Message => "message",
        /// An internal note the customer never sees.
        Note => "note",
        /// A conversation or ticket changed status (opened, solved, closed, reopened).
        StatusChange => "status_change",
        /// A customer's review of the business.
        Review => "review",
        /// The business's public reply to a review.
        ReviewReply => "review_reply",
        /// A conversation or ticket was assigned to an agent or team.
        Assignment => "assignment",
    }
);

string_enum!(
    /// Who the interaction is addressed to, seen from the company.
    Direction, "direction" {
        /// Written by the customer to the company.
        Inbound => "inbound",
        /// Written by the company to the customer.
        Outbound => "outbound",
        /// Notes and system events the customer never sees.
        Internal => "internal",
    }
);

string_enum!(
    /// Who acted.
    ActorRole, "actor role" {
        Customer => "customer",
        Agent => "agent",
        Bot => "bot",
        System => "system",
    }
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub role: ActorRole,
    /// The actor's id at the source (agent id, contact id, email address), if any.
    pub id: Option<String>,
    pub name: Option<String>,
}

/// Where a normalized interaction came from when it was read from Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRef {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// An email's threading headers (RFC 5322 `Message-ID`, `In-Reply-To`, `References`), ids
/// without angle brackets: what the store threads emails by, whatever order they arrive in
/// (`docs/CONTRACT.md`, "Threading").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threading {
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
}

/// One thing that happened between the company and a customer, on any channel.
///
/// Field by field documentation, with the JSON and Avro forms and the compatibility rules, is in
/// `docs/CONTRACT.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub event_id: Uuid,
    pub tenant_id: String,
    pub channel: Channel,
    pub source: Source,
    pub source_event_id: String,
    pub kind: InteractionKind,
    pub direction: Direction,
    pub actor: Actor,
    /// Every identifier of the customer the payload reveals; never the agent's.
    pub identities: Vec<Identity>,
    pub conversation_id: String,
    pub occurred_at: Timestamp,
    pub received_at: Timestamp,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub rating: Option<u8>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub language: Option<String>,
    /// The team or group handling the conversation at the source, for per-team metrics.
    pub team: Option<String>,
    /// Sent by automation on a person's behalf (auto-responder, vacation reply); such messages
    /// never stop a response-time clock.
    pub auto_reply: bool,
    pub attachment_count: u32,
    pub attachment_names: Vec<String>,
    pub raw_ref: Option<RawRef>,
    /// An email's threading headers, when the source gives its `Message-ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threading: Option<Threading>,
}

/// The longest value, in bytes, of a field that keys an interaction in the store and its
/// queries: tenant, conversation, source event id, actor id, identity value, and the
/// Message-IDs of its threading. Real ids are far
/// shorter (an email address is at most 254 bytes, a Message-ID 998); the bound keeps one
/// hostile value from making every query that names it too large for the store to parse (ids go
/// into `IN (…)` lists) and from pinning the linker's and the writer's memory.
pub const MAX_KEY_BYTES: usize = 1024;

impl Interaction {
    /// The first key field (see [`MAX_KEY_BYTES`]) longer than the bound, with its length.
    pub fn oversized_key(&self) -> Option<(&'static str, usize)> {
        let fields = [
            ("tenant_id", self.tenant_id.len()),
            ("conversation_id", self.conversation_id.len()),
            ("source_event_id", self.source_event_id.len()),
            ("actor.id", self.actor.id.as_ref().map_or(0, String::len)),
        ];
        // Message-IDs key the writer's thread tables and their reads like the others.
        let threading = self.threading.iter().flat_map(|t| {
            std::iter::once(("threading.message_id", t.message_id.len()))
                .chain(
                    t.in_reply_to
                        .iter()
                        .map(|id| ("threading.in_reply_to", id.len())),
                )
                .chain(
                    t.references
                        .iter()
                        .map(|id| ("threading.references", id.len())),
                )
        });
        fields
            .into_iter()
            .chain(
                self.identities
                    .iter()
                    .map(|i| ("identities", i.value.len())),
            )
            .chain(threading)
            .find(|(_, len)| *len > MAX_KEY_BYTES)
    }

    /// True when this interaction stops a response-time clock: a public reply from a person
    /// at the company (see `DOMAIN.md`: bots, auto-replies and internal notes do not count).
    pub fn is_human_reply(&self) -> bool {
        self.direction == Direction::Outbound
            && self.actor.role == ActorRole::Agent
            && !self.auto_reply
            && matches!(
                self.kind,
                InteractionKind::Message | InteractionKind::ReviewReply
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::tests::sample;

    #[test]
    fn the_first_key_over_the_bound_is_named() {
        let mut i = sample();
        assert_eq!(i.oversized_key(), None);
        i.identities[0].value = "x".repeat(MAX_KEY_BYTES);
        assert_eq!(i.oversized_key(), None, "the bound itself is allowed");
        i.identities[0].value.push('x');
        assert_eq!(i.oversized_key(), Some(("identities", MAX_KEY_BYTES + 1)));
        i.conversation_id = "c".repeat(2 * MAX_KEY_BYTES);
        assert_eq!(
            i.oversized_key(),
            Some(("conversation_id", 2 * MAX_KEY_BYTES))
        );
        i.conversation_id = "c".into();
        i.identities[0].value = "x".into();
        i.threading = Some(Threading {
            message_id: "m@x".into(),
            in_reply_to: vec![],
            references: vec!["r@x".into(), "r".repeat(MAX_KEY_BYTES + 2)],
        });
        assert_eq!(
            i.oversized_key(),
            Some(("threading.references", MAX_KEY_BYTES + 2))
        );
    }

    #[test]
    fn every_non_generic_source_has_a_channel() {
        for source in Source::ALL {
            assert_eq!(
                source.channel().is_none(),
                *source == Source::Generic,
                "{source}"
            );
        }
    }

    #[test]
    fn enum_names_round_trip_through_json() {
        for kind in InteractionKind::ALL {
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(
                serde_json::from_str::<InteractionKind>(&json).unwrap(),
                *kind
            );
        }
        assert!(serde_json::from_str::<Channel>("\"fax\"").is_err());
    }
}
