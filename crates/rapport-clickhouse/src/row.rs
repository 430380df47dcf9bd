use rapport_model::{Interaction, Timestamp};
use serde::Serialize;

/// The log the writer appends to (migration 9; `interactions` before it).
pub const INTERACTIONS_TABLE: &str = "interaction_log";

/// Every column the writer fills, with its exact ClickHouse type: the start-up check compares
/// this with `system.columns`, since plain `RowBinary` would otherwise write shifted bytes into
/// a table that changed under it.
pub const INTERACTION_COLUMNS: &[(&str, &str)] = &[
    ("event_id", "String"),
    ("tenant_id", "String"),
    ("channel", "String"),
    ("source", "String"),
    ("source_event_id", "String"),
    ("kind", "String"),
    ("direction", "String"),
    ("actor_role", "String"),
    ("actor_id", "Nullable(String)"),
    ("actor_name", "Nullable(String)"),
    ("identity_types", "Array(String)"),
    ("identity_values", "Array(String)"),
    ("conversation_id", "String"),
    ("occurred_at_ms", "Int64"),
    ("received_at_ms", "Int64"),
    ("occurred_date", "Date"),
    ("subject", "Nullable(String)"),
    ("text", "Nullable(String)"),
    ("rating", "Nullable(UInt8)"),
    ("status", "Nullable(String)"),
    ("tags", "Array(String)"),
    ("language", "Nullable(String)"),
    ("team", "Nullable(String)"),
    ("auto_reply", "UInt8"),
    ("attachment_count", "UInt32"),
    ("attachment_names", "Array(String)"),
    ("raw_topic", "Nullable(String)"),
    ("raw_partition", "Nullable(Int32)"),
    ("raw_offset", "Nullable(Int64)"),
    ("written_at_ms", "Int64"),
];

/// One row of `interactions`: the contract flattened, identities as parallel arrays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, clickhouse::Row)]
pub struct InteractionRow {
    pub event_id: String,
    pub tenant_id: String,
    pub channel: String,
    pub source: String,
    pub source_event_id: String,
    pub kind: String,
    pub direction: String,
    pub actor_role: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub identity_types: Vec<String>,
    pub identity_values: Vec<String>,
    pub conversation_id: String,
    pub occurred_at_ms: i64,
    pub received_at_ms: i64,
    /// Days since 1970-01-01 (UTC), ClickHouse's `Date` on the wire; the table's partition key.
    pub occurred_date: u16,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub rating: Option<u8>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub language: Option<String>,
    pub team: Option<String>,
    pub auto_reply: u8,
    pub attachment_count: u32,
    pub attachment_names: Vec<String>,
    pub raw_topic: Option<String>,
    pub raw_partition: Option<i32>,
    pub raw_offset: Option<i64>,
    /// ReplacingMergeTree's version: of several copies of one event, the latest written wins.
    pub written_at_ms: i64,
}

const MS_PER_DAY: i64 = 86_400_000;

impl InteractionRow {
    pub fn new(i: Interaction, written_at: Timestamp) -> Self {
        let occurred_at_ms = i.occurred_at.as_millis();
        let (raw_topic, raw_partition, raw_offset) = match i.raw_ref {
            Some(r) => (Some(r.topic), Some(r.partition), Some(r.offset)),
            None => (None, None, None),
        };
        let (identity_types, identity_values) = i
            .identities
            .into_iter()
            .map(|id| (id.kind.as_str().to_owned(), id.value))
            .unzip();
        Self {
            event_id: i.event_id.to_string(),
            tenant_id: i.tenant_id,
            channel: i.channel.as_str().to_owned(),
            source: i.source.as_str().to_owned(),
            source_event_id: i.source_event_id,
            kind: i.kind.as_str().to_owned(),
            direction: i.direction.as_str().to_owned(),
            actor_role: i.actor.role.as_str().to_owned(),
            actor_id: i.actor.id,
            actor_name: i.actor.name,
            identity_types,
            identity_values,
            conversation_id: i.conversation_id,
            occurred_at_ms,
            received_at_ms: i.received_at.as_millis(),
            occurred_date: date_of(occurred_at_ms),
            subject: i.subject,
            text: i.text,
            rating: i.rating,
            status: i.status,
            tags: i.tags,
            language: i.language,
            team: i.team,
            auto_reply: u8::from(i.auto_reply),
            attachment_count: i.attachment_count,
            attachment_names: i.attachment_names,
            raw_topic,
            raw_partition,
            raw_offset,
            written_at_ms: written_at.as_millis(),
        }
    }

    /// Roughly the bytes this row occupies on the wire, for batch size limits.
    pub fn approximate_size(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(1, |s| s.len() + 2);
        let vec = |v: &[String]| v.iter().map(|s| s.len() + 1).sum::<usize>() + 1;
        120 + self.event_id.len()
            + self.tenant_id.len()
            + self.source_event_id.len()
            + self.conversation_id.len()
            + opt(&self.actor_id)
            + opt(&self.actor_name)
            + opt(&self.subject)
            + opt(&self.text)
            + opt(&self.status)
            + opt(&self.language)
            + opt(&self.team)
            + opt(&self.raw_topic)
            + vec(&self.identity_types)
            + vec(&self.identity_values)
            + vec(&self.tags)
            + vec(&self.attachment_names)
    }
}

/// ClickHouse's `Date` ends in 2149 and starts in 1970; times outside clamp to its ends rather
/// than wrapping into a wrong partition.
pub(crate) fn date_of(ms: i64) -> u16 {
    ms.div_euclid(MS_PER_DAY).clamp(0, i64::from(u16::MAX)) as u16
}

#[cfg(test)]
mod tests {
    use clickhouse::Row;

    use super::*;

    #[test]
    fn column_list_matches_the_row_struct_in_order() {
        let names: Vec<&str> = INTERACTION_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, InteractionRow::COLUMN_NAMES);
    }

    #[test]
    fn dates_are_utc_days_and_clamp_at_the_type_ends() {
        assert_eq!(date_of(0), 0);
        assert_eq!(date_of(MS_PER_DAY - 1), 0);
        assert_eq!(date_of(19_876 * MS_PER_DAY + 5), 19_876);
        assert_eq!(date_of(-1), 0);
        assert_eq!(date_of(i64::MAX), u16::MAX);
    }
}
