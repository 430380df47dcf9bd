-- Identity: which identifiers belong to one customer (written by rapport-linker).
--
-- Stored interactions are never rewritten when customers merge or split: a customer's history is
-- resolved when it is read, through `customers` (identifier → customer, latest state wins).
-- docs/IDENTITY.md explains the model with a worked example.

-- Every link between two identifiers of one tenant, with its evidence and its latest state:
-- linked, held (would exceed the per-customer cap; waits for review) or retracted (an operator
-- unlinked it; evidence never re-links a retracted pair). identity_a < identity_b.
CREATE TABLE IF NOT EXISTS identity_links
(
    tenant_id String,
    identity_a String,
    identity_b String,
    state String,
    event_id String,
    source String,
    occurred_at_ms Int64,
    changed_at_ms Int64
)
ENGINE = ReplacingMergeTree(changed_at_ms)
PARTITION BY tuple()
ORDER BY (tenant_id, identity_a, identity_b);

-- The customer each identifier belongs to now. A merge or split rewrites only these rows.
CREATE TABLE IF NOT EXISTS customers
(
    tenant_id String,
    identity String,
    customer_id String,
    changed_at_ms Int64
)
ENGINE = ReplacingMergeTree(changed_at_ms)
PARTITION BY tuple()
ORDER BY (tenant_id, identity);

-- Each interaction's customer: the customer of its primary identifier (email, then phone, then a
-- source-scoped id; ties by text). An interaction that carries no identifier (some status
-- changes, some agent replies) takes the primary identifier of its conversation's earliest
-- interaction that has one. So every interaction lands on exactly one customer's timeline, and
-- an unlink moves whole interactions, never duplicates them.
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
        FROM interactions FINAL
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
            FROM interactions FINAL
            WHERE length(identity_types) > 0
        )
        GROUP BY tenant_id, conversation_id
    ) AS conversations USING (tenant_id, conversation_id)
) AS resolved
ANY LEFT JOIN
(
    SELECT tenant_id, identity AS primary_identity, customer_id
    FROM customers FINAL
) AS identity_customers USING (tenant_id, primary_identity);

-- One customer's merged, cross-channel history: filter by customer_id, in time order.
CREATE VIEW IF NOT EXISTS customer_timeline AS
SELECT
    customer_id,
    primary_identity,
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
    occurred_at,
    identities,
    is_customer_message,
    is_human_reply,
    is_resolution,
    event_rank
FROM timeline
ALL INNER JOIN
(
    SELECT tenant_id, event_id, customer_id, primary_identity
    FROM interaction_customers
) AS assigned USING (tenant_id, event_id);
