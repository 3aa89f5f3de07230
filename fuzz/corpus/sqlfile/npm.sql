-- Down Migration
DROP TABLE t;

--- UP MIGRATION
CREATE TABLE t (id int);
