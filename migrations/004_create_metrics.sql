-- Collected values, one row per probe run and connection.
-- migrate:up
CREATE TABLE metrics (
    id              bigserial PRIMARY KEY,
    probe_id        integer NOT NULL REFERENCES probes (id) ON DELETE CASCADE,
    connection_id   integer NOT NULL REFERENCES monitored_connections (id) ON DELETE CASCADE,
    collected_at    timestamptz NOT NULL DEFAULT now(),
    metric_data     jsonb NOT NULL,
    CONSTRAINT chk_metric_data CHECK (jsonb_typeof(metric_data) = 'object')
);
CREATE INDEX idx_metrics_probe_id ON metrics (probe_id);
CREATE INDEX idx_metrics_connection_id ON metrics (connection_id);

-- migrate:down
DROP TABLE metrics;
