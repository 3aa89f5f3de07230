-- bench/gen.lua: writes the inputs of the benchmarks: migration folders for
-- moonshift (dbmate reads the same files), the psql baseline scripts, a
-- sqitch project, a Lua data migration, and the splitter's synthetic files.
local lib = require("lib")

local G = {}

-- A fixed SHA-256-shaped text for the baselines' tracking rows.
local SUM = string.rep("0123456789abcdef", 4)

-- The tracking table as moonshift creates it, so that the psql baselines
-- write rows of the same shape.
G.TRACKING_DDL = [[
CREATE TABLE moonshift_migrations (
  version bigint PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('sql', 'lua')),
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  duration_ms integer NOT NULL,
  applied_by text NOT NULL DEFAULT current_user,
  failed_op text CHECK (failed_op IN ('up', 'down')),
  statements_done integer,
  statement_count integer,
  error text
);
]]

local function width(n) return math.max(4, #tostring(n)) end

local function up_sql(i)
  return string.format("CREATE TABLE t%d (id bigserial PRIMARY KEY, a int, b text);\n" ..
                       "CREATE INDEX t%d_a ON t%d (a);\n", i, i, i)
end

local function track_sql(i, kind)
  return string.format("INSERT INTO moonshift_migrations (version, name, kind, checksum, duration_ms) " ..
                       "VALUES (%d, 't', '%s', '%s', 0);\n", i, kind or "sql", SUM)
end

-- dir/NNNN_t.sql for i = 1..n, in moonshift's (and dbmate's) format.
function G.migrations(dir, n)
  lib.sh("mkdir -p " .. lib.q(dir))
  local w = width(n)
  for i = 1, n do
    lib.write(string.format("%s/%0" .. w .. "d_t.sql", dir, i),
              "-- migrate:up\n" .. up_sql(i) .. "-- migrate:down\n" ..
              string.format("DROP TABLE t%d;\n", i))
  end
end

-- The psql floor: one transaction per migration, each statement its own
-- round trip. With one_rt, each migration is one line joined by \; so psql
-- sends it as a single simple-Query message.
function G.floor_script(path, n, one_rt)
  local out = { G.TRACKING_DDL }
  for i = 1, n do
    local body = "BEGIN;\n" .. up_sql(i) .. track_sql(i) .. "COMMIT;\n"
    if one_rt then body = body:gsub(";\n", "\\; ", 4) end
    out[#out + 1] = body
  end
  lib.write(path, table.concat(out))
end

-- psql's down: the newest `count` of n migrations, one transaction each.
function G.down_script(path, n, count)
  local out = {}
  for i = n, n - count + 1, -1 do
    out[#out + 1] = string.format("BEGIN;\nDROP TABLE t%d;\nDELETE FROM moonshift_migrations " ..
                                  "WHERE version = %d;\nCOMMIT;\n", i, i)
  end
  lib.write(path, table.concat(out))
end

-- A sqitch project with changes t1..tn, deploy and revert scripts wrapped
-- in BEGIN/COMMIT as sqitch's own templates are.
function G.sqitch_project(dir, n, psql)
  lib.sh("mkdir -p " .. lib.q(dir .. "/deploy") .. " " .. lib.q(dir .. "/revert"))
  lib.write(dir .. "/sqitch.conf", table.concat({
    "[core]", "\tengine = pg", "\tplan_file = sqitch.plan", "\ttop_dir = .",
    '[engine "pg"]', "\tclient = " .. psql,
    "[user]", "\tname = Bench", "\temail = bench@example.invalid", "" }, "\n"))
  local plan = { "%syntax-version=1.0.0", "%project=bench", "" }
  for i = 1, n do
    plan[#plan + 1] = string.format("t%d 2024-01-01T00:00:00Z Bench <bench@example.invalid> # t%d", i, i)
    lib.write(string.format("%s/deploy/t%d.sql", dir, i), "BEGIN;\n" .. up_sql(i) .. "COMMIT;\n")
    lib.write(string.format("%s/revert/t%d.sql", dir, i),
              string.format("BEGIN;\nDROP TABLE t%d;\nCOMMIT;\n", i))
  end
  lib.write(dir .. "/sqitch.plan", table.concat(plan, "\n") .. "\n")
end

-- The Lua data migration: rows/batch UPDATEs through db:exec with
-- parameters, and the same batches as a psql script (one transaction).
function G.lua_update(dir, psql_path, rows, batch)
  lib.sh("mkdir -p " .. lib.q(dir))
  lib.write(dir .. "/0001_update.lua", string.format([[
return {
  up = function(db)
    for lo = 1, %d, %d do
      db:exec("UPDATE big SET b = $1 WHERE id BETWEEN $2 AND $3", "batch " .. lo, lo, lo + %d)
    end
  end,
}
]], rows, batch, batch - 1))
  local out = { G.TRACKING_DDL, "BEGIN;\n" }
  for lo = 1, rows, batch do
    out[#out + 1] = string.format("UPDATE big SET b = 'batch %d' WHERE id BETWEEN %d AND %d;\n",
                                  lo, lo, lo + batch - 1)
  end
  out[#out + 1] = track_sql(1, "lua") .. "COMMIT;\n"
  lib.write(psql_path, table.concat(out))
end

-- Writes `bytes` bytes (or more, to the end of a chunk) of chunk to f.
local function fill(f, chunk, bytes)
  local written = 0
  while written < bytes do
    f:write(chunk)
    written = written + #chunk
  end
  return written
end

-- One INSERT ... VALUES statement of about `bytes` bytes.
function G.one_statement(path, bytes)
  local rows = {}
  for i = 1, 20000 do
    rows[i] = string.format("(%d, 'row %d: it''s text; with -- and /* inside */', %d.5),\n", i, i, i % 997)
  end
  local f = assert(io.open(path, "wb"))
  f:write("INSERT INTO big (id, b, x) VALUES\n")
  fill(f, table.concat(rows), bytes)
  f:write("(0, 'last', 0);\n")
  f:close()
end

-- `count` tiny statements.
function G.tiny_statements(path, count)
  local f = assert(io.open(path, "wb"))
  local chunk = string.rep("SELECT 1;\n", 10000)
  for _ = 1, count // 10000 do f:write(chunk) end
  f:close()
end

-- `blocks` statements, each behind one comment nested `depth` levels deep.
function G.nested_comments(path, depth, blocks)
  local block = string.rep("/* ", depth) .. "x" .. string.rep(" */", depth) .. "\nSELECT 1;\n"
  local f = assert(io.open(path, "wb"))
  for _ = 1, blocks do f:write(block) end
  f:close()
end

return G
