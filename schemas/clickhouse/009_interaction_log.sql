-- The interaction log in one partition: `interaction_log` replaces `interactions`.
--
-- `interactions` is partitioned by month of `occurred_date`. Every read of the log is by key
-- prefix (tenant, conversation), and a conversation or a customer's history spans months, so a
-- read opened every part of every month it touched: on five years of history about 240 parts,
-- ten times the cost of the same read in one partition (docs/BENCHMARKS.md), and a writer batch of
-- late or replayed events made one part per month it touched. Nothing reads the log by month
-- alone: reports read the stored state (`replies`, `resolutions`), which keep their months.
--
-- ClickHouse cannot change a table's partition key, so the log moves to a new table:
-- 1. `interaction_log`, the same columns, sort key and engine, one partition.
-- 2. `interactions_forward` copies every later insert into `interactions` to it: writers of the
--    previous release keep writing `interactions` until they are replaced, and lose nothing.
-- 3. Its identifiers index, like `interactions`' (`interaction_identities_mv` stays, for those
--    same writers; a row indexed twice collapses on the index's sort key).
-- 4. The history so far is copied. Runners that start together may each copy it: the copies
--    collapse on the sort key like any redelivery (reads use FINAL or keep the latest version).
-- 5. The views that read `interactions` read `interaction_log`.
-- `interactions` then holds the history before the upgrade and is read by nothing; once no
-- service of the previous release runs, `DROP TABLE interactions_forward` and then
-- `DROP TABLE interactions` free its space (docs/DEPLOY.md). `rapport forget` erases from both.
CREATE TABLE IF NOT EXISTS interaction_log
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
PARTITION BY tuple()
ORDER BY (tenant_id, conversation_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS interactions_forward TO interaction_log AS
SELECT * FROM interactions;

CREATE MATERIALIZED VIEW IF NOT EXISTS interaction_log_identities_mv TO interaction_identities AS
SELECT
    tenant_id,
    concat(identity_type, ':', identity_value) AS identity,
    identity_type,
    identity_value,
    conversation_id,
    event_id,
    channel,
    occurred_at_ms
FROM interaction_log
ARRAY JOIN identity_types AS identity_type, identity_values AS identity_value;;

INSERT INTO interaction_log SELECT * FROM interactions;

DROP TABLE IF EXISTS timeline;

CREATE VIEW IF NOT EXISTS timeline AS
SELECT
    event_id,
    tenant_id,
    channel,
    source,
    source_event_id,
    kind,
    direction,
    actor_role,
    actor_id,
    actor_name,
    identity_types,
    identity_values,
    if(thread_id = '', stored_conversation_id, thread_id) AS conversation_id,
    stored_conversation_id,
    occurred_at_ms,
    received_at_ms,
    occurred_date,
    subject,
    text,
    rating,
    status,
    tags,
    language,
    team,
    auto_reply,
    attachment_count,
    attachment_names,
    raw_topic,
    raw_partition,
    raw_offset,
    toDateTime(intDiv(occurred_at_ms, 1000), 'UTC') AS occurred_at,
    arrayMap((t, v) -> concat(t, ':', v), identity_types, identity_values) AS identities,
    toUInt8(direction = 'inbound' AND actor_role = 'customer' AND kind IN ('message', 'review') AND auto_reply = 0) AS is_customer_message,
    toUInt8(direction = 'outbound' AND actor_role = 'agent' AND auto_reply = 0 AND kind IN ('message', 'review_reply')) AS is_human_reply,
    toUInt8(kind = 'status_change' AND ifNull(status, '') IN ('solved', 'closed', 'resolved')) AS is_resolution,
    toUInt8(multiIf(is_customer_message = 1, 0, is_human_reply = 1, 1, 2)) AS event_rank
FROM
(
    SELECT
        event_id,
        tenant_id,
        channel,
        source,
        source_event_id,
        kind,
        direction,
        actor_role,
        actor_id,
        actor_name,
        identity_types,
        identity_values,
        conversation_id AS stored_conversation_id,
        occurred_at_ms,
        received_at_ms,
        occurred_date,
        subject,
        text,
        rating,
        status,
        tags,
        language,
        team,
        auto_reply,
        attachment_count,
        attachment_names,
        raw_topic,
        raw_partition,
        raw_offset
    FROM interaction_log FINAL
) AS events
ANY LEFT JOIN
(
    SELECT tenant_id, conversation_id AS stored_conversation_id, thread_id
    FROM email_threads FINAL
) AS threads USING (tenant_id, stored_conversation_id);;

DROP TABLE IF EXISTS interaction_customers;

CREATE VIEW IF NOT EXISTS interaction_customers AS
SELECT
    tenant_id,
    event_id,
    conversation_id,
    channel,
    occurred_at_ms,
    primary_identity,
    customer_id
FROM
(
    SELECT
        tenant_id,
        event_id,
        conversation_id,
        channel,
        occurred_at_ms,
        if(own_primary != '', own_primary, conversation_primary) AS primary_identity
    FROM
    (
        SELECT
            tenant_id,
            event_id,
            conversation_id,
            channel,
            occurred_at_ms,
            if(length(identity_types) = 0, '', arraySort(x -> (multiIf(x.1 = 'email', 0, x.1 = 'phone', 1, 2), x.1, x.2), arrayMap((t, v) -> tuple(t, v), identity_types, identity_values))[1].1) AS own_type,
            if(length(identity_types) = 0, '', arraySort(x -> (multiIf(x.1 = 'email', 0, x.1 = 'phone', 1, 2), x.1, x.2), arrayMap((t, v) -> tuple(t, v), identity_types, identity_values))[1].2) AS own_value,
            if(own_type = '', '', concat(own_type, ':', own_value)) AS own_primary
        FROM interaction_log FINAL
    ) AS events
    ANY LEFT JOIN
    (
        SELECT
            tenant_id,
            conversation_id,
            argMin(primary_of_event, tuple(occurred_at_ms, event_id)) AS conversation_primary
        FROM
        (
            SELECT
                tenant_id,
                conversation_id,
                event_id,
                occurred_at_ms,
                concat(
                    arraySort(x -> (multiIf(x.1 = 'email', 0, x.1 = 'phone', 1, 2), x.1, x.2), arrayMap((t, v) -> tuple(t, v), identity_types, identity_values))[1].1,
                    ':',
                    arraySort(x -> (multiIf(x.1 = 'email', 0, x.1 = 'phone', 1, 2), x.1, x.2), arrayMap((t, v) -> tuple(t, v), identity_types, identity_values))[1].2
                ) AS primary_of_event
            FROM interaction_log FINAL
            WHERE length(identity_types) > 0
        )
        GROUP BY tenant_id, conversation_id
    ) AS conversations USING (tenant_id, conversation_id)
) AS resolved
ANY LEFT JOIN
(
    SELECT tenant_id, identity AS primary_identity, customer_id
    FROM customers FINAL
) AS identity_customers USING (tenant_id, primary_identity);;
