-- The interaction log: one row per normalized interaction, every contract field.
--
-- Replays and redeliveries insert the same event_id again; ReplacingMergeTree collapses rows with
-- the same sort key in background merges, and the views read through FINAL so a query never sees
-- a duplicate. The sort key holds only fields that are a pure function of the source payload
-- (tenant, conversation, event id), so every copy of an event lands on the same key.
-- Times are epoch milliseconds in Int64: DateTime64 does not exist on ClickHouse 18.16.
CREATE TABLE IF NOT EXISTS interactions
(
    event_id String,
    tenant_id String,
    channel String,
    source String,
    source_event_id String,
    kind String,
    direction String,
    actor_role String,
    actor_id Nullable(String),
    actor_name Nullable(String),
    identity_types Array(String),
    identity_values Array(String),
    conversation_id String,
    occurred_at_ms Int64,
    received_at_ms Int64,
    occurred_date Date,
    subject Nullable(String),
    text Nullable(String),
    rating Nullable(UInt8),
    status Nullable(String),
    tags Array(String),
    language Nullable(String),
    team Nullable(String),
    auto_reply UInt8,
    attachment_count UInt32,
    attachment_names Array(String),
    raw_topic Nullable(String),
    raw_partition Nullable(Int32),
    raw_offset Nullable(Int64),
    written_at_ms Int64
)
ENGINE = ReplacingMergeTree(written_at_ms)
PARTITION BY toYYYYMM(occurred_date)
ORDER BY (tenant_id, conversation_id, event_id);

-- Which conversations each identifier appears in: the index behind "everything with this customer".
CREATE TABLE IF NOT EXISTS interaction_identities
(
    tenant_id String,
    identity String,
    identity_type String,
    identity_value String,
    conversation_id String,
    event_id String,
    channel String,
    occurred_at_ms Int64
)
ENGINE = ReplacingMergeTree
PARTITION BY tuple()
ORDER BY (tenant_id, identity, conversation_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS interaction_identities_mv TO interaction_identities AS
SELECT
    tenant_id,
    concat(identity_type, ':', identity_value) AS identity,
    identity_type,
    identity_value,
    conversation_id,
    event_id,
    channel,
    occurred_at_ms
FROM interactions
ARRAY JOIN identity_types AS identity_type, identity_values AS identity_value;
