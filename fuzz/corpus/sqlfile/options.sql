-- a comment

--migrate:up transaction:false lock_timeout:2s
CREATE INDEX CONCURRENTLY i ON t (id);
-- migrate:down statement_timeout:10min out_of_order:ok
DROP INDEX CONCURRENTLY i;