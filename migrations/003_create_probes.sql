-- Probes: what to collect, how often, and for how long to keep it.
-- migrate:up
CREATE TABLE probes (
    id                   serial PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    description          text,
    query_text           text NOT NULL,
    collection_interval  integer NOT NULL DEFAULT 60,
    retention_days       integer NOT NULL DEFAULT 7,
    enabled              boolean NOT NULL DEFAULT true,
    CONSTRAINT chk_collection_interval CHECK (collection_interval > 0),
    CONSTRAINT chk_retention_days CHECK (retention_days BETWEEN 1 AND 3650)
);
CREATE INDEX idx_probes_enabled ON probes (id) WHERE enabled;

INSERT INTO probes (name, description, query_text, collection_interval) VALUES
    ('  PG_Stat_Activity ', 'sessions and their state', 'SELECT * FROM pg_stat_activity', 30),
    ('pg_stat_database', 'per-database counters', 'SELECT * FROM pg_stat_database', 60),
    ('PG_LOCKS', 'locks held and awaited', 'SELECT * FROM pg_locks', 15);

-- migrate:down
DROP TABLE probes;
