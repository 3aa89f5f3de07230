-- Lookups by owner and name, and a partial index for the poller's hot query.
-- migrate:up
CREATE INDEX idx_monitored_connections_owner_token ON monitored_connections (owner_token);
CREATE INDEX idx_monitored_connections_is_monitored ON monitored_connections (id)
    WHERE is_monitored;
CREATE INDEX idx_monitored_connections_name ON monitored_connections (name);

-- migrate:down
DROP INDEX idx_monitored_connections_name;
DROP INDEX idx_monitored_connections_is_monitored;
DROP INDEX idx_monitored_connections_owner_token;
