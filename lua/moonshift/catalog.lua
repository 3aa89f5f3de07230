-- moonshift.catalog: catalog inspection helpers, installed as db methods by
-- moonshift.db, written over db:query. Names resolve as PostgreSQL resolves
-- them: to_regclass, to_regtype, to_regnamespace, to_regproc(edure) and
-- to_regrole accept "schema.name" and quoted "MixedCase" names, and look
-- unqualified names up through the connection's search_path. A name that is
-- not even syntactically a name (a.b.c.d) raises the server's error.
local M = {}

local function first(db, sql, ...)
  return (db:query(sql, ...))[1]
end

-- relkind of the relation `name` as text, or nil when there is none.
local function relkind(db, name)
  local row = first(db,
    "SELECT c.relkind::text AS k FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)", name)
  return row and row.k
end

local function relkind_is(db, name, kinds)
  local k = relkind(db, name)
  return k ~= nil and kinds:find(k, 1, true) ~= nil
end

-- true when a table (plain or partitioned) of that name exists.
function M.table_exists(db, name)
  return relkind_is(db, name, "rp")
end

-- true when a view or materialized view of that name exists.
function M.view_exists(db, name)
  return relkind_is(db, name, "vm")
end

-- true when an index (plain or partitioned) of that name exists.
function M.index_exists(db, name)
  return relkind_is(db, name, "iI")
end

-- true when a sequence of that name exists.
function M.sequence_exists(db, name)
  return relkind_is(db, name, "S")
end

-- true when the table has that column (not dropped, not a system column).
-- The column name is matched exactly, as stored (no quoting, no folding).
function M.column_exists(db, table_name, column)
  return first(db, [[
    SELECT 1 AS x FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attname = $2
       AND a.attnum > 0 AND NOT a.attisdropped]], table_name, column) ~= nil
end

local COLUMNS = [[
  SELECT a.attname AS name,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
         NOT a.attnotnull AS nullable,
         CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END AS "default",
         CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END AS generated,
         CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity
    FROM pg_catalog.pg_attribute a
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped]]

-- { name=, type=, nullable=, default=, generated=, identity= } of one column
-- of a table or view, or nil when there is no such column.
function M.column(db, table_name, column)
  return first(db, COLUMNS .. " AND a.attname = $2", table_name, column)
end

-- The columns of a table or view in their order, each as M.column returns
-- them; nil when the relation does not exist.
function M.columns(db, table_name)
  if relkind(db, table_name) == nil then return nil end
  return (db:query(COLUMNS .. " ORDER BY a.attnum", table_name))
end

-- true when the index is valid (usable by queries), false when it is not (a
-- failed CREATE INDEX CONCURRENTLY leaves one behind), nil when there is no
-- such index.
function M.index_is_valid(db, name)
  local row = first(db,
    "SELECT i.indisvalid AS v FROM pg_catalog.pg_index i WHERE i.indexrelid = pg_catalog.to_regclass($1)", name)
  if row == nil then return nil end
  return row.v
end

-- true when the table has a constraint of that name.
function M.constraint_exists(db, table_name, name)
  return first(db, [[
    SELECT 1 AS x FROM pg_catalog.pg_constraint c
     WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.conname = $2]], table_name, name) ~= nil
end

local ACTIONS = { a = "no action", r = "restrict", c = "cascade", n = "set null", d = "set default" }

