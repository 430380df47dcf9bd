//! Helpers every adapter shares, so that limits, error codes and text handling are the same for
//! every source.

pub mod identifiers;
pub mod json;
pub mod phone;
pub mod scalar;
pub mod text;

use rapport_model::{
    Actor, ActorRole, Channel, Direction, Interaction, InteractionKind, Source, Timestamp, event_id,
};

use crate::Context;

/// The facts every interaction must have; everything else starts empty and adapters fill it in.
#[derive(Debug, Clone)]
pub struct Core<'a> {
    pub source: Source,
    pub channel: Channel,
    pub source_event_id: &'a str,
    pub kind: InteractionKind,
    pub direction: Direction,
    pub actor: Actor,
    pub conversation_id: String,
    pub occurred_at: Timestamp,
}

/// Builds an interaction with its deterministic event id, the context's tenant, receive time and
/// raw reference.
pub fn interaction(ctx: &Context<'_>, core: Core<'_>) -> Interaction {
    Interaction {
        event_id: event_id(ctx.tenant_id, core.source, core.source_event_id),
        tenant_id: ctx.tenant_id.to_owned(),
        channel: core.channel,
        source: core.source,
        source_event_id: core.source_event_id.to_owned(),
        kind: core.kind,
        direction: core.direction,
        actor: core.actor,
        identities: Vec::new(),
        conversation_id: core.conversation_id,
        occurred_at: core.occurred_at,
        received_at: ctx.received_at,
        subject: None,
        text: None,
        rating: None,
        status: None,
        tags: Vec::new(),
        language: None,
        team: None,
        auto_reply: false,
        attachment_count: 0,
        attachment_names: Vec::new(),
        raw_ref: ctx.raw_ref.clone(),
        threading: None,
    }
}

pub fn actor(role: ActorRole, id: Option<String>, name: Option<String>) -> Actor {
    Actor {
        role,
        id: text::non_empty(id),
        name: text::non_empty(name),
    }
}

/// `source:local-id`, so conversation ids from different systems never collide in one store.
pub fn conversation_id(source: Source, id: impl std::fmt::Display) -> String {
    format!("{}:{id}", source.as_str())
}

/// Parses an RFC 3339 timestamp field, naming the field when it is not one.
pub fn rfc3339(field: &str, text: &str) -> Result<Timestamp, crate::AdapterError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| {
        crate::AdapterError::invalid(field, format!("not an RFC 3339 time: {text:?}"))
    })
}
