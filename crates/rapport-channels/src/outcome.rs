//! What one payload gives: interactions, the list items it could not read, or why it gave nothing.
//!
//! Nothing a source sends may disappear without a trace. A payload either gives interactions, or
//! is rejected whole (an [`AdapterError`]), or gives nothing for a stated reason ([`Skip`]): a
//! reason its adapter documents as intentionally skipped (a ping, a typing indicator, an SNS
//! subscription confirmation) is counted and dropped; any other reason (a notification type the
//! adapter does not know) is dead-lettered as `ignored:<reason>` by the normalizer. A list payload
//! (a page of reviews, a batch of events) gives every item it can read, and each item it cannot
//! read is a [`RejectedItem`] of its own, with its index and the item alone as a payload of the
//! same source, so one bad item never takes its valid neighbours to the dead-letter topic.

use rapport_model::{ActorRole, Direction, Interaction, Source};

use crate::AdapterError;

/// Why a payload gave no interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    /// A closed set per adapter (safe as a metric label): `ping`, `typing`, `sns_subscription`,
    /// `ses_notification_type`, ….
    pub reason: &'static str,
    /// The adapter's documentation lists this payload type as intentionally skipped: counted,
    /// never dead-lettered.
    pub documented: bool,
}

impl Skip {
    /// A payload type the adapter's module documentation lists as carrying no interaction.
    pub const fn documented(reason: &'static str) -> Self {
        Self {
            reason,
            documented: true,
        }
    }

    /// A payload the adapter reads but has no use for, and whose type it does not document:
    /// dead-lettered as `ignored:<reason>`, so an operator sees what is arriving.
    pub const fn ignored(reason: &'static str) -> Self {
        Self {
            reason,
            documented: false,
        }
    }

    /// The dead-letter code of an undocumented skip.
    pub fn code(&self) -> String {
        format!("ignored:{}", self.reason)
    }
}

/// One item of a list payload that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedItem {
    /// The item's position in the list, from 0.
    pub index: usize,
    pub error: AdapterError,
    /// The item alone, as a payload of the same source (a review resource, a one-event batch):
    /// what the dead letter carries, so a fixed item can be replayed on its own.
    pub payload: Vec<u8>,
}

/// Everything one payload gave. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The adapter that read the payload (set by [`crate::read`]; for metric labels when the
    /// source was detected).
    pub source: Option<Source>,
    pub interactions: Vec<Interaction>,
    /// Items of a list payload that could not be read, in list order.
    pub rejected: Vec<RejectedItem>,
    /// Set exactly when there are neither interactions nor rejected items.
    pub skipped: Option<Skip>,
}

impl From<Vec<Interaction>> for Outcome {
    fn from(interactions: Vec<Interaction>) -> Self {
        Self {
            interactions,
            ..Self::default()
        }
    }
}

impl Outcome {
    /// Nothing, for a stated reason.
    pub fn skipped(skip: Skip) -> Self {
        Self {
            skipped: Some(skip),
            ..Self::default()
        }
    }

    /// Interactions, or `skip` when there are none.
    pub fn or_skip(interactions: Vec<Interaction>, skip: Skip) -> Self {
        let skipped = interactions.is_empty().then_some(skip);
        Self {
            interactions,
            skipped,
            ..Self::default()
        }
    }

    /// Adds what item `index` of a list gave: its interactions, or the item rejected alone
    /// (`payload` renders it as a standalone payload, only when needed).
    pub fn item(
        &mut self,
        index: usize,
        read: Result<Vec<Interaction>, AdapterError>,
        payload: impl FnOnce() -> Vec<u8>,
    ) {
        match read {
            Ok(interactions) => self.interactions.extend(interactions),
            Err(error) => self.rejected.push(RejectedItem {
                index,
                error,
                payload: payload(),
            }),
        }
    }

    /// The rules every adapter's outcome ends with: company-side automation is a bot (an
    /// outbound or internal interaction marked `auto_reply` never has the role `agent`), and an
    /// outcome with nothing in it always says why (`ignored:no_interaction` when the adapter did
    /// not: a path nobody documented must not drop a record silently).
    pub fn settle(mut self) -> Self {
        for i in &mut self.interactions {
            if i.auto_reply && i.direction != Direction::Inbound && i.actor.role == ActorRole::Agent
            {
                i.actor.role = ActorRole::Bot;
            }
        }
        if self.interactions.is_empty() && self.rejected.is_empty() {
            self.skipped = Some(self.skipped.unwrap_or(Skip::ignored("no_interaction")));
        } else {
            self.skipped = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use rapport_model::{Actor, Channel, InteractionKind, Source, Timestamp, event_id};

    use super::*;

    fn interaction(direction: Direction, role: ActorRole, auto_reply: bool) -> Interaction {
        Interaction {
            event_id: event_id("t", Source::Generic, "1"),
            tenant_id: "t".into(),
            channel: Channel::Email,
            source: Source::Generic,
            source_event_id: "1".into(),
            kind: InteractionKind::Message,
            direction,
            actor: Actor {
                role,
                id: None,
                name: None,
            },
            identities: vec![],
            conversation_id: "generic:1".into(),
            occurred_at: Timestamp::from_millis(0),
            received_at: Timestamp::from_millis(0),
            subject: None,
            text: None,
            rating: None,
            status: None,
            tags: vec![],
            language: None,
            team: None,
            auto_reply,
            attachment_count: 0,
            attachment_names: vec![],
            raw_ref: None,
            threading: None,
        }
    }

    #[test]
    fn company_side_automation_is_a_bot_but_a_customers_auto_reply_stays_the_customers() {
        let settled = Outcome::from(vec![
            interaction(Direction::Outbound, ActorRole::Agent, true),
            interaction(Direction::Outbound, ActorRole::Agent, false),
            interaction(Direction::Inbound, ActorRole::Customer, true),
        ])
        .settle();
        let roles: Vec<ActorRole> = settled.interactions.iter().map(|i| i.actor.role).collect();
        assert_eq!(
            roles,
            [ActorRole::Bot, ActorRole::Agent, ActorRole::Customer]
        );
        assert!(!settled.interactions[0].is_human_reply());
    }

    #[test]
    fn an_empty_outcome_always_says_why() {
        assert_eq!(
            Outcome::default().settle().skipped,
            Some(Skip::ignored("no_interaction"))
        );
        assert_eq!(
            Outcome::skipped(Skip::documented("ping")).settle().skipped,
            Some(Skip::documented("ping"))
        );
        let mut with_rejected = Outcome::skipped(Skip::documented("empty_list"));
        with_rejected.item(3, Err(AdapterError::missing("createTime")), Vec::new);
        let settled = with_rejected.settle();
        assert_eq!(settled.skipped, None);
        assert_eq!(settled.rejected[0].index, 3);
        assert_eq!(Skip::ignored("x").code(), "ignored:x");
    }
}
