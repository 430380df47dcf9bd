-- Query-time views over the interaction log (docs/ANALYTICS.md describes every column).
--
-- Nothing here is materialized: every number is computed from `interactions FINAL` when it is
-- read, so a late, out-of-order or replayed event corrects every metric on the next query, and a
-- redelivered event is counted once. The SQL runs unchanged on ClickHouse 18.16 and current
-- versions: no window functions, no CTEs, no DateTime64, explicit 'UTC' everywhere; ordering
-- within a conversation is done with sorted arrays (groupArray + arraySort) instead.
--
-- Event order everywhere: (occurred_at_ms, event_rank, event_id), where event_rank is 0 for a
-- customer message, 1 for a human reply, 2 for anything else, so a customer message and a reply
-- in the same millisecond are read as question then answer.
--
-- CREATE VIEW IF NOT EXISTS never replaces a view: change a definition in a later migration
-- with DROP VIEW IF EXISTS then CREATE VIEW (18.16 has no CREATE OR REPLACE VIEW).

-- a. Deduplicated interactions, with the classification every metric uses.
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
    conversation_id,
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
FROM interactions FINAL;

-- b. Which conversations each customer identifier appears in.
CREATE VIEW IF NOT EXISTS customer_conversations AS
SELECT
    tenant_id,
    identity,
    conversation_id,
    conv_channel AS channel,
    first_ms AS first_seen_ms,
    last_ms AS last_seen_ms
FROM
(
    SELECT
        tenant_id,
        identity,
        conversation_id,
        min(channel) AS conv_channel,
        min(occurred_at_ms) AS first_ms,
        max(occurred_at_ms) AS last_ms
    FROM interaction_identities FINAL
    GROUP BY tenant_id, identity, conversation_id
);

-- Internal helper (not part of the contract): one row per conversation with its events in order
-- and everything the metric views derive from them.
-- ev element: (1 occurred_at_ms, 2 event_rank, 3 event_id, 4 class 1=customer message 2=human
-- reply 0=other, 5 status class 1=resolution 2=other status change 0=none, 6 status, 7 actor_id,
-- 8 actor_name, 9 team).
-- Segments: seg[i] = number of human replies up to and including event i, so the customer
-- messages answered by the k-th human reply are exactly those with seg = k - 1.
CREATE VIEW IF NOT EXISTS conversation_state AS
SELECT
    tenant_id,
    conversation_id,
    conv_channel AS channel,
    ev,
    conv_identities AS identities,
    last_customer_text,
    arrayMap(e -> e.1, ev) AS ts,
    arrayMap(e -> e.4, ev) AS cls,
    arrayCumSum(arrayMap(c -> toUInt64(c = 2), cls)) AS seg,
    arrayFilter((t, c) -> c = 1, ts, cls) AS msg_ts,
    arrayFilter((s, c) -> c = 1, seg, cls) AS msg_seg,
    arrayFilter(e -> e.4 = 2, ev) AS rep,
    arrayMap(k -> indexOf(msg_seg, toUInt64(k - 1)), arrayEnumerate(rep)) AS rep_run,
    arrayFilter(x -> x >= 0, arrayMap((r, run) -> if(run > 0, r.1 - msg_ts[run], -1), rep, rep_run)) AS latencies,
    if(length(msg_seg) > 0, msg_seg[1] + 1, 0) AS first_response_k,
    toUInt8(first_response_k > 0 AND first_response_k <= length(rep)) AS has_first_response,
    arrayFilter(c -> c != 0, arrayMap(e -> e.5, ev)) AS sc,
    arrayFilter(e -> e.5 != 0, ev) AS sc_ev,
    arrayFilter(e -> e.5 = 1, ev) AS res_ev,
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
);

-- c. One row per human reply that answered at least one customer message.
CREATE VIEW IF NOT EXISTS reply_latencies AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    if(length(teams) > 0, teams[-1], NULL) AS team,
    r.7 AS agent_id,
    r.8 AS agent_name,
    msg_ts[run] AS inbound_at_ms,
    r.1 AS replied_at_ms,
    r.1 - msg_ts[run] AS reply_latency_ms,
    toUInt8(k = first_response_k) AS is_first_response,
    toDate(toDateTime(intDiv(r.1, 1000), 'UTC'), 'UTC') AS reply_date,
    r.3 AS reply_event_id
FROM conversation_state
ARRAY JOIN rep AS r, rep_run AS run, arrayEnumerate(rep) AS k
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
    if(has_first_response = 1, rep[first_response_k].1, NULL) AS first_response_at_ms,
    if(has_first_response = 1, rep[first_response_k].1 - msg_ts[1], NULL) AS first_response_ms,
    if(has_first_response = 1, rep[first_response_k].7, NULL) AS first_responder_id,
    length(msg_ts) AS customer_messages,
    length(rep) AS human_replies,
    length(latencies) AS replies_with_latency,
    if(length(latencies) > 0, toInt64(floor(arraySum(latencies) / length(latencies) + 0.5)), NULL) AS avg_reply_latency_ms,
    if(length(latencies) > 0, arrayReduce('max', latencies), NULL) AS max_reply_latency_ms,
    if(length(res_ev) > 0, res_ev[1].1, NULL) AS first_resolved_at_ms,
    if(length(res_ev) > 0, res_ev[-1].1, NULL) AS last_resolved_at_ms,
    if(length(res_ev) > 0, res_ev[1].1 - ts[1], NULL) AS first_resolution_ms,
    if(resolved_now = 1, res_ev[-1].1 - ts[1], NULL) AS full_resolution_ms,
    reopens AS reopen_count,
    if(length(sc_ev) > 0, sc_ev[-1].6, NULL) AS status,
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
