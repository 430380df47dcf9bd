//! What each event is for the metrics (`docs/ANALYTICS.md`, "Metric definitions"), from the stored
//! strings, exactly as the `timeline` view classifies them.

/// The role an event plays in response times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Inbound, from the customer, a message or a review, not an auto-reply: starts (or joins) a
    /// run that waits for a human reply.
    CustomerMessage,
    /// Outbound, from an agent, a message or a review reply, not an auto-reply: stops the clock.
    HumanReply,
    /// Anything else (bots, auto-replies, notes, status changes): stops no clock, ends no run.
    Other,
}

impl Class {
    /// The order key after the time: a question and its answer in the same millisecond are read
    /// as question, then answer (`event_rank`).
    pub fn rank(self) -> u8 {
        match self {
            Self::CustomerMessage => 0,
            Self::HumanReply => 1,
            Self::Other => 2,
        }
    }
}

/// What a status change does to resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// Not a status change, or an `edited` one (a review edited).
    None,
    /// To `solved`, `closed` or `resolved`.
    Resolution,
    /// To any other status: a reopen when the conversation was resolved.
    Other,
}

/// The classification the store's strings give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKind {
    pub class: Class,
    pub status: StatusClass,
}

impl EventKind {
    pub fn classify(
        kind: &str,
        direction: &str,
        actor_role: &str,
        auto_reply: bool,
        status: Option<&str>,
    ) -> Self {
        let class = if direction == "inbound"
            && actor_role == "customer"
            && matches!(kind, "message" | "review")
            && !auto_reply
        {
            Class::CustomerMessage
        } else if direction == "outbound"
            && actor_role == "agent"
            && !auto_reply
            && matches!(kind, "message" | "review_reply")
        {
            Class::HumanReply
        } else {
            Class::Other
        };
        let status = match status {
            _ if kind != "status_change" => StatusClass::None,
            None | Some("edited") => StatusClass::None,
            Some("solved" | "closed" | "resolved") => StatusClass::Resolution,
            Some(_) => StatusClass::Other,
        };
        Self { class, status }
    }
}
