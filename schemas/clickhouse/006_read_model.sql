-- The read model: per-conversation state stored by the writer, and indexes ordered for each read,
-- so every request reads rows in proportion to its answer, not to the tenant's history
-- (docs/ANALYTICS.md, "Stored state"). Plus the query-time views again, written so that
-- ClickHouse 18.16 can read them back after a restart.

-- One row per conversation, recomputed from all of its events by rapport-writer whenever a batch
-- touches it (crates/rapport-responsiveness has the definitions), so a late, replayed or
-- out-of-order event corrects it exactly. The latest version wins.
CREATE TABLE IF NOT EXISTS conversations
(
    tenant_id String,
    conversation_id String,
    channel String,
    team Nullable(String),
    events UInt32,
    created_at_ms Int64,
    first_inbound_at_ms Nullable(Int64),
    first_response_at_ms Nullable(Int64),
    first_response_ms Nullable(Int64),
    first_responder_id Nullable(String),
    customer_messages UInt32,
    human_replies UInt32,
    replies_with_latency UInt32,
    reply_latency_sum_ms Int64,
    avg_reply_latency_ms Nullable(Int64),
    max_reply_latency_ms Nullable(Int64),
    first_resolved_at_ms Nullable(Int64),
    last_resolved_at_ms Nullable(Int64),
    first_resolution_ms Nullable(Int64),
    full_resolution_ms Nullable(Int64),
    reopen_count UInt32,
    status Nullable(String),
    is_resolved UInt8,
    waiting_since_ms Nullable(Int64),
    is_waiting UInt8,
    waiting_messages UInt32,
    last_event_at_ms Int64,
    last_customer_message_at_ms Nullable(Int64),
    identities Array(String),
    primary_identity String,
    last_customer_text String,
    version Int64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (tenant_id, conversation_id);

-- One row per human reply (every one, so a reply whose latency disappears is overwritten, not left
-- behind), ordered by its day: a report over a week reads that week. has_latency = 1 for the rows
-- of `reply_latencies`.
CREATE TABLE IF NOT EXISTS replies
(
    tenant_id String,
    reply_day Date,
    conversation_id String,
    reply_event_id String,
    channel String,
    team Nullable(String),
    agent_id Nullable(String),
    agent_name Nullable(String),
    replied_at_ms Int64,
    inbound_at_ms Nullable(Int64),
    reply_latency_ms Nullable(Int64),
    has_latency UInt8,
    is_first_response UInt8,
    version Int64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(reply_day)
ORDER BY (tenant_id, reply_day, conversation_id, reply_event_id);

-- One row per resolution event (a status change to solved, closed or resolved), by its day.
-- is_first marks the conversation's first resolution (first_resolution_ms set), is_full its last
-- one while it is still resolved (full_resolution_ms set).
CREATE TABLE IF NOT EXISTS resolutions
(
    tenant_id String,
    resolved_day Date,
    conversation_id String,
    event_id String,
    channel String,
    team Nullable(String),
    resolved_at_ms Int64,
    first_resolution_ms Nullable(Int64),
    full_resolution_ms Nullable(Int64),
    is_first UInt8,
    is_full UInt8,
    version Int64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(resolved_day)
ORDER BY (tenant_id, resolved_day, conversation_id, event_id);

-- Who is waiting, longest first: a row (+1) when a conversation starts waiting, its cancel (-1)
-- when it stops or its wait starts later; merges drop cancelled pairs, so the table holds the
-- conversations waiting now (plus recent, unmerged changes). Readers check each row against
-- `conversations`, which decides.
CREATE TABLE IF NOT EXISTS waiting
(
    tenant_id String,
    waiting_since_ms Int64,
    conversation_id String,
    channel String,
    sign Int8
)
ENGINE = CollapsingMergeTree(sign)
PARTITION BY tuple()
ORDER BY (tenant_id, waiting_since_ms, conversation_id);

-- customer → identifiers, written by rapport-linker beside `customers` (identifier → customer):
-- a customer's identifiers by key prefix. active = 0 once the identifier moved to another customer.
CREATE TABLE IF NOT EXISTS customer_identities
(
    tenant_id String,
    customer_id String,
    identity String,
    active UInt8,
    changed_at_ms Int64
)
ENGINE = ReplacingMergeTree(changed_at_ms)
PARTITION BY tuple()
ORDER BY (tenant_id, customer_id, identity);

INSERT INTO customer_identities SELECT tenant_id, customer_id, identity, toUInt8(1), changed_at_ms FROM customers FINAL;

-- The views of 002_views.sql, rebuilt: 18.16 stores a view with its column types, and after a
-- restart it cannot resolve a view column of type Array(Tuple(…)) (`Unknown identifier: rep`).
-- conversation_state now exposes plain arrays only; the tuples stay inside its subquery.
DROP TABLE IF EXISTS unanswered;
DROP TABLE IF EXISTS responsiveness_daily;
DROP TABLE IF EXISTS responsiveness;
DROP TABLE IF EXISTS reply_latencies;
DROP TABLE IF EXISTS conversation_state;

-- Internal helper (not part of the contract): one row per conversation with its events in order
-- and everything the metric views derive from them. Replies: rep_ts, rep_event_id, rep_actor_id,
-- rep_actor_name (one element per human reply). Status changes: sc (1 resolution, 2 other),
-- sc_status. Resolutions: res_ts.
CREATE VIEW IF NOT EXISTS conversation_state AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    identities,
    last_customer_text,
    ts,
    cls,
    seg,
    msg_ts,
    msg_seg,
    rep_ts,
    rep_event_id,
    rep_actor_id,
    rep_actor_name,
    rep_run,
    latencies,
    first_response_k,
    has_first_response,
    sc,
    sc_status,
    res_ts,
    reopens,
    resolved_now,
    waiting_run,
    last_msg_pos,
    last_res_pos,
    teams
FROM
(
    SELECT
        tenant_id,
        conversation_id,
        conv_channel AS channel,
        conv_identities AS identities,
        last_customer_text,
        arrayMap(e -> e.1, ev) AS ts,
        arrayMap(e -> e.4, ev) AS cls,
        arrayCumSum(arrayMap(c -> toUInt64(c = 2), cls)) AS seg,
        arrayFilter((t, c) -> c = 1, ts, cls) AS msg_ts,
        arrayFilter((s, c) -> c = 1, seg, cls) AS msg_seg,
        arrayFilter(e -> e.4 = 2, ev) AS rep,
        arrayMap(e -> e.1, rep) AS rep_ts,
        arrayMap(e -> e.3, rep) AS rep_event_id,
        arrayMap(e -> e.7, rep) AS rep_actor_id,
        arrayMap(e -> e.8, rep) AS rep_actor_name,
        arrayMap(k -> indexOf(msg_seg, toUInt64(k - 1)), arrayEnumerate(rep)) AS rep_run,
        arrayFilter(x -> x >= 0, arrayMap((r, run) -> if(run > 0, r - msg_ts[run], -1), rep_ts, rep_run)) AS latencies,
        if(length(msg_seg) > 0, msg_seg[1] + 1, 0) AS first_response_k,
        toUInt8(first_response_k > 0 AND first_response_k <= length(rep)) AS has_first_response,
        arrayFilter(c -> c != 0, arrayMap(e -> e.5, ev)) AS sc,
        arrayMap(e -> e.6, arrayFilter(e -> e.5 != 0, ev)) AS sc_status,
        arrayMap(e -> e.1, arrayFilter(e -> e.5 = 1, ev)) AS res_ts,
        arraySum(arrayMap((cur, prev) -> toUInt32(cur = 2 AND prev = 1), sc, arrayPopBack(arrayPushFront(sc, toUInt8(0))))) AS reopens,
        toUInt8(length(sc) > 0 AND sc[-1] = 1) AS resolved_now,
        indexOf(msg_seg, toUInt64(length(rep))) AS waiting_run,
        arrayFilter((i, c) -> c = 1, arrayEnumerate(cls), cls)[-1] AS last_msg_pos,
        arrayFilter((i, e) -> e.5 = 1, arrayEnumerate(ev), ev)[-1] AS last_res_pos,
        arrayFilter(t -> t != '', arrayMap(e -> e.9, ev)) AS teams
    FROM
    (
        SELECT
            tenant_id,
            conversation_id,
            min(channel) AS conv_channel,
            arraySort(groupArray(tuple(
                occurred_at_ms,
                event_rank,
                event_id,
                toUInt8(multiIf(is_customer_message = 1, 1, is_human_reply = 1, 2, 0)),
                toUInt8(multiIf(kind != 'status_change' OR ifNull(status, 'edited') = 'edited', 0, is_resolution = 1, 1, 2)),
                ifNull(status, ''),
                actor_id,
                actor_name,
                ifNull(team, '')))) AS ev,
            arraySort(groupUniqArrayArray(identities)) AS conv_identities,
            argMaxIf(ifNull(text, ''), tuple(occurred_at_ms, event_id), is_customer_message = 1) AS last_customer_text
        FROM timeline
        GROUP BY tenant_id, conversation_id
    )
);

-- c. One row per human reply that answered at least one customer message.
CREATE VIEW IF NOT EXISTS reply_latencies AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    if(length(teams) > 0, teams[-1], NULL) AS team,
    r_actor AS agent_id,
    r_name AS agent_name,
    msg_ts[run] AS inbound_at_ms,
    r_ts AS replied_at_ms,
    r_ts - msg_ts[run] AS reply_latency_ms,
    toUInt8(k = first_response_k) AS is_first_response,
    toDate(toDateTime(intDiv(r_ts, 1000), 'UTC'), 'UTC') AS reply_date,
    r_id AS reply_event_id
FROM conversation_state
ARRAY JOIN rep_ts AS r_ts, rep_event_id AS r_id, rep_actor_id AS r_actor, rep_actor_name AS r_name, rep_run AS run, arrayEnumerate(rep_ts) AS k
WHERE run > 0;

-- d. One row per conversation.
CREATE VIEW IF NOT EXISTS responsiveness AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    if(length(teams) > 0, teams[-1], NULL) AS team,
    ts[1] AS created_at_ms,
    if(length(msg_ts) > 0, msg_ts[1], NULL) AS first_inbound_at_ms,
    if(has_first_response = 1, rep_ts[first_response_k], NULL) AS first_response_at_ms,
    if(has_first_response = 1, rep_ts[first_response_k] - msg_ts[1], NULL) AS first_response_ms,
    if(has_first_response = 1, rep_actor_id[first_response_k], NULL) AS first_responder_id,
    length(msg_ts) AS customer_messages,
    length(rep_ts) AS human_replies,
    length(latencies) AS replies_with_latency,
    if(length(latencies) > 0, toInt64(floor(arraySum(latencies) / length(latencies) + 0.5)), NULL) AS avg_reply_latency_ms,
    if(length(latencies) > 0, arrayReduce('max', latencies), NULL) AS max_reply_latency_ms,
    if(length(res_ts) > 0, res_ts[1], NULL) AS first_resolved_at_ms,
    if(length(res_ts) > 0, res_ts[-1], NULL) AS last_resolved_at_ms,
    if(length(res_ts) > 0, res_ts[1] - ts[1], NULL) AS first_resolution_ms,
    if(resolved_now = 1, res_ts[-1] - ts[1], NULL) AS full_resolution_ms,
    reopens AS reopen_count,
    if(length(sc_status) > 0, sc_status[-1], NULL) AS status,
    resolved_now AS is_resolved,
    if(waiting_run > 0, msg_ts[waiting_run], NULL) AS waiting_since_ms,
    toUInt8(waiting_run > 0 AND NOT (resolved_now = 1 AND last_res_pos > last_msg_pos)) AS is_waiting,
    ts[-1] AS last_event_at_ms,
    if(length(msg_ts) > 0, msg_ts[-1], NULL) AS last_customer_message_at_ms,
    identities
FROM conversation_state;

-- e. Per reply day, channel, team and agent. quantileExact: an observed value, no sampling.
CREATE VIEW IF NOT EXISTS responsiveness_daily AS
SELECT
    tenant_id,
    reply_date AS day,
    channel,
    team,
    agent_id,
    agent_name,
    count() AS replies,
    toInt64(floor(avg(reply_latency_ms) + 0.5)) AS avg_reply_ms,
    quantileExact(0.5)(reply_latency_ms) AS p50_reply_ms,
    quantileExact(0.9)(reply_latency_ms) AS p90_reply_ms,
    countIf(is_first_response = 1) AS first_responses,
    if(first_responses > 0, toInt64(floor(avgIf(reply_latency_ms, is_first_response = 1) + 0.5)), NULL) AS avg_first_response_ms,
    if(first_responses > 0, quantileExactIf(0.5)(reply_latency_ms, is_first_response = 1), NULL) AS p50_first_response_ms,
    if(first_responses > 0, quantileExactIf(0.9)(reply_latency_ms, is_first_response = 1), NULL) AS p90_first_response_ms
FROM reply_latencies
GROUP BY tenant_id, reply_date, channel, team, agent_id, agent_name;

-- f. Who is waiting for a human reply. A conversation resolved after the customer's last
-- message (and not reopened since) is not waiting.
CREATE VIEW IF NOT EXISTS unanswered AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    if(length(teams) > 0, teams[-1], NULL) AS team,
    msg_ts[waiting_run] AS waiting_since_ms,
    toDateTime(intDiv(msg_ts[waiting_run], 1000), 'UTC') AS waiting_since,
    toInt64(toUnixTimestamp(now())) * 1000 - msg_ts[waiting_run] AS waiting_ms,
    length(msg_ts) - waiting_run + 1 AS waiting_messages,
    identities,
    last_customer_text
FROM conversation_state
WHERE waiting_run > 0 AND NOT (resolved_now = 1 AND last_res_pos > last_msg_pos);
