-- Per-server probe settings. A row with no connection is the global default;
-- a row with one overrides it for that server. Written as an up/down pair.
CREATE TABLE probe_configs (
    id                   serial PRIMARY KEY,
    name                 text NOT NULL,
    connection_id        integer REFERENCES monitored_connections (id) ON DELETE CASCADE,
    collection_interval  integer NOT NULL DEFAULT 60,
    CONSTRAINT chk_probe_configs_interval CHECK (collection_interval > 0)
);
-- one global default per name...
CREATE UNIQUE INDEX probe_configs_name_global_key ON probe_configs (name)
    WHERE connection_id IS NULL;
-- ...and one override per name and server
CREATE UNIQUE INDEX probe_configs_name_connection_key
    ON probe_configs (name, COALESCE(connection_id, 0));
