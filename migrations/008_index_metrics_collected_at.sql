-- The dashboard reads the newest metrics first. The index is built without
-- blocking writes, which PostgreSQL allows only outside a transaction.
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_metrics_collected_at
    ON metrics (collected_at DESC);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS idx_metrics_collected_at;
