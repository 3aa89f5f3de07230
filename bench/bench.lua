-- bench/bench.lua: the workloads of `make bench`, run through bench/run.sh,
-- which builds the helpers, starts the throwaway server and exports:
--   BENCH_BIN   folder of timeit and splitbench     BENCH_WORK  scratch folder
--   PGHOST=127.0.0.1 PGPORT PGUSER                  MS_PG_BINDIR
--   BENCH_DBMATE, BENCH_SQITCH  peer binaries, empty when missing
-- Optional: BENCH_QUICK=1 (smaller sizes, fewer rounds), BENCH_ONLY=list
-- of workloads to run (up,lua,dump,split; for trying one out).
-- The raw figures go to build/bench/results.lua; BENCH_REPLAY=that file
-- rebuilds the report from them without running anything:
--   BENCH_REPLAY=build/bench/results.lua lua5.4 bench/bench.lua
--
-- Every figure is the median of several runs with [min–max]. Each moonshift
-- run is paired with the psql baseline run next to it in the same round
-- (rounds alternate the order), and "x psql" is the median of those paired
-- ratios: the disk's fsync latency drifts, and pairing cancels most of it.
package.path = "bench/?.lua;" .. package.path
local lib = require("lib")
local gen = require("gen")
local report = require("report")

local QUICK = os.getenv("BENCH_QUICK") == "1"
local ONLY = os.getenv("BENCH_ONLY")
local WORK = lib.work
local PORT = os.getenv("PGPORT") or "5432"
local USER = os.getenv("PGUSER") or "postgres"
local MS = os.getenv("MS_BIN") or (os.getenv("PWD") .. "/bin/moonshift")
local DBMATE = os.getenv("BENCH_DBMATE") or ""
local SQITCH = os.getenv("BENCH_SQITCH") or ""
local PSQL = lib.psql

-- Sizes and repetitions. Full: about 12 minutes on 2 idle cores; quick: about 2.
-- psql-1rt runs up to onert_max migrations, dbmate up to peer_max, sqitch (the
-- slowest by far) up to sqitch_max.
local C = QUICK and {
  sizes = { 10, 50, 200 }, rounds = { [10] = 3, [50] = 3, [200] = 2 },
  status_runs = 5, peer_status_runs = 2, peer_max = 50, sqitch_max = 10, onert_max = 200,
  dump_scales = { 1, 5 }, dump_rounds = 2,
  update_rows = 100000, batch = 10000, update_rounds = 2,
  one_mb = 10, tiny = 100000, nest_depth = 100000, nest_blocks = 2, split_runs = 3,
} or {
  sizes = { 100, 1000, 10000 }, rounds = { [100] = 5, [1000] = 3, [10000] = 2 },
  status_runs = 10, peer_status_runs = 3, peer_max = 1000, sqitch_max = 100, onert_max = 1000,
  dump_scales = { 7, 70 }, dump_rounds = 3,
  update_rows = 1000000, batch = 10000, update_rounds = 3,
  one_mb = 100, tiny = 1000000, nest_depth = 1000000, nest_blocks = 8, split_runs = 5,
}
C.quick = QUICK

local function wanted(name)
  if not ONLY or ONLY == "" then return true end
  for w in ONLY:gmatch("[^,%s]+") do if w == name then return true end end
  return false
end

local function url(db) return string.format("postgres://%s@127.0.0.1:%s/%s", USER, PORT, db) end

