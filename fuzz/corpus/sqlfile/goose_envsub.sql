-- +goose ENVSUB ON
-- +goose Up
CREATE TABLE ${A_T} (r text DEFAULT '${B:-eu}', s text DEFAULT '${C-x}', $A_V int);
-- +goose ENVSUB OFF
SELECT $1;
-- +goose Down
-- +goose ENVSUB ON
DROP TABLE ${A_T:-${B}};
SELECT '${C?needed}';
