---- tern: disable-tx ----
CREATE INDEX CONCURRENTLY i ON t (id);
---- create above / drop below ----
DROP INDEX i;
