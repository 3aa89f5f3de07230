-- bench/report.lua: turns the figures bench/bench.lua collected into the
-- summary table printed at the end and docs/benchmarks.md.
local lib = require("lib")

local P = {}

local function trim(s) return (s or ""):gsub("^%s+", ""):gsub("%s+$", "") end

local function try_sh(cmd)
  local ok, out = pcall(lib.sh, cmd)
  return ok and trim(out) or nil
end

function P.loadavg()
  return trim((lib.read("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)"))
end

function P.environment(ms, psql, dbmate, sqitch)
  local e = {}
  e.date = os.date("!%Y-%m-%d %H:%M UTC")
  e.nproc = try_sh("nproc")
  local mem = (lib.read("/proc/meminfo") or ""):match("MemTotal:%s+(%d+)")
  e.mem = mem and string.format("%.1f GiB", tonumber(mem) / 1024 / 1024) or "?"
  e.cpu = trim((lib.read("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)")) or "?"
  e.kernel = try_sh("uname -sr")
  e.os = trim((lib.read("/etc/os-release") or ""):match('PRETTY_NAME="([^"]+)"'))
  e.moonshift = try_sh(lib.q(ms) .. " --version")
  e.commit = try_sh("git rev-parse --short HEAD")
  local dirty = try_sh("git status --porcelain -- src lua Makefile")
  if e.commit and dirty and dirty ~= "" then e.commit = e.commit .. " plus uncommitted changes to src/, lua/ or the Makefile" end
  e.psql = try_sh(lib.q(psql) .. " --version")
  e.server = try_sh(lib.cmdline({ psql, "-X", "-At", "-c", "SELECT version()" }))
  e.settings = try_sh(lib.cmdline({ psql, "-X", "-At", "-F", "=", "-R", ", ", "-c",
    "SELECT name, current_setting(name) FROM pg_settings WHERE name IN " ..
    "('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_wal_size', 'wal_level') ORDER BY name" }))
  e.dbmate = dbmate ~= "" and try_sh(lib.q(dbmate) .. " --version") or nil
  e.sqitch = sqitch ~= "" and try_sh(lib.q(sqitch) .. " --version") or nil
  e.load_start = P.loadavg()
  return e
end

---------------------------------------------------------------------------

local function st(xs) return xs and lib.stats(xs) end
local function wall(rec, name) return rec and rec[name] and rec[name].wall end
local function max_of(...)
  local m
  for _, list in ipairs({ ... }) do
    for _, x in ipairs(list or {}) do m = math.max(m or x, x) end
  end
  return m
end

local function verdict(ok)
  if ok == nil then return "n/a" end
  return ok and "MET" or "NOT MET"
end

-- Growth factor per 10x between (n1, t1) and (n2, t2).
local function per10x(n1, t1, n2, t2)
  return (t2 / t1) ^ (1 / math.log(n2 / n1, 10))
end
-- Worse than linear: grows more than 10^1.1 (12.6x) per 10x.
local WORSE = 10 ^ 1.1

local function ms_range(xs) return lib.range(st(xs), 1000) end

function P.build(R)
  local C = R.config
  local rows, doc = {}, {}
  local function target(id, what, ms, base, measured, tgt, ok)
    rows[#rows + 1] = { id, what, ms or "–", base or "–", measured or "–", tgt, verdict(ok) }
  end
  local function add(s) doc[#doc + 1] = s end

  local sizes = R.sizes or {}
  local mid = sizes[math.min(2, #sizes)]
  local big = sizes[#sizes]

  -- 1. up and down
  if mid then
    local r = st(lib.ratios(wall(mid.up, "moonshift"), wall(mid.up, "psql")))
    target("1", string.format("up, %s migrations", lib.num(mid.n)),
           ms_range(wall(mid.up, "moonshift")) .. " ms", "psql " .. ms_range(wall(mid.up, "psql")) .. " ms",
           lib.ratio(r), "≤ 0.90x", r and r.median <= 0.90)
    local d = st(lib.ratios(wall(mid.down, "moonshift"), wall(mid.down, "psql")))
    target("1", string.format("down %d of %s", math.min(100, mid.n), lib.num(mid.n)),
           ms_range(wall(mid.down, "moonshift")) .. " ms", "psql " .. ms_range(wall(mid.down, "psql")) .. " ms",
           lib.ratio(d), "≤ 1.0x", d and d.median <= 1.0)
    -- 2. status and no-op up
    for _, cmd in ipairs({ "status", "noop" }) do
      local x = st(lib.ratios(wall(mid.status, cmd), wall(mid.status, "psql-select")))
      target("2", string.format("%s, %s applied", cmd == "noop" and "up, nothing pending" or "status",
                                lib.num(mid.n)),
             ms_range(wall(mid.status, cmd)) .. " ms", "psql " .. ms_range(wall(mid.status, "psql-select")) .. " ms",
             lib.ratio(x), "≤ 1.2x", x and x.median <= 1.2)
    end
  end
  if big then
    for _, cmd in ipairs({ "status", "noop" }) do
      local x = st(wall(big.status, cmd))
      target("2", string.format("%s, %s applied", cmd == "noop" and "up, nothing pending" or "status",
                                lib.num(big.n)),
             ms_range(wall(big.status, cmd)) .. " ms", "psql " .. ms_range(wall(big.status, "psql-select")) .. " ms",
             x and (lib.num(x.median * 1000) .. " ms"), "< 50 ms", x and x.median < 0.050)
    end
  end
  -- 3. peak RSS
  if #sizes > 0 then
    local up_ms, up_psql, st_ms, st_psql
    for _, S in ipairs(sizes) do
      up_ms = max_of({ up_ms }, S.up.moonshift and S.up.moonshift.rss, S.down.moonshift and S.down.moonshift.rss)
      up_psql = max_of({ up_psql }, S.up.psql and S.up.psql.rss, S.down.psql and S.down.psql.rss)
      st_ms = max_of({ st_ms }, S.status.status and S.status.status.rss, S.status.noop and S.status.noop.rss)
      st_psql = max_of({ st_psql }, S.status["psql-select"] and S.status["psql-select"].rss)
    end
    local span = string.format("N = %s–%s", lib.num(sizes[1].n), lib.num(sizes[#sizes].n))
    target("3", "peak RSS, up and down, " .. span, lib.mib(up_ms) .. " MiB", "psql " .. lib.mib(up_psql) .. " MiB",
           lib.mib(up_ms) .. " MiB", "< 8 MiB", up_ms and up_ms < 8 * 1024)
    target("3", "peak RSS, status and no-op up, " .. span, lib.mib(st_ms) .. " MiB",
           "psql " .. lib.mib(st_psql) .. " MiB", lib.mib(st_ms) .. " MiB", "< 8 MiB", st_ms and st_ms < 8 * 1024)
  end
  -- 4. pg_dump file
  for i, D in ipairs(R.dump or {}) do
    local mb = D.bytes / 1e6
    if i == #R.dump then
      local x = st(lib.ratios(wall(D.runs, "moonshift"), wall(D.runs, "psql")))
      target("4", string.format("pg_dump file as one migration, %s MB", lib.num(mb)),
             ms_range(wall(D.runs, "moonshift")) .. " ms", "psql " .. ms_range(wall(D.runs, "psql")) .. " ms",
             lib.ratio(x), "≤ 1.02x", x and x.median <= 1.02)
    end
    local rss = max_of(D.runs.moonshift and D.runs.moonshift.rss)
    local prss = max_of(D.runs.psql and D.runs.psql.rss)
    target("4", string.format("peak RSS, pg_dump file of %s MB", lib.num(mb)), lib.mib(rss) .. " MiB",
           "psql " .. lib.mib(prss) .. " MiB", lib.mib(rss) .. " MiB", "< 16 MiB", rss and rss < 16 * 1024)
  end
  -- 5. splitter
  local schema_big
  for _, s in ipairs(R.split or {}) do
    if s.kind == "schema" and not s.label:find("times over") then schema_big = s end
  end
  for _, s in ipairs(R.split or {}) do
    if s == schema_big or s.kind == "flat" then
      local x = st(s.mbps)
      target("5", "splitter: " .. s.label, lib.range(x) .. " MB/s", "–",
             x and (lib.num(x.median) .. " MB/s"), "≥ 300 MB/s", x and x.median >= 300)
    end
  end
  -- 6. Lua data migration
  if R.lua then
    local L = R.lua
    local x = st(lib.ratios(wall(L.runs, "moonshift"), wall(L.runs, "psql")))
    target("6", string.format("Lua: UPDATE %s rows in batches of %s", lib.num(L.rows), lib.num(L.batch)),
           ms_range(wall(L.runs, "moonshift")) .. " ms", "psql " .. ms_range(wall(L.runs, "psql")) .. " ms",
           lib.ratio(x), "≤ 1.10x", x and x.median <= 1.10)
  end
  -- 7. growth
  local growth = {}
  local function series(label, pts, info, unit)
    if #pts < 2 then return end
    local f, worst = {}, 0
    for i = 2, #pts do
      local g = per10x(pts[i - 1][1], pts[i - 1][2], pts[i][1], pts[i][2])
      f[#f + 1] = string.format("%.1fx", g)
      worst = math.max(worst, g)
    end
    local vals = {}
    for i, p in ipairs(pts) do vals[i] = lib.num(p[1]) .. (unit or "") .. ": " .. lib.num(p[2] * 1000) .. " ms" end
    growth[#growth + 1] = { label, table.concat(vals, ", "), table.concat(f, ", "),
                            worst > WORSE and "**worse than linear**" or "linear or better" }
    if not info then
      target("7", "growth: " .. label, table.concat(f, ", ") .. " per 10x", "–",
             string.format("%.1fx", worst), "≤ 10x per 10x", worst <= WORSE)
    end
  end
  local function size_series(label, get, info)
    local pts = {}
    for _, S in ipairs(sizes) do
      local x = st(get(S))
      if x then pts[#pts + 1] = { S.n, x.median } end
    end
    series(label, pts, info)
  end
  size_series("moonshift up", function(S) return wall(S.up, "moonshift") end)
  size_series("psql up (the floor; for comparison)", function(S) return wall(S.up, "psql") end, true)
  size_series("psql SELECT of the tracking table (for comparison)",
              function(S) return wall(S.status, "psql-select") end, true)
  size_series("moonshift status", function(S) return wall(S.status, "status") end)
  size_series("moonshift up, nothing pending", function(S) return wall(S.status, "noop") end)
  do
    local pts = {}
    for _, s in ipairs(R.split or {}) do
      if s.kind == "schema" then pts[#pts + 1] = { s.bytes / 1e6, s.bytes / 1e6 / lib.stats(s.mbps).median } end
    end
    series("splitter on schema dumps (CPU time per pass)", pts, false, " MB")
  end

  -------------------------------------------------------------------------
  local E = R.env
  local header = { "#", "workload", "moonshift", "baseline", "measured", "target", "result" }
  local met, total = 0, 0
  for _, r in ipairs(rows) do
    if r[7] ~= "n/a" then total = total + 1 end
    if r[7] == "MET" then met = met + 1 end
  end
  local summary = lib.text_table(header, rows) ..
    string.format("\n%d of %d targets met%s.", met, total, C.quick and " (BENCH_QUICK=1: small sizes)" or "")

  add("# moonshift benchmarks\n")
  add("Written by `make bench` (bench/run.sh); only the section \"What the profile showed\" " ..
      "at the end is written by hand, and `make bench` keeps it.\n")
  add(string.format("Run of %s, %s mode, %d s in all. Sizes: %s migrations.\n", E.date,
                    C.quick and "**quick** (BENCH_QUICK=1)" or "full",
                    R.finished - R.started, table.concat((function()
                      local t = {}
                      for i, n in ipairs(C.sizes) do t[i] = lib.num(n) end
                      return t end)(), ", ")))
  add("## Machine and versions\n")
  add(lib.md_table({ "", "" }, {
    { "machine", string.format("%s cores, %s, %s", E.nproc or "?", E.mem, E.cpu) },
    { "system", string.format("%s, kernel %s", E.os or "?", E.kernel or "?") },
    { "load average (1, 5, 15 min)", string.format("%s at the start, %s at the end", E.load_start, R.load_end) },
    { "moonshift", string.format("%s (commit %s)", E.moonshift or "?", E.commit or "?") },
    { "psql", E.psql or "?" },
    { "server", (E.server or "?"):gsub(",.*", "") .. "; " .. (E.settings or "") },
    { "dbmate", E.dbmate or "not installed: skipped (bench/deps.sh installs it from npm)" },
    { "sqitch", E.sqitch or "not installed: skipped (bench/deps.sh installs the Debian package)" },
  }))
  add("")
  add("## Targets\n")
  add(lib.md_table(header, rows))
  add(string.format("\n%d of %d targets met.\n", met, total))
  if #R.errors > 0 then
    add("**Failed workloads in this run:**\n")
    for _, e in ipairs(R.errors) do add("- " .. e.what .. ": `" .. e.err:gsub("\n", " "):sub(1, 400) .. "`") end
    add("")
  end
  add([[## How the figures are taken

- The server is a throwaway PostgreSQL 15 (`spec/support/pgtmp.sh`): stock
  settings, fsync and synchronous_commit on. Every client reaches it over TCP
  127.0.0.1; psql is `/usr/lib/postgresql/15/bin/psql`, not Debian's wrapper.
- `bench/timeit` (a small C program) starts each command, with output to
  /dev/null, and reads the wall time around fork and `wait4`, and the peak
  RSS from `wait4` (`ru_maxrss`, the figure GNU time prints as `%M`).
- Each run that changes the database gets a new database and a `CHECKPOINT`
  first, outside the timed part.
- Runs are taken in rounds: one run of every tool per round. psql, psql-1rt
  and moonshift run next to each other in an order that rotates from round
  to round; the peers follow. "x psql" is the median over rounds of
  moonshift's time divided by the psql baseline's time **in the same round**
  ([min–max] of those ratios in brackets). Status and no-op up runs are
  interleaved one by one with the psql `SELECT` and paired the same way.
- Figures are medians with [min–max]. ms/migration is the median divided by
  the number of migrations.
- The disk of this VM has uneven fsync latency, and other work on the machine
  shows in the load average above: compare ratios, not absolute times across
  runs.
]])

  -- workload 1 and 2 details
  if #sizes > 0 then
    add("## 1. up and down\n")
    add("Each migration `NNNN_t.sql`: `CREATE TABLE tN (id bigserial PRIMARY KEY, a int, b text); " ..
        "CREATE INDEX tN_a ON tN (a);`, down `DROP TABLE tN;`. Baselines: **psql** runs one script in " ..
        "one session, per migration `BEGIN; CREATE TABLE; CREATE INDEX; INSERT INTO moonshift_migrations; " ..
        "COMMIT;`, one statement per round trip (the floor); **psql-1rt** sends each migration as one " ..
        "line joined by `\\;` (one round trip). The baselines' tracking table has the columns of moonshift's. " ..
        "Down: moonshift `down 100` against psql running 100 `BEGIN; DROP TABLE; DELETE; COMMIT;`.\n")
    local up_rows = {}
    for _, S in ipairs(sizes) do
      for _, name in ipairs(S.tools) do
        local rec = S.up[name]
        if rec then
          local x = st(rec.wall)
          local rf = st(lib.ratios(rec.wall, wall(S.up, "psql")))
          local r1 = st(lib.ratios(rec.wall, wall(S.up, "psql-1rt")))
          up_rows[#up_rows + 1] = { lib.num(S.n), name, lib.range(x, 1000), lib.num(x.median * 1000 / S.n),
            lib.ratio(rf), lib.ratio(r1), lib.mib(max_of(rec.rss)), lib.num(st(rec.cpu).median * 1000) }
        end
      end
    end
    add(lib.md_table({ "N", "tool", "up ms", "ms/migration", "x psql", "x psql-1rt", "peak RSS MiB", "client CPU ms" },
                     up_rows, "rlrrrrrr"))
    add("")
    local down_rows = {}
    for _, S in ipairs(sizes) do
      for _, name in ipairs(S.tools) do
        local rec = S.down[name]
        if rec then
          local x = st(rec.wall)
          local count = math.min(100, S.n)
          down_rows[#down_rows + 1] = { lib.num(S.n), tostring(count), name, lib.range(x, 1000),
            lib.num(x.median * 1000 / count), lib.ratio(st(lib.ratios(rec.wall, wall(S.down, "psql")))),
            lib.mib(max_of(rec.rss)), lib.num(st(rec.cpu).median * 1000) }
        end
      end
    end
    add(lib.md_table({ "N", "rolled back", "tool", "down ms", "ms/migration", "x psql", "peak RSS MiB",
                       "client CPU ms" }, down_rows, "rrlrrrrr"))
    add("\ndbmate rolls back one migration per run, so its down is that many runs; sqitch reverts " ..
        string.format("with `--to @HEAD^100`. dbmate runs up to %s migrations, sqitch up to %s, psql-1rt " ..
                      "up to %s. ", lib.num(C.peer_max), lib.num(C.sqitch_max or C.peer_max),
                      lib.num(C.onert_max or C.peer_max)) ..
        "Rounds per size: " .. table.concat((function()
          local t = {}
          for _, S in ipairs(sizes) do t[#t + 1] = lib.num(S.n) .. ": " .. S.rounds end
          return t end)(), ", ") .. ".\n")

    add("## 2. status and up with nothing pending\n")
    add("Baseline: `psql -X -c \"" .. "SELECT version, name, kind, applied_at FROM moonshift_migrations " ..
        "ORDER BY version\"` on the same database, run alternately with moonshift's commands.\n")
    local srows = {}
    for _, S in ipairs(sizes) do
      local base = wall(S.status, "psql-select")
      for _, cmd in ipairs({ "psql-select", "status", "noop" }) do
        local rec = S.status[cmd]
        if rec then
          srows[#srows + 1] = { lib.num(S.n), cmd == "noop" and "moonshift up (nothing pending)" or
            cmd == "status" and "moonshift status" or "psql SELECT", lib.range(st(rec.wall), 1000),
            cmd == "psql-select" and "1" or lib.ratio(st(lib.ratios(rec.wall, base))),
            lib.mib(max_of(rec.rss)), lib.num(st(rec.cpu).median * 1000) }
        end
      end
      for _, name in ipairs(S.tools) do
        local rec = S.peer_status[name]
        if rec and rec.status and name ~= "moonshift" then
          local b = st(base)
          for _, cmd in ipairs({ "status", "noop" }) do
            local x = st(rec[cmd].wall)
            srows[#srows + 1] = { lib.num(S.n), name .. (cmd == "noop" and " up (nothing pending)" or " status"),
              lib.range(x, 1000), b and string.format("%.2fx (of medians)", x.median / b.median) or "–",
              lib.mib(max_of(rec[cmd].rss)), lib.num(st(rec[cmd].cpu).median * 1000) }
          end
        end
      end
    end
    add(lib.md_table({ "N applied", "command", "ms", "x psql", "peak RSS MiB", "client CPU ms" }, srows, "rlrrrr"))
    add(string.format("\nmoonshift and psql: %d runs each per round; peers: %d.\n", C.status_runs, C.peer_status_runs))
  end

  if R.dump and #R.dump > 0 then
    add("## 4. A pg_dump file as one migration\n")
    add("`pgbench -i -s S`, then `pg_dump` (plain); the file is the only migration of a folder " ..
        "(`moonshift up`, one transaction) against `psql -X -q -v ON_ERROR_STOP=1 -f dump.sql` " ..
        "(autocommit), each into a new database.\n")
    local drows = {}
    for _, D in ipairs(R.dump) do
      for _, name in ipairs({ "psql", "moonshift" }) do
        local rec = D.runs[name]
        if rec then
          local x = st(rec.wall)
          drows[#drows + 1] = { tostring(D.scale), lib.num(D.bytes / 1e6), name, lib.range(x, 1000),
            lib.num(D.bytes / 1e6 / x.median),
            name == "psql" and "1" or lib.ratio(st(lib.ratios(rec.wall, wall(D.runs, "psql")))),
            lib.mib(max_of(rec.rss)), lib.num(st(rec.cpu).median * 1000) }
        end
      end
    end
    add(lib.md_table({ "-s", "file MB", "tool", "ms", "MB/s", "x psql", "peak RSS MiB", "client CPU ms" }, drows,
                     "rrlrrrrr"))
    add(string.format("\n%d rounds per size.\n", C.dump_rounds))
  end

  if R.split and #R.split > 0 then
    add("## 5. The statement splitter alone\n")
    add("`bench/splitbench` (built against build/libmoonshift.a) maps the file, splits it once " ..
        "untimed, then again and again with `ms_split_init`/`ms_split_next` for at least 0.3 s of " ..
        "CPU time. MB/s is 10^6 bytes per second of the process's CPU time (on a shared machine " ..
        "the wall clock also counts time other processes held the CPU), " ..
        string.format("median of %d runs.\n", C.split_runs))
    local xrows = {}
    for _, s in ipairs(R.split) do
      local x = st(s.mbps)
      xrows[#xrows + 1] = { s.label, lib.num(s.bytes / 1e6), lib.num(s.statements), lib.range(x),
                            lib.num(x.median * 1e6 / s.bytes * s.statements / 1e6) }
    end
    add(lib.md_table({ "input", "MB", "statements", "MB/s", "M statements/s" }, xrows, "lrrrr"))
    add("")
  end

  if R.lua then
    local L = R.lua
    add("## 6. A Lua data migration\n")
    add(string.format("Table `big (id bigint PRIMARY KEY, a int, b text)` with %s rows, vacuumed; the " ..
        "migration runs `db:exec(\"UPDATE big SET b = $1 WHERE id BETWEEN $2 AND $3\", ...)` %d times " ..
        "(batches of %s) in its transaction; psql runs the same %d UPDATEs with literals between " ..
        "BEGIN and COMMIT.\n", lib.num(L.rows), L.rows // L.batch, lib.num(L.batch), L.rows // L.batch))
    local lrows = {}
    for _, name in ipairs({ "psql", "moonshift" }) do
      local rec = L.runs[name]
      if rec then
        lrows[#lrows + 1] = { name, lib.range(st(rec.wall), 1000),
          name == "psql" and "1" or lib.ratio(st(lib.ratios(rec.wall, wall(L.runs, "psql")))),
          lib.mib(max_of(rec.rss)), lib.num(st(rec.cpu).median * 1000) }
      end
    end
    add(lib.md_table({ "tool", "ms", "x psql", "peak RSS MiB", "client CPU ms" }, lrows, "lrrrr"))
    add(string.format("\n%d rounds.\n", C.update_rounds))
  end

  if #growth > 0 then
    add("## 7. Growth\n")
    add("Median time at each size and the growth factor per 10x more input " ..
        "((t2/t1)^(1/log10(n2/n1))): 10x is linear; above 12.6x (an exponent over 1.1) is " ..
        "flagged as worse than linear.\n")
    add(lib.md_table({ "series", "median at each size", "growth per 10x", "" }, growth))
    add("")
  end
  return summary, table.concat(doc, "\n") .. "\n"
end

-- The hand-written section of an existing docs/benchmarks.md, kept as it is.
function P.profile_section(old)
  local title = "## What the profile showed"
  local s = old and old:find(title, 1, true)
  if not s then
    return title .. "\n\n(Not written yet: profile with `sh bench/profile.sh` and write here where " ..
      "moonshift's time goes.)\n"
  end
  return old:sub(s)
end

return P
