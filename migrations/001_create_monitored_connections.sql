-- The PostgreSQL servers the collector watches.
-- migrate:up
CREATE TABLE monitored_connections (
    id              serial PRIMARY KEY,
    name            text NOT NULL,
    host            text NOT NULL,
    port            integer NOT NULL DEFAULT 5432,
    database_name   text NOT NULL,
    username        text NOT NULL,
    owner_token     text,
    is_shared       boolean NOT NULL DEFAULT false,
    is_monitored    boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chk_port CHECK (port BETWEEN 1 AND 65535),
    -- a private connection belongs to somebody: it needs the owner's token
    CONSTRAINT chk_owner_token CHECK (is_shared OR owner_token IS NOT NULL)
);

-- migrate:down
DROP TABLE monitored_connections;