local function psql_file(db, file)
  return { PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", file }
end

local function moonshift(db, dir, ...)
  return { MS, "--url", url(db), "--dir", dir, ... }
end

-- Rotates list by k places, so each round starts with another tool.
local function rotated(list, k)
  local out = {}
  for i = 1, #list do out[i] = list[(i - 1 + k) % #list + 1] end
  return out
end

-- Appends a sample's wall, rss and cpu to the lists of t[key].
local function keep(t, key, s)
  local r = t[key] or { wall = {}, rss = {}, cpu = {} }
  t[key] = r
  r.wall[#r.wall + 1] = s.wall
  r.rss[#r.rss + 1] = s.rss
  r.cpu[#r.cpu + 1] = s.cpu
end

---------------------------------------------------------------------------
-- 1, 2, 3: up, down, status and no-op up at each size

local STATUS_SQL = "SELECT version, name, kind, applied_at FROM moonshift_migrations ORDER BY version"

-- The tools of workload 1 at size n: each has a database, an up, and
-- optionally a down (of `count`), a status and a no-op up.
local function tools_for(n, files)
  local count = math.min(100, n)
  local t = {
    { name = "psql", db = "b_floor",
      up = function(db) return lib.timed(psql_file(db, files.floor)) end,
      down = function(db) return lib.timed(psql_file(db, files.down)) end },
    { name = "moonshift", db = "b_ms", moonshift = true,
      up = function(db) return lib.timed(moonshift(db, files.dir, "up")) end,
      down = function(db) return lib.timed(moonshift(db, files.dir, "down", tostring(count))) end,
      status = function(db) return lib.timed(moonshift(db, files.dir, "status")) end,
      noop = function(db) return lib.timed(moonshift(db, files.dir, "up")) end },
  }
  if n <= C.onert_max then
    table.insert(t, 2, { name = "psql-1rt", db = "b_onert",
      up = function(db) return lib.timed(psql_file(db, files.onert)) end })
  end
  if n <= C.peer_max and DBMATE ~= "" then
    local function dbmate(db, ...)
      return { DBMATE, "--url", url(db) .. "?sslmode=disable", "--migrations-dir", files.dir,
               "--no-dump-schema", ... }
    end
    -- dbmate rolls back one migration per run: `count` runs make one down.
    local loop = 'n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do "$@" rollback >/dev/null || exit 1; i=$((i+1)); done'
    t[#t + 1] = { name = "dbmate", db = "b_dbmate", peer = true,
      up = function(db) return lib.timed(dbmate(db, "up")) end,
      down = function(db)
        local argv = { "sh", "-c", loop, "sh", tostring(count) }
        for _, a in ipairs(dbmate(db)) do argv[#argv + 1] = a end
        return lib.timed(argv)
      end,
      status = function(db) return lib.timed(dbmate(db, "status")) end,
      noop = function(db) return lib.timed(dbmate(db, "up")) end }
  end
  if n <= C.sqitch_max and SQITCH ~= "" then
    local function sqitch(db, cmd, ...)
      local argv = { SQITCH, cmd, "--chdir", files.sqitch }
      for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
      argv[#argv + 1] = "--target"
      argv[#argv + 1] = "db:pg://" .. USER .. "@127.0.0.1:" .. PORT .. "/" .. db
      return argv
    end
    t[#t + 1] = { name = "sqitch", db = "b_sqitch", peer = true,
      up = function(db) return lib.timed(sqitch(db, "deploy")) end,
      down = function(db)
        if count == n then return lib.timed(sqitch(db, "revert", "-y")) end
        return lib.timed(sqitch(db, "revert", "-y", "--to", "@HEAD^" .. count))
      end,
      status = function(db) return lib.timed(sqitch(db, "status")) end,
      noop = function(db) return lib.timed(sqitch(db, "deploy")) end }
  end
  return t
end

local function prepare_files(n)
  local dir = string.format("%s/n%d", WORK, n)
  local f = { dir = dir .. "/migrations", floor = dir .. "/floor.sql", onert = dir .. "/floor-1rt.sql",
              down = dir .. "/down.sql", sqitch = dir .. "/sqitch" }
  gen.migrations(f.dir, n)
  gen.floor_script(f.floor, n, false)
  if n <= C.onert_max then gen.floor_script(f.onert, n, true) end
  gen.down_script(f.down, n, math.min(100, n))
  if n <= C.sqitch_max and SQITCH ~= "" then gen.sqitch_project(f.sqitch, n, PSQL) end
  return f
end

-- Status, no-op up and the psql SELECT, interleaved, on a migrated database.
local function status_batch(res, tool, db, runs)
  for _ = 1, runs do
    if tool.moonshift then
      keep(res, "psql-select", lib.timed({ PSQL, "-X", "-d", db, "-c", STATUS_SQL }))
    end
    keep(res, "status", tool.status(db))
    keep(res, "noop", tool.noop(db))
  end
end

local function run_sizes(R)
  R.sizes = {}
  for _, n in ipairs(C.sizes) do
    lib.log("workload 1-2: %d migrations: writing the files", n)
    local files = prepare_files(n)
    local tools = tools_for(n, files)
    local S = { n = n, up = {}, down = {}, status = {}, peer_status = {}, tools = {}, rounds = C.rounds[n] }
    for _, t in ipairs(tools) do S.tools[#S.tools + 1] = t.name end
    -- psql, psql-1rt and moonshift run next to each other, in an order that
    -- rotates each round; the peers come after them.
    local core, peers = {}, {}
    for _, t in ipairs(tools) do table.insert(t.peer and peers or core, t) end
    for r = 1, C.rounds[n] do
      local order = rotated(core, r - 1)
      for _, t in ipairs(peers) do order[#order + 1] = t end
      for _, t in ipairs(order) do
        lib.log("  n=%d round %d/%d: %s up", n, r, C.rounds[n], t.name)
        lib.fresh_db(t.db)
        keep(S.up, t.name, t.up(t.db))
        if t.status then
          local runs = t.peer and C.peer_status_runs or C.status_runs
          S.peer_status[t.name] = S.peer_status[t.name] or {}
          status_batch(t.moonshift and S.status or S.peer_status[t.name], t, t.db, runs)
        end
        if t.moonshift and r == 1 then
          S.schema_dump = string.format("%s/schema-%d.sql", WORK, n)
          lib.sh(lib.cmdline({ lib.pg_bindir .. "/pg_dump", "-s", "-d", t.db, "-f", S.schema_dump }))
        end
        if t.down then
          lib.checkpoint()
          keep(S.down, t.name, t.down(t.db))
        end
      end
    end
    for _, t in ipairs(tools) do lib.drop_db(t.db) end
    R.sizes[#R.sizes + 1] = S
  end
end

---------------------------------------------------------------------------
-- 4: a pg_dump file applied as one migration

local function run_dump(R)
  R.dump = {}
  for _, scale in ipairs(C.dump_scales) do
    lib.log("workload 4: pgbench -i -s %d and pg_dump", scale)
    local path = string.format("%s/dump-s%d.sql", WORK, scale)
    local dir = string.format("%s/dump-s%d", WORK, scale)
    lib.fresh_db("b_pgbench")
    lib.sh(lib.cmdline({ lib.pg_bindir .. "/pgbench", "-i", "-q", "-s", tostring(scale), "b_pgbench" }))
    lib.sh(lib.cmdline({ lib.pg_bindir .. "/pg_dump", "-d", "b_pgbench", "-f", path }))
    lib.drop_db("b_pgbench")
    lib.sh("mkdir -p " .. lib.q(dir) .. " && ln -sf " .. lib.q(path) .. " " .. lib.q(dir .. "/0001_dump.sql"))
    local D = { scale = scale, bytes = tonumber((lib.sh("stat -c %s " .. lib.q(path)))), runs = {} }
    local tools = {
      { name = "psql", db = "b_restore_psql", run = function(db) return lib.timed(psql_file(db, path)) end },
      { name = "moonshift", db = "b_restore_ms",
        run = function(db) return lib.timed(moonshift(db, dir, "up")) end },
    }
    for r = 1, C.dump_rounds do
      for _, t in ipairs(rotated(tools, r - 1)) do
        lib.log("  -s %d round %d/%d: %s", scale, r, C.dump_rounds, t.name)
        lib.fresh_db(t.db)
        keep(D.runs, t.name, t.run(t.db))
        lib.drop_db(t.db)
      end
    end
    D.path = path
    R.dump[#R.dump + 1] = D
  end
end

---------------------------------------------------------------------------
-- 5: the splitter alone

local function split_file(label, path, kind)
  local xs, line = {}, nil
  for _ = 1, C.split_runs do
    line = lib.sh(lib.cmdline({ lib.bin .. "/splitbench", path, QUICK and "0.2" or "0.3" }))
    xs[#xs + 1] = tonumber(line:match("(%S+)%s*$"))   -- MB/s of CPU time
  end
  local bytes, pieces, stmts = line:match("^(%d+) (%d+) (%d+)")
  return { label = label, kind = kind, bytes = tonumber(bytes), pieces = tonumber(pieces),
           statements = tonumber(stmts), mbps = xs }
end

-- Schema dumps at three sizes, each about 10x the last: those of the two
-- largest numbers of migrations, and the largest repeated ten times (a file
-- of 10 kB would stay in the CPU's cache and flatter the smallest size).
local function run_split(R)
  R.split = {}
  local dumps = {}
  for _, S in ipairs(R.sizes or {}) do
    if S.schema_dump then dumps[#dumps + 1] = S end
  end
  for i = math.max(1, #dumps - 1), #dumps do
    local S = dumps[i]
    lib.log("workload 5: splitter on the schema dump of %d tables", S.n)
    R.split[#R.split + 1] = split_file(string.format("schema dump, %s tables", lib.num(S.n)),
                                       S.schema_dump, "schema")
  end
  if #dumps > 0 then
    local S, ten = dumps[#dumps], WORK .. "/schema-x10.sql"
    lib.sh("for i in 1 2 3 4 5 6 7 8 9 10; do cat " .. lib.q(S.schema_dump) .. "; done > " .. lib.q(ten))
    lib.log("workload 5: splitter on 10 copies of the schema dump of %d tables", S.n)
    R.split[#R.split + 1] = split_file(string.format("schema dump, %s tables, 10 times over", lib.num(S.n)),
                                       ten, "schema")
    os.remove(ten)
  end
  for _, D in ipairs(R.dump or {}) do
    lib.log("workload 5: splitter on the pgbench dump -s %d", D.scale)
    R.split[#R.split + 1] = split_file(string.format("pgbench data dump -s %d (COPY)", D.scale), D.path, "data")
  end
  local one = WORK .. "/one-statement.sql"
  lib.log("workload 5: writing the synthetic files")
  gen.one_statement(one, C.one_mb * 1000000)
  R.split[#R.split + 1] = split_file(string.format("one %d MB INSERT statement", C.one_mb), one, "flat")
  os.remove(one)
  local tiny = WORK .. "/tiny.sql"
  gen.tiny_statements(tiny, C.tiny)
  R.split[#R.split + 1] = split_file(string.format("%s statements `SELECT 1;`", lib.num(C.tiny)), tiny, "flat")
  os.remove(tiny)
  local nest = WORK .. "/nested.sql"
  gen.nested_comments(nest, C.nest_depth, C.nest_blocks)
  R.split[#R.split + 1] = split_file(string.format("%d comments nested %s deep", C.nest_blocks,
                                                   lib.num(C.nest_depth)), nest, "flat")
  os.remove(nest)
end

---------------------------------------------------------------------------
-- 6: a Lua data migration against the same batches sent by psql

local function run_lua(R)
  local dir, script = WORK .. "/lua-update", WORK .. "/lua-update.sql"
  gen.lua_update(dir, script, C.update_rows, C.batch)
  local L = { rows = C.update_rows, batch = C.batch, runs = {} }
  local function setup(db)
    lib.fresh_db(db)
    lib.psql_c(db, "CREATE TABLE big (id bigint PRIMARY KEY, a int, b text)")
    lib.psql_c(db, string.format("INSERT INTO big SELECT g, g %% 1000, 'initial ' || g " ..
                                 "FROM generate_series(1, %d) g", C.update_rows))
    lib.psql_c(db, "VACUUM (FREEZE, ANALYZE) big")
    lib.checkpoint()
  end
  local tools = {
    { name = "psql", db = "b_update_psql", run = function(db) return lib.timed(psql_file(db, script)) end },
    { name = "moonshift", db = "b_update_ms", run = function(db) return lib.timed(moonshift(db, dir, "up")) end },
  }
  for r = 1, C.update_rounds do
    for _, t in ipairs(rotated(tools, r - 1)) do
      lib.log("workload 6: round %d/%d: %s", r, C.update_rounds, t.name)
      setup(t.db)
      keep(L.runs, t.name, t.run(t.db))
      lib.drop_db(t.db)
    end
  end
  R.lua = L
end

---------------------------------------------------------------------------

local REPLAY = os.getenv("BENCH_REPLAY")
local R
if REPLAY and REPLAY ~= "" then
  R = dofile(REPLAY)
  C, QUICK, ONLY = R.config, R.config.quick, R.only
else
  R = { config = C, started = os.time(), errors = {}, work = WORK,
        dbmate = DBMATE, sqitch = SQITCH, ms = MS, only = ONLY }
  R.env = report.environment(MS, PSQL, DBMATE, SQITCH)
end

local steps = {
  { "up", "1-3: up, down, status, no-op up", run_sizes },
  { "lua", "6: Lua data migration", run_lua },
  { "dump", "4: pg_dump file as one migration", run_dump },
  { "split", "5: splitter", run_split },
}
for _, s in ipairs(steps) do
  if not REPLAY and wanted(s[1]) then
    local t0 = os.time()
    local ok, err = pcall(s[3], R)
    if not ok then
      lib.log("workload %s FAILED: %s", s[2], tostring(err))
      R.errors[#R.errors + 1] = { what = s[2], err = tostring(err) }
    end
    lib.log("workload %s took %d s", s[2], os.time() - t0)
  end
end
if not REPLAY then
  R.finished = os.time()
  R.load_end = report.loadavg()
  lib.sh("mkdir -p build/bench")
  lib.write("build/bench/results.lua", "return " .. lib.serialize(R) .. "\n")
end

local summary, doc = report.build(R)
print(summary)
local full = not QUICK and (not ONLY or ONLY == "")
local out = full and "docs/benchmarks.md" or "build/bench/benchmarks.md"
local keep_section = report.profile_section(lib.read("docs/benchmarks.md"))
lib.write(out, doc .. keep_section)
lib.log("wrote %s (%d s in all)", out, R.finished - R.started)
if #R.errors > 0 then os.exit(1) end
