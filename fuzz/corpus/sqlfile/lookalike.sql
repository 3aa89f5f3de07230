-- migrate:up
select 1;
-- +goose Down
 -- migrate:down
-- MIGRATE:DOWN
  -- +goose StatementBegin
-- up-migration
