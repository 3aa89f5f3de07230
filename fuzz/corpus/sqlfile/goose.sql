-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE t (id int);
-- +goose StatementBegin
INSERT INTO t VALUES (1);
INSERT INTO t VALUES (2);
-- +goose StatementEnd

-- +goose Down
DROP TABLE t;
