-- moonshift.db: methods of the `db` object that Lua migrations receive, written
-- over the C core's db:exec and db:query. Catalog helpers resolve names the way
-- PostgreSQL does (to_regclass / to_regtype follow search_path and accept
-- "schema.name" and quoted mixed-case names).
local M = {}

-- First row of a query, or nil.
function M.query_one(db, sql, ...)
  return db:query(sql, ...)[1]
end

-- First column of the first row, or nil.
function M.scalar(db, sql, ...)
  local rows = db:query(sql, ...)
  local row = rows[1]
  if row == nil then return nil end
  local _, v = next(row)
  return v
end

local function relkind_is(db, name, kinds)
  local row = db:query(
    "SELECT c.relkind::text AS k FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
    name)[1]
  return row ~= nil and kinds:find(row.k, 1, true) ~= nil
end

-- true when a table (plain or partitioned) of that name exists.
function M.table_exists(db, name)
  return relkind_is(db, name, "rp")
end

-- true when the table has that column (not dropped, not a system column).
function M.column_exists(db, table_name, column)
  return db:query([[
    SELECT 1 AS x FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attname = $2
       AND a.attnum > 0 AND NOT a.attisdropped]], table_name, column)[1] ~= nil
end

-- true when an index of that name exists.
function M.index_exists(db, name)
  return relkind_is(db, name, "iI")
end

-- true when the table has a constraint of that name.
function M.constraint_exists(db, table_name, name)
  return db:query([[
    SELECT 1 AS x FROM pg_catalog.pg_constraint c
     WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.conname = $2]], table_name, name)[1] ~= nil
end

return M
