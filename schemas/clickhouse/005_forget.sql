-- The forget list: what `rapport forget` erased, so that records of a forgotten customer that
-- arrive later (in flight during the erasure, or replayed from the raw topics) are dropped by the
-- writer and the linker instead of being stored again. It holds SHA-256 digests (upper-case hex,
-- as ClickHouse's hex(SHA256(…)) writes them), never the identifiers themselves.
--
-- kind 'identity': the digest of an identifier key (`email:maria@example.com`); every interaction
-- carrying it is dropped. kind 'conversation': the digest of a conversation id whose earliest
-- identified message was the customer's; interactions in it that carry no identifier at all (an
-- agent reply, a status change) are dropped. docs/PRIVACY.md explains what erasure reaches.
CREATE TABLE IF NOT EXISTS forgotten
(
    tenant_id String,
    kind String,
    digest String,
    customer_id String,
    forgotten_at_ms Int64
)
ENGINE = ReplacingMergeTree(forgotten_at_ms)
PARTITION BY tuple()
ORDER BY (tenant_id, kind, digest);
