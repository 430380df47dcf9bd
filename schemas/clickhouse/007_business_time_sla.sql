-- Business time and SLAs (docs/ANALYTICS.md, "Business time" and "SLAs"): the stored state gets
-- every duration again in business milliseconds of the conversation's calendar, resolutions get
-- their segment, and each conversation one row per SLA target. Rows stored before this migration
-- have NULL business times until `rapport recompute` (or the next event of their conversation)
-- derives them. ADD COLUMN has no IF NOT EXISTS on 18.16: the migration runner treats "column
-- already exists" of an ADD COLUMN as done, so the file stays safe to run again.

ALTER TABLE conversations ADD COLUMN calendar String DEFAULT '';
ALTER TABLE conversations ADD COLUMN first_response_business_ms Nullable(Int64);
ALTER TABLE conversations ADD COLUMN reply_latency_business_sum_ms Int64 DEFAULT 0;
ALTER TABLE conversations ADD COLUMN avg_reply_latency_business_ms Nullable(Int64);
ALTER TABLE conversations ADD COLUMN max_reply_latency_business_ms Nullable(Int64);
ALTER TABLE conversations ADD COLUMN first_resolution_business_ms Nullable(Int64);
ALTER TABLE conversations ADD COLUMN full_resolution_business_ms Nullable(Int64);

ALTER TABLE replies ADD COLUMN reply_latency_business_ms Nullable(Int64);
ALTER TABLE replies ADD COLUMN calendar String DEFAULT '';

ALTER TABLE resolutions ADD COLUMN first_resolution_business_ms Nullable(Int64);
ALTER TABLE resolutions ADD COLUMN full_resolution_business_ms Nullable(Int64);
ALTER TABLE resolutions ADD COLUMN segment_started_at_ms Int64 DEFAULT 0;
ALTER TABLE resolutions ADD COLUMN segment_ms Int64 DEFAULT 0;
ALTER TABLE resolutions ADD COLUMN segment_business_ms Int64 DEFAULT 0;
ALTER TABLE resolutions ADD COLUMN calendar String DEFAULT '';

