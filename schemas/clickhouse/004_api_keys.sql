-- API keys of rapport-api, created, revoked and listed with `rapport keys`.
--
-- A key is shown once, when it is created; only the SHA-256 hash of it is stored. Each key
-- belongs to exactly one tenant, and the API scopes every query to that tenant.
--
-- The version column is `revoked`: of the rows of one key, a revoked one always wins, in
-- whatever order they were written, so nothing can undo a revocation. Read with FINAL.
CREATE TABLE IF NOT EXISTS api_keys
(
    key_id String,
    tenant_id String,
    name String,
    hash String,
    created_at_ms Int64,
    revoked UInt8,
    revoked_at_ms Nullable(Int64)
)
ENGINE = ReplacingMergeTree(revoked)
PARTITION BY tuple()
ORDER BY key_id;