-- The table's foreign keys ordered by name, each { name=, columns={...},
-- references= (the referenced table as search_path shows it), ref_columns=
-- {...}, on_update=, on_delete=, valid=, definition= }; nil when the table
-- does not exist.
function M.foreign_keys(db, table_name)
  if relkind(db, table_name) == nil then return nil end
  local rows = db:query([[
    SELECT c.conname AS name, c.confrelid::pg_catalog.regclass::text AS ref,
           c.confupdtype::text AS upd, c.confdeltype::text AS del, c.convalidated AS valid,
           pg_catalog.pg_get_constraintdef(c.oid) AS definition,
           a.attname AS col, af.attname AS ref_col
      FROM pg_catalog.pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(key, fkey, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.key
      JOIN pg_catalog.pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = k.fkey
     WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.contype = 'f'
     ORDER BY c.conname, k.ord]], table_name)
  local out, by_name = {}, {}
  for _, r in ipairs(rows) do
    local fk = by_name[r.name]
    if fk == nil then
      fk = { name = r.name, columns = {}, references = r.ref, ref_columns = {}, on_update = ACTIONS[r.upd],
             on_delete = ACTIONS[r.del], valid = r.valid, definition = r.definition }
      by_name[r.name] = fk
      out[#out + 1] = fk
    end
    fk.columns[#fk.columns + 1] = r.col
    fk.ref_columns[#fk.ref_columns + 1] = r.ref_col
  end
  return out
end

-- The primary key's column names in key order, or nil when the table has no
-- primary key (or does not exist).
function M.primary_key(db, table_name)
  local rows = db:query([[
    SELECT a.attname AS col
      FROM pg_catalog.pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
     WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.contype = 'p'
     ORDER BY k.ord]], table_name)
  if #rows == 0 then return nil end
  local cols = {}
  for i, r in ipairs(rows) do cols[i] = r.col end
  return cols
end

-- With argtypes (an array of type names, or one string "int, text"): true
-- when exactly that function or procedure exists (to_regprocedure). Without:
-- true when any function or procedure of that name is visible (in the named
-- schema, or through search_path), however many overloads it has.
function M.function_exists(db, name, argtypes)
  if argtypes ~= nil then
    if type(argtypes) == "table" then argtypes = table.concat(argtypes, ", ") end
    return first(db, "SELECT pg_catalog.to_regprocedure($1 || '(' || $2 || ')') IS NOT NULL AS x",
      name, argtypes).x
  end
  return first(db, [[
    SELECT pg_catalog.to_regproc($1) IS NOT NULL OR EXISTS (
             SELECT 1 FROM pg_catalog.pg_proc p, pg_catalog.parse_ident($1) AS n(parts)
              WHERE CASE cardinality(n.parts)
                      WHEN 1 THEN p.proname = n.parts[1] AND pg_catalog.pg_function_is_visible(p.oid)
                      WHEN 2 THEN p.proname = n.parts[2]
                                  AND p.pronamespace = pg_catalog.to_regnamespace(pg_catalog.quote_ident(n.parts[1]))
                    END) AS x]], name).x
end

-- true when the table has a (user-defined) trigger of that name.
function M.trigger_exists(db, table_name, name)
  return first(db, [[
    SELECT 1 AS x FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = pg_catalog.to_regclass($1) AND t.tgname = $2 AND NOT t.tgisinternal]],
    table_name, name) ~= nil
end

-- true when the type exists (any spelling to_regtype accepts: "integer",
-- "int4", "public.mood", "varchar(10)").
function M.type_exists(db, name)
  return first(db, "SELECT pg_catalog.to_regtype($1) IS NOT NULL AS x", name).x
end

-- The labels of an enum type in their order, or nil when the type does not
-- exist or is not an enum.
function M.enum_values(db, name)
  local t = first(db,
    "SELECT t.typtype::text AS k FROM pg_catalog.pg_type t WHERE t.oid = pg_catalog.to_regtype($1)", name)
  if t == nil or t.k ~= "e" then return nil end
  local labels = {}
  for i, r in ipairs(db:query([[
    SELECT e.enumlabel AS l FROM pg_catalog.pg_enum e
     WHERE e.enumtypid = pg_catalog.to_regtype($1) ORDER BY e.enumsortorder]], name)) do
    labels[i] = r.l
  end
  return labels
end

-- true when the schema exists (a quoted name keeps its case).
function M.schema_exists(db, name)
  return first(db, "SELECT pg_catalog.to_regnamespace($1) IS NOT NULL AS x", name).x
end

-- true when the extension is installed in this database (its name as in
-- CREATE EXTENSION, matched exactly: "uuid-ossp").
function M.extension_exists(db, name)
  return first(db, "SELECT 1 AS x FROM pg_catalog.pg_extension e WHERE e.extname = $1", name) ~= nil
end

-- true when the role exists: its exact name, or the name as an SQL
-- identifier would resolve ("Admin" quoted keeps its case, Admin folds).
function M.role_exists(db, name)
  return first(db, [[
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = $1 OR r.oid = pg_catalog.to_regrole($1)) AS x]], name).x
end

-- The planner's row count estimate (pg_class.reltuples) as an integer: -1
-- when the table was never vacuumed or analyzed (PostgreSQL 14 and later;
-- 0 before), nil when it does not exist.
function M.row_estimate(db, table_name)
  local row = first(db,
    "SELECT c.reltuples::float8 AS n FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
    table_name)
  if row == nil then return nil end
  return math.floor(row.n)
end

return M
