-- Email threads independent of arrival order (docs/ARCHITECTURE.md, "Email threads"): the writer
-- keeps every email's threading headers, threads each connected group of messages by JWZ
-- (crates/rapport-channels/src/email/thread.rs) whenever a message joins it, and maps each stored
-- conversation id (the adapter's guess from one message's headers) to its thread. Like customers,
-- threads never rewrite the interaction log: the mapping is applied when state is derived and
-- when the log is read, so a late parent or a late middle message joins whole conversations.

-- The threading headers of every email message (ids without angle brackets), by Message-ID.
-- A message seen twice under one Message-ID keeps every version here; the threading keeps the
-- smallest, whatever order they came in. `headers` (In-Reply-To, then References, the ids
-- space-separated, `|` between the two) stands in for the two arrays in the sorting key: with
-- array columns in it, a replicated table's ON CLUSTER creation never finished on 18.16.
CREATE TABLE IF NOT EXISTS email_messages
(
    tenant_id String,
    message_id String,
    sent_at_ms Int64,
    headers String,
    conversation_id String,
    in_reply_to Array(String),
    refs Array(String)
)
ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (tenant_id, message_id, sent_at_ms, headers);

-- Every id an email names (its own Message-ID, its In-Reply-To, its References) with the message
-- that names it: the messages linked to an id by key prefix, so a message's connected group is
-- found without reading the tenant's mail.
CREATE TABLE IF NOT EXISTS email_links
(
    tenant_id String,
    id String,
    message_id String
)
ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (tenant_id, id, message_id);

-- Stored conversation id -> thread (`email:<root id>`): a row for every email conversation
-- threaded so far, rewritten only when its thread changes. The latest version wins.
CREATE TABLE IF NOT EXISTS email_threads
(
    tenant_id String,
    conversation_id String,
    thread_id String,
    changed_at_ms Int64
)
ENGINE = ReplacingMergeTree(changed_at_ms)
PARTITION BY tuple()
ORDER BY (tenant_id, conversation_id);

-- The same pairs keyed the other way round: a thread's stored conversation ids by key prefix.
-- active = 0 once the conversation moved to another thread.
CREATE TABLE IF NOT EXISTS thread_conversations
(
    tenant_id String,
    thread_id String,
    conversation_id String,
    active UInt8,
    changed_at_ms Int64
)
ENGINE = ReplacingMergeTree(changed_at_ms)
PARTITION BY tuple()
ORDER BY (tenant_id, thread_id, conversation_id);

-- The timeline, each event under its conversation's thread: conversation_id is the thread's id
-- (the stored id when the conversation was never threaded), stored_conversation_id the id the
-- event is stored under. Every view over `timeline` (conversation_state, reply_latencies,
-- responsiveness, …) groups by thread from here on.
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
    FROM interactions FINAL
) AS events
ANY LEFT JOIN
(
    SELECT tenant_id, conversation_id AS stored_conversation_id, thread_id
    FROM email_threads FINAL
) AS threads USING (tenant_id, stored_conversation_id);