-- One row per conversation and SLA target (first_response, next_reply, resolution), recomputed
-- with the rest of the conversation's state; status none where the target does not apply. The
-- status comes from the events only: an active row whose due time has passed is breached, which
-- every reader (sla_outcomes, the API, the CLI) decides with its own clock.
CREATE TABLE IF NOT EXISTS sla
(
    tenant_id String,
    conversation_id String,
    target String,
    policy String,
    calendar String,
    channel String,
    team Nullable(String),
    agent_id Nullable(String),
    target_ms Int64,
    status String,
    cycles UInt32,
    breached_cycles UInt32,
    started_at_ms Int64,
    due_at_ms Nullable(Int64),
    at_risk_at_ms Nullable(Int64),
    breached_at_ms Nullable(Int64),
    stopped_at_ms Nullable(Int64),
    remaining_ms Nullable(Int64),
    version Int64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (tenant_id, conversation_id, target);

-- rapport-sla's memory of what it announced on rapport.sla.v1: one row per SLA cycle, under the
-- interactions partition its conversation's events arrive on. An instance that is assigned a
-- partition reads that partition's pending cycles back (key prefix) and arms their timers again;
-- a conversation it touches reads its cycles' announcements back before announcing more, so an
-- event is never announced twice under different ids and a changed outcome becomes `corrected`.
CREATE TABLE IF NOT EXISTS sla_ledger
(
    kafka_partition Int32,
    tenant_id String,
    conversation_id String,
    target String,
    cycle String,
    status String,
    at_risk_at_ms Nullable(Int64),
    due_at_ms Nullable(Int64),
    pending UInt8,
    announced Array(String),
    outcome String,
    outcome_event_id String,
    corrections UInt32,
    version Int64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY tuple()
ORDER BY (kafka_partition, tenant_id, conversation_id, target, cycle);

-- Every reply that answered a run, with its latency on both clocks (from the stored `replies`).
CREATE VIEW IF NOT EXISTS business_reply_latencies AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    team,
    agent_id,
    agent_name,
    calendar,
    assumeNotNull(inbound_at_ms) AS inbound_at_ms,
    replied_at_ms,
    assumeNotNull(reply_latency_ms) AS reply_latency_ms,
    reply_latency_business_ms,
    is_first_response,
    reply_day AS reply_date,
    reply_event_id
FROM (SELECT * FROM replies FINAL)
WHERE has_latency = 1;

-- Every resolution with its first, full and segment durations on both clocks.
CREATE VIEW IF NOT EXISTS business_resolutions AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    team,
    calendar,
    event_id,
    resolved_at_ms,
    resolved_day,
    is_first,
    is_full,
    first_resolution_ms,
    first_resolution_business_ms,
    full_resolution_ms,
    full_resolution_business_ms,
    segment_started_at_ms,
    segment_ms,
    segment_business_ms
FROM (SELECT * FROM resolutions FINAL);

-- One row per conversation: the responsiveness durations on both clocks.
CREATE VIEW IF NOT EXISTS business_responsiveness AS
SELECT
    tenant_id,
    conversation_id,
    channel,
    team,
    calendar,
    created_at_ms,
    first_responder_id,
    first_response_ms,
    first_response_business_ms,
    replies_with_latency,
    avg_reply_latency_ms,
    avg_reply_latency_business_ms,
    max_reply_latency_ms,
    max_reply_latency_business_ms,
    first_resolution_ms,
    first_resolution_business_ms,
    full_resolution_ms,
    full_resolution_business_ms,
    reopen_count,
    is_resolved,
    waiting_since_ms,
    is_waiting
FROM (SELECT * FROM conversations FINAL)
WHERE events > 0;

-- One row per conversation and target that applies, with the status as of now(): an active
-- target whose due time has passed is breached at its due time.
CREATE VIEW IF NOT EXISTS sla_outcomes AS
SELECT
    tenant_id,
    conversation_id,
    target,
    policy,
    calendar,
    channel,
    team,
    agent_id,
    target_ms,
    toUInt8(stored_status = 'active' AND due_at_ms IS NOT NULL AND assumeNotNull(due_at_ms) <= now_ms) AS overdue,
    if(overdue = 1, 'breached', stored_status) AS status,
    if(overdue = 1, due_at_ms, stored_breached_at_ms) AS breached_at_ms,
    cycles,
    stored_breached_cycles + overdue AS breached_cycles,
    started_at_ms,
    toDate(toDateTime(intDiv(started_at_ms, 1000), 'UTC'), 'UTC') AS started_date,
    toMonday(started_date) AS week,
    due_at_ms,
    at_risk_at_ms,
    toUInt8(overdue = 0 AND stored_status = 'active' AND at_risk_at_ms IS NOT NULL AND assumeNotNull(at_risk_at_ms) <= now_ms) AS at_risk,
    stopped_at_ms,
    remaining_ms
FROM
(
    SELECT
        *,
        status AS stored_status,
        breached_at_ms AS stored_breached_at_ms,
        breached_cycles AS stored_breached_cycles,
        toInt64(toUnixTimestamp(now())) * 1000 AS now_ms
    FROM sla FINAL
)
WHERE stored_status != 'none';

-- % met and breaches per week (of the target's start, Monday, UTC), channel, team, agent and
-- target. met_pct = met / (met + breached), one decimal, rounded half up; NULL while nothing is
-- decided. Sums of these rows are exact; add met and breached, not percentages.
CREATE VIEW IF NOT EXISTS sla_weekly AS
SELECT
    tenant_id,
    week,
    channel,
    team,
    agent_id,
    target,
    count() AS conversations,
    countIf(status = 'met') AS met,
    countIf(status = 'breached') AS breached,
    countIf(status = 'active') AS active,
    countIf(status = 'paused') AS paused,
    if(met + breached > 0, floor(1000 * met / (met + breached) + 0.5) / 10, NULL) AS met_pct
FROM sla_outcomes
GROUP BY tenant_id, week, channel, team, agent_id, target;
