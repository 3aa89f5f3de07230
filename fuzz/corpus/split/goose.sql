-- +goose StatementBegin
CREATE FUNCTION g() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
SELECT 2;
-- +goose StatementEnd
ALTER TYPE e ADD VALUE $q$x$q$
