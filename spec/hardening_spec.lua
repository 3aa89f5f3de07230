-- Hardening: faults injected against the real test server (SIGKILL at random
-- points, the server stopped under a run, connection slots used up, wrong
-- passwords, a host that never answers, missing privileges, timeouts and
-- Lua limits, a history table that cannot be written), bad inputs that must
-- be refused before anything runs, unusual inputs that must work, and the
-- security of table names and passwords. docs/reliability.md lists every case
-- with its outcome.
--
-- In the asan pass (MS_BIN names build/asan/...) the two heavy cases, 10,000
-- migrations and a 500 MB file, skip themselves: they test scale, not memory
-- safety, and would take minutes under the sanitizers.
local H = require("spec_helper")
local now, sleep, cmd, exists, count, wait_for, advisory_locks = H.now, H.sleep, H.cmd, H.exists, H.count, H.wait_for, H.advisory_locks


local ASAN = (os.getenv("MS_BIN") or ""):find("asan") ~= nil
local IS_ROOT = (io.popen("id -u"):read("l")) == "0"

-- A tag of this run, for the names of roles (which live in the whole cluster,
-- shared by both passes).
local TAG = (io.popen("od -An -N3 -tx1 /dev/urandom | tr -d ' \\n'"):read("l"))




-- Versions in public.moonshift_migrations (an empty array when it does not exist).
local function versions(url, tbl) return H.versions(url, tbl) or {} end

-- Number of relations (tables, sequences, indexes, views) outside the system schemas.
local function user_relations(url)
  return count(url, "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    .. "where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')")
end



-- Sessions of database `name` other than the asking one.
local function other_sessions(name)
  return count(H.url(name), ("select count(*) from pg_stat_activity where datname = '%s' "
    .. "and pid <> pg_backend_pid()"):format(name))
end

local function end_sessions(name)
  H.sql(H.url(name), ("select pg_terminate_backend(pid) from pg_stat_activity where datname = '%s' "
    .. "and pid <> pg_backend_pid()"):format(name))
  wait_for(5, function() return other_sessions(name) == 0 end)
end

-- True once a session of `name` is running a statement containing `text`.
local function running(name, text)
  return count(H.url(name), ("select count(*) from pg_stat_activity where datname = '%s' and state = 'active' "
    .. "and query like '%%%s%%' and pid <> pg_backend_pid()"):format(name, text)) > 0
end


-- Lua pattern matching s literally.
local function lit(s) return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end

local function first_line(s) return s:match("^[^\n]*") end

-- A URL for `role` (with `password` when given) on database `name`.
local function role_url(role, name, password, query)
  local auth = password and (role .. ":" .. password) or role
  return ("postgres://%s@127.0.0.1:%s/%s%s"):format(auth, os.getenv("PGPORT"), name, query or "")
end

local function superuser_sql(query) return H.sql(os.getenv("MS_TEST_URL"), query) end

-- Runs fn with `line` at the top of the test server's pg_hba.conf, and puts
-- the file back afterwards whatever happens.
local function with_hba_line(line, fn)
  local hba = os.getenv("MS_PG_DATA") .. "/pg_hba.conf"
  local orig = assert(H.read(hba), "cannot read " .. hba)
  H.write(hba, line .. "\n" .. orig)
  superuser_sql("select pg_reload_conf()")
  local ok, err = pcall(fn)
  H.write(hba, orig)
  superuser_sql("select pg_reload_conf()")
  if not ok then error(err, 0) end
end

-- The server's own start and stop, as pgtmp.sh does them.
local function pg_ctl(args)
  local bindir = os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
  local run_as = IS_ROOT and "runuser -u postgres -- " or ""
  return H.sh(("cd %s && %ssetsid -w %s %s"):format(H.q(os.getenv("MS_PG_DIR")), run_as,
    H.q(bindir .. "/pg_ctl"), args), { timeout = 90 })
end

local function server_ready()
  local bindir = os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
  return H.sh(("%s -q -h 127.0.0.1 -p %s"):format(H.q(bindir .. "/pg_isready"), os.getenv("PGPORT"))).code == 0
end

local function start_server()
  if server_ready() then return end
  local opts = ("-p %s %s"):format(os.getenv("PGPORT"), os.getenv("MS_PG_OPTIONS") or "")
  pg_ctl(("start -w -t 60 -D %s -l %s -o %s"):format(H.q(os.getenv("MS_PG_DATA")),
    H.q(os.getenv("MS_PG_LOG")), H.q(opts)))
  assert(wait_for(60, server_ready), "the test server did not come back")
end

-- Peak RSS in kB of a command run under GNU time, or nil without /usr/bin/time.
local HAVE_TIME = os.execute("test -x /usr/bin/time") == true
local function run_measured(args, opts)
  local rss_file = H.tmpdir() .. "/rss"
  local all = { "-f", "%M", "-o", rss_file, H.bin }
  for _, a in ipairs(args) do all[#all + 1] = a end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.program = "/usr/bin/time"
  local res = H.run(all, o)
  res.rss_kb = tonumber((H.read(rss_file) or ""):match("(%d+)%s*$"))
  return res
end

------------------------------------------------------------------------------
describe("faults", function()
  it("keeps tracking table and schema in step through 20+ SIGKILLs at random points of a 50-migration run #timing", function()
    local files = {}
    for v = 1, 50 do
      local body = ("create table t_%d (id int);\ninsert into counter (v) values (%d);\n"):format(v, v)
      if v % 5 == 0 then body = body .. "select pg_sleep(0.05);\n" end
      files[("%03d_m%d.sql"):format(v, v)] = body
    end
    local dir = H.migrations(files)
    math.randomseed(os.time(), tonumber(TAG, 16))

    local url, name
    local function fresh()
      url, name = H.new_db()
      H.sql(url, "create table counter (v int not null)")
    end
    -- the tables t_N present, the tracked versions and the counter agree
    local function consistent()
      local tracked = versions(url)
      local tables = {}
      for i, r in ipairs(H.sql(url, "select substr(relname, 3) from pg_class where relkind = 'r' "
          .. "and relname ~ '^t_[0-9]+$' order by substr(relname, 3)::int")) do
        tables[i] = ("%03d"):format(tonumber(r[1]))
      end
      local t = {}
      for i, v in ipairs(tracked) do t[i] = ("%03d"):format(tonumber(v)) end
      assert.are.same(t, tables, "tables present <=> versions tracked")
      assert.are.equal(#tracked, count(url, "select count(*) from counter"), "counter rows = tracked count")
      assert.are.equal(#tracked, count(url, "select count(distinct v) from counter"), "nothing applied twice")
      return #tracked
    end

    fresh()
    local kills, runs, mid = 0, 0, 0
    while kills < 20 do
      runs = runs + 1
      assert(runs < 200, "too many runs without 20 kills")
      local h = H.spawn(cmd("up", url, dir), { timeout = 60 })
      sleep(math.random(20, 300) / 1000)
      local was_running = h:running()
      h:kill("KILL")
      local res = h:wait()
      if was_running and res.code == 137 then
        kills = kills + 1
        assert.are.equal("", res.err, "a killed runner writes no error")
      else
        assert.are.equal(0, res.code, res.err)
      end
      -- the server notices the dead client: no lock, no session left
      assert.is_true(wait_for(10, function() return advisory_locks(name) == 0 and other_sessions(name) == 0 end),
        "an advisory lock or a session of the killed runner remains")
      local n = consistent()
      if n > 0 and n < 50 then mid = mid + 1 end
      if n == 50 then fresh() end
    end
    -- most kills land part way through the 50 (19 of 20 in trial runs)
    assert.is_true(mid >= 5, ("only %d of %d kills landed part way through the run"):format(mid, kills))

    local res = H.run_ok(cmd("up", url, dir), "the database is at version 050")
    assert.are.equal("", res.err)
    assert.are.equal(50, consistent())
    H.run_ok(cmd("check", url, dir), "version 050")
  end)

  it("exits 3 when the server stops (immediate) mid-migration, claims nothing, and a rerun completes", function()
    local url, name = H.new_db()
    H.sql(url, "create table counter (v int not null)")
    local dir = H.migrations({
      ["001_a.sql"] = "create table a (id int);\ninsert into counter values (1);\n",
      ["002_b.sql"] = "create table b (id int);\ninsert into counter values (2);\nselect pg_sleep(5);\n",
      ["003_c.sql"] = "create table c (id int);\ninsert into counter values (3);\n",
    })
    finally(start_server)
    local h = H.spawn(cmd("up", url, dir), { timeout = 60 })
    assert.is_true(wait_for(15, function() return running(name, "pg_sleep") end), "migration 002 never started")
    local stop = pg_ctl(("stop -D %s -m immediate -w -t 30"):format(H.q(os.getenv("MS_PG_DATA"))))
    assert.are.equal(0, stop.code, stop.err)
    local res = h:wait(30)
    start_server()

    assert.are.equal(3, res.code, res.err)
    assert.matches("moonshift: [^\n]*/002_b%.sql:3: lost the connection to the database", res.err)
    assert.matches("migration 002 b failed", res.out .. res.err)
    assert.matches("^applied 001 a ", res.out)
    assert.not_matches("002", res.out)
    assert.not_matches("applied; the database", res.out)

    url = H.url(name)
    assert.is_true(wait_for(10, function()
      local ok = pcall(H.scalar, url, "select 1")
      return ok
    end), "cannot reach the restarted server")
    assert.are.same({ "1" }, versions(url))
    assert.is_false(exists(url, "b"))
    H.run_ok(cmd("up", url, dir), "the database is at version 003")
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.are.equal("1 1 1", table.concat({
      H.scalar(url, "select count(*) from counter where v = 1"),
      H.scalar(url, "select count(*) from counter where v = 2"),
      H.scalar(url, "select count(*) from counter where v = 3") }, " "))
    assert.matches("^moonshift: [^\n]*/002_b%.sql:3: lost the connection to the database", res.err)
  end)

  it("exits 3 naming the cause when the role's connection slots are used up", function()
    local url, name = H.new_db()
    local role = "lim_" .. TAG
    superuser_sql(("create role %s login connection limit 1"):format(role))
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    local holder = H.spawn({ "-X", "-q", "-d", role_url(role, name), "-c", "select pg_sleep(60)" },
      { program = H.psql, timeout = 90 })
    finally(function() holder:kill("KILL"); holder:wait(); end_sessions(name) end)
    assert.is_true(wait_for(10, function() return running(name, "pg_sleep") end), "psql did not connect")
    local res = H.run_fails(cmd("up", role_url(role, name), dir),
      "^moonshift: cannot connect to the database: [^\n]*too many connections for role[^\n]*\n$", 3)
    assert.are.equal("", res.out)
    assert.are.equal(0, user_relations(url))
  end)

  it("exits 3 on a wrong password (scram), saying authentication failed, never printing the password", function()
    local url, name = H.new_db()
    local role = "pw_" .. TAG
    superuser_sql(("create role %s login password 'Right-Pass-4242'"):format(role))
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    with_hba_line(("host all %s 127.0.0.1/32 scram-sha-256"):format(role), function()
      local res = H.run_fails(cmd("up", role_url(role, name, "Wrong-Pass-1717"), dir),
        "^moonshift: cannot connect to the database: [^\n]*password authentication failed for user[^\n]*\n$", 3)
      assert.are.equal("", res.out)
      assert.not_matches("Wrong%-Pass%-1717", res.out .. res.err)
      -- the right one works through the same rule
      H.run_ok(cmd("status", role_url(role, name, "Right-Pass-4242"), dir), "pending")
    end)
    assert.are.equal(0, user_relations(url))
  end)

  it("gives up after connect_timeout (about 2 s, exit 3) on a host that accepts but never answers", function()
    local port_file = H.tmpdir() .. "/port"
    local listener = H.spawn({ "-c", [[
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".t", "w").write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".t", sys.argv[1])
held = []
while True:
    held.append(s.accept())
]], port_file }, { program = "python3", timeout = 60 })
    finally(function() listener:kill("KILL"); listener:wait() end)
    assert.is_true(wait_for(10, function() return H.read(port_file) ~= nil end), "the listener did not start")
    local port = H.read(port_file)
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    local t0 = now()
    local res = H.run_fails(cmd("up", ("postgres://u@127.0.0.1:%s/db?connect_timeout=2"):format(port), dir),
      "^moonshift: cannot connect to the database: [^\n]*timeout expired[^\n]*\n$", 3)
    local took = now() - t0
    assert.are.equal("", res.out)
    assert.is_true(took >= 1.5 and took < 6, ("took %.1f s"):format(took))
  end)

  it("exits 3 for a database that does not exist, naming it", function()
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    local res = H.run_fails(cmd("up", H.url("no_db_" .. TAG), dir),
      "^moonshift: cannot connect to the database: [^\n]*database \"no_db_" .. TAG .. "\" does not exist\n$", 3)
    assert.are.equal("", res.out)
    assert.are.equal(0, count(os.getenv("MS_TEST_URL"),
      ("select count(*) from pg_database where datname = 'no_db_%s'"):format(TAG)))
  end)

  it("exits 1 when the role may not create the tracking table, creating nothing", function()
    local url, name = H.new_db()
    local role = "nocreate_" .. TAG
    superuser_sql(("create role %s login"):format(role))
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    local res = H.run_fails(cmd("up", role_url(role, name), dir),
      "^moonshift: cannot create the tracking tables in schema public: ERROR 42501 insufficient_privilege: "
      .. "permission denied for schema public\n$", 1)
    assert.are.equal("", res.out)
    -- another schema: the role may not create one either
    H.run_fails(cmd("up", role_url(role, name), dir, "--table", "mine.migs"),
      "^moonshift: cannot create the tracking tables in schema mine: [^\n]*42501", 1)
    assert.are.equal(0, user_relations(url))
    assert.is_nil(H.scalar(url, "select nspname from pg_namespace where nspname = 'mine'"))
    -- status reads without creating anything
    H.run_ok(cmd("status", role_url(role, name), dir), "001 +a +sql +pending")
    assert.are.equal(0, user_relations(url))
  end)

  it("rolls back a statement stopped by its statement_timeout (exit 1, 57014)", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_ok.sql"] = "create table ok (id int);\n",
      ["002_slow.sql"] = "-- migrate:up statement_timeout:200ms\ncreate table slow (id int);\nselect pg_sleep(5);\n",
    })
    local t0 = now()
    local res = H.run_fails(cmd("up", url, dir),
      "^moonshift: [^\n]*/002_slow%.sql:3: ERROR 57014 query_canceled: canceling statement due to statement timeout\n", 1)
    assert.is_true(now() - t0 < 4)
    assert.matches("^applied 001 ok ", res.out)
    assert.are.same({ "1" }, versions(url))
    assert.is_false(exists(url, "slow"))
  end)

  it("stops a Lua migration that loops forever at --lua-timeout 1s (exit 1), rolled back", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_loop.lua"] = 'return { up = function(db)\n  db:exec("create table looped (id int)")\n'
        .. '  while true do end\nend }\n',
    })
    local t0 = now()
    local res = H.run_fails(cmd("up", url, dir, "--lua-timeout", "1s"),
      "^moonshift: [^\n]*ran longer than its lua_timeout %(1%.0 s%) and was stopped\n", 1)
    local took = now() - t0
    assert.matches("001_loop%.lua:3:", res.err)
    assert.matches("migration 001 loop failed", res.out .. res.err)
    assert.is_true(took < 5, ("took %.1f s"):format(took))
    assert.is_false(exists(url, "looped"))
    assert.are.same({}, versions(url))
  end)

  it("stops a Lua migration that allocates without bound at --lua-memory 64MB (exit 1), rolled back, RSS bounded #rss", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_hog.lua"] = 'return { up = function(db)\n  db:exec("create table hog (id int)")\n'
        .. '  local t, i = {}, 0\n  while true do i = i + 1; t[i] = string.rep("x", 100) .. i end\nend }\n',
    })
    local args = cmd("up", url, dir, "--lua-memory", "64MB")
    local res = HAVE_TIME and run_measured(args) or H.run(args)
    assert.are.equal(1, res.code, res.err)
    assert.matches("^moonshift: [^\n]*/001_hog%.lua[^\n]*ran out of memory[^\n]*64 MB", res.err)
    assert.is_false(exists(url, "hog"))
    assert.are.same({}, versions(url))
    if res.rss_kb then
      -- ASan's shadow memory and quarantine add to the peak
      local limit = ASAN and 900 * 1024 or 256 * 1024
      assert.is_true(res.rss_kb < limit, ("peak RSS %d kB"):format(res.rss_kb))
    end
  end)

  local function disk_full_history(url)
    H.sql(url, [[
create function refuse_history() returns trigger language plpgsql as $$
begin
  raise exception 'could not extend file: No space left on device' using errcode = '53100';
end $$;
create trigger refuse_history before insert on moonshift_history
  for each row execute function refuse_history();
]])
  end

  it("reports a failing migration whose history row cannot be written (disk full): its error, then a warning", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_ok.sql"] = "create table ok (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    disk_full_history(url)
    H.write(dir .. "/002_bad.sql", "create table bad (id int);\nselect 1/0;\n")
    local res = H.run_fails(cmd("up", url, dir), nil, 1)
    assert.matches("moonshift: [^\n]*/002_bad%.sql:2: ERROR 22012 division_by_zero: division by zero\n", res.err)
    assert.matches("\nwarning: could not write the history row %(up failed bad%): ERROR 53100 disk_full", res.err)
    assert.are.same({ "1" }, versions(url))
    assert.is_false(exists(url, "bad"))
    assert.are.equal(1, count(url, "select count(*) from moonshift_history"))
    assert.matches("^moonshift: [^\n]*/002_bad%.sql:2: ERROR 22012", res.err)
  end)

  it("rolls back a succeeding migration whose history row cannot be written, and reports it failed (exit 1)", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_ok.sql"] = "create table ok (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    disk_full_history(url)
    H.write(dir .. "/002_good.sql", "create table good (id int);\n")
    local res = H.run_fails(cmd("up", url, dir), "002_good%.sql[^\n]*ERROR 53100 disk_full", 1)
    assert.matches("migration 002 good failed", res.out .. res.err)
    assert.not_matches("applied 002", res.out)
    -- tracking table and schema agree: neither has 002
    assert.are.same({ "1" }, versions(url))
    assert.is_false(exists(url, "good"))
    H.run_fails(cmd("check", url, dir), "pending", 5)
  end)
end)

------------------------------------------------------------------------------
describe("bad inputs", function()
  local OK = { ["001_ok.sql"] = "create table ran_001 (id int);\n" }
  local cases = {
    { "two up markers", { ["002_bad.sql"] = "-- migrate:up\ncreate table x1 (id int);\n-- migrate:up\ncreate table x2 (id int);\n" },
      "/002_bad%.sql:3: a second %-%- migrate:up marker %(the first is on line 1%)" },
    { "a down marker before the up marker", { ["002_bad.sql"] = "-- migrate:down\ndrop table x;\n-- migrate:up\ncreate table x (id int);\n" },
      "/002_bad%.sql:3: %-%- migrate:up must come before %-%- migrate:down %(line 1%)" },
    { "an unknown marker option", { ["002_bad.sql"] = "-- migrate:up retries:3\ncreate table x (id int);\n" },
      "/002_bad%.sql:1: unknown marker option 'retries:3'" },
    { "a mistyped marker", { ["002_bad.sql"] = "-- migrate:up\ncreate table x (id int);\n-- migrate:dwon\ndrop table x;\n" },
      "/002_bad%.sql:3: '%-%- migrate:dwon' is not a marker" },
    { "invalid UTF-8 in the body", { ["002_bad.sql"] = "create table x (id int);\nselect 'caf\xe9';\n" },
      "/002_bad%.sql:2:%d+: invalid UTF%-8 %(byte 0xE9%)" },
    { "a name with spaces", { ["002_bad name.sql"] = "create table x (id int);\n" },
      "/002_bad name%.sql: the name may contain only ASCII letters", folder = true },
    { "a name with unicode", { ["002_caf\xc3\xa9.sql"] = "create table x (id int);\n" },
      "/002_caf\xc3\xa9%.sql: the name may contain only ASCII letters", folder = true },
    { "a version over 64 bits", { ["99999999999999999999_big.sql"] = "create table x (id int);\n" },
      "/99999999999999999999_big%.sql: the version does not fit in a 64%-bit integer", folder = true },
    { "version 0", { ["0_zero.sql"] = "create table x (id int);\n" },
      "/0_zero%.sql: version 0 is reserved", folder = true },
    { "a Lua file that returns nothing", { ["002_bad.lua"] = "local x = 1\n" },
      "/002_bad%.lua: the file returned nothing instead of a table" },
    { "a Lua file that returns a string", { ["002_bad.lua"] = "return 'up'\n" },
      "/002_bad%.lua: the file returned a string instead of a table" },
    { "a Lua file whose up is not a function", { ["002_bad.lua"] = "return { up = 'create table x (id int)' }\n" },
      "/002_bad%.lua: 'up' is not a function" },
    { "a Lua file with a syntax error", { ["002_bad.lua"] = "return {\n  up = function(db) db:exec('create table x (id int)')\n}\n" },
      "/002_bad%.lua:3: [^\n]*expected" },
  }
  for _, c in ipairs(cases) do
    it("exits 2 on " .. c[1] .. ", naming the file (and line), and runs nothing", function()
      local url = H.new_db()
      local files = { ["001_ok.sql"] = OK["001_ok.sql"] }
      for k, v in pairs(c[2]) do files[k] = v end
      local dir = H.migrations(files)
      local head = c.folder and "^moonshift: migrations folder [^\n]* has problems; nothing was run:\n  [^\n]*"
        or "^moonshift: [^\n]*"
      local res = H.run_fails(cmd("up", url, dir), head .. c[3], 2)
      assert.are.equal("", res.out)
      assert.are.equal(0, user_relations(url))
      if c.folder then
        -- a folder problem stops every command, status included
        H.run_fails(cmd("status", url, dir), head .. c[3], 2)
        assert.are.equal(0, user_relations(url))
      end
    end)
  end

  it("exits 2 on a directory named like a migration, leaving an existing tracking table unchanged", function()
    local url = H.new_db()
    local dir = H.migrations(OK)
    H.run_ok(cmd("up", url, dir))
    local before = user_relations(url)
    assert(os.execute("mkdir " .. H.q(dir .. "/002_dir.sql")))
    H.write(dir .. "/003_next.sql", "create table ran_003 (id int);\n")
    local res = H.run_fails(cmd("up", url, dir), "/002_dir%.sql: named like a migration but not a regular file", 2)
    assert.are.equal("", res.out)
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(before, user_relations(url))
  end)

  it("exits 2 on a file it cannot read, naming it (run as nobody when root)", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_ok.sql"] = "create table ran_001 (id int);\n",
      ["002_secret.sql"] = "create table ran_002 (id int);\n" })
    assert(os.execute(("chmod 755 %s && chmod 000 %s"):format(H.q(dir), H.q(dir .. "/002_secret.sql"))))
    local opts
    if IS_ROOT then
      if os.execute("id nobody >/dev/null 2>&1 && command -v runuser >/dev/null") ~= true then
        pending("running as root without a nobody user or runuser: root reads any file")
        return
      end
      -- nobody must reach the binary and the folder
      if H.sh(("runuser -u nobody -- test -x %s -a -r %s"):format(H.q(H.bin), H.q(dir))).code ~= 0 then
        pending("nobody cannot reach " .. H.bin .. " or the scratch folder")
        return
      end
      opts = { program = "runuser" }
    end
    local args = cmd("up", url, dir)
    if opts then table.insert(args, 1, H.bin); table.insert(args, 1, "--"); table.insert(args, 1, "nobody");
      table.insert(args, 1, "-u") end
    local res = H.run_fails(args, "^moonshift: [^\n]*/002_secret%.sql: cannot read: Permission denied\n", 2, opts)
    assert.are.equal("", res.out)
    assert.are.equal(0, user_relations(url))
  end)
end)

------------------------------------------------------------------------------
describe("inputs that must work", function()
  it("runs a file with a UTF-8 BOM", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_bom.sql"] = "\xef\xbb\xbf-- migrate:up\ncreate table bom (id int);\n"
      .. "-- migrate:down\ndrop table bom;\n" })
    H.run_ok(cmd("up", url, dir), "^applied 001 bom ")
    assert.is_true(exists(url, "bom"))
    H.run_ok(cmd("down", url, dir), "^reverted 001 bom ")
    assert.is_false(exists(url, "bom"))
  end)

  it("runs a file with CRLF line ends, with the checksum of its LF version", function()
    local lf = "-- migrate:up\ncreate table crlf (id int);\n-- migrate:down\ndrop table crlf;\n"
    local url = H.new_db()
    local dir = H.migrations({ ["001_crlf.sql"] = lf:gsub("\n", "\r\n") })
    H.run_ok(cmd("up", url, dir), "^applied 001 crlf ")
    assert.is_true(exists(url, "crlf"))
    local other = H.new_db()
    local lf_dir = H.migrations({ ["001_crlf.sql"] = lf })
    H.run_ok(cmd("up", other, lf_dir))
    local sum = H.scalar(url, "select checksum from moonshift_migrations")
    assert.matches("^sha256%-v1:%x+$", sum)
    assert.are.equal(H.scalar(other, "select checksum from moonshift_migrations"), sum)
    -- the file converted to LF in place is not "modified"
    H.write(dir .. "/001_crlf.sql", lf)
    H.run_ok(cmd("check", url, dir), "version 001")
    H.run_ok(cmd("down", url, dir), "^reverted 001 crlf ")
    assert.is_false(exists(url, "crlf"))
  end)

  it("follows a symlinked migration file; a dangling link is an error naming it", function()
    local url = H.new_db()
    local elsewhere = H.migrations({ ["shared.sql"] = "create table linked (id int);\n" })
    local dir = H.migrations({})
    assert(os.execute(("ln -s %s %s"):format(H.q(elsewhere .. "/shared.sql"), H.q(dir .. "/001_linked.sql"))))
    H.run_ok(cmd("up", url, dir), "^applied 001 linked ")
    assert.is_true(exists(url, "linked"))
    assert.are.same({ "1" }, versions(url))
    assert(os.execute(("ln -s %s %s"):format(H.q(elsewhere .. "/gone.sql"), H.q(dir .. "/002_dangling.sql"))))
    H.run_fails(cmd("up", url, dir), "/002_dangling%.sql: No such file or directory", 2)
    assert.are.same({ "1" }, versions(url))
  end)

  it("applies 10,000 migrations in one folder, and status lists them (plain pass only)", function()
    if ASAN then pending("heavy: skipped in the asan pass") return end
    local dir = H.tmpdir()
    for v = 1, 10000 do
      local f = assert(io.open(("%s/%05d_m.sql"):format(dir, v), "wb"))
      f:write("SELECT 1;\n")
      f:close()
    end
    local url = H.new_db()
    local res = H.run_ok(cmd("up", url, dir), "10000 migrations applied; the database is at version 10000\n$",
      { timeout = 180 })
    assert.are.equal("", res.err)
    assert.are.equal(10000, count(url, "select count(*) from moonshift_migrations"))
    assert.are.equal(10000, count(url, "select count(distinct version) from moonshift_migrations"))
    local st = H.run_ok(cmd("status", url, dir), "10000 applied, 0 pending")
    local lines = 0
    for _ in st.out:gmatch("applied +%d%d%d%d%-") do lines = lines + 1 end
    assert.are.equal(10000, lines)
    H.run_ok(cmd("check", url, dir), "version 10000")
  end)

  it("streams a single 500 MB SQL file (COPY) in constant memory (plain pass only) #rss", function()
    if ASAN then pending("heavy: skipped in the asan pass") return end
    local dir = H.tmpdir()
    local free_kb = tonumber(H.sh(("df -Pk %s | awk 'NR==2 {print $4}'"):format(H.q(dir))).out:match("%d+"))
    if not free_kb or free_kb < 3 * 1024 * 1024 then
      pending("less than 3 GB free in " .. dir)
      return
    end
    local file = dir .. "/001_big.sql"
    local gen = H.sh(([[
printf 'CREATE TABLE big (id bigint, pad text);\nCOPY big (id, pad) FROM stdin;\n' >%s
awk 'BEGIN { p = sprintf("%%090d", 0); for (i = 1; i <= 5200000; i++) print i "\t" p }' >>%s
printf '\\.\n' >>%s]]):format(H.q(file), H.q(file), H.q(file)))
    assert.are.equal(0, gen.code, gen.err)
    local size = tonumber(H.sh("stat -c %s " .. H.q(file)).out:match("%d+"))
    assert.is_true(size > 500 * 1000 * 1000, "file of " .. size .. " bytes")
    local url, name = H.new_db()
    finally(function()
      os.remove(file)
      pcall(H.drop_db, name)
    end)
    local args = cmd("up", url, dir)
    local res = HAVE_TIME and run_measured(args, { timeout = 300 }) or H.run(args, { timeout = 300 })
    assert.are.equal(0, res.code, res.err)
    assert.matches("^applied 001 big ", res.out)
    assert.are.equal(5200000, count(url, "select count(*) from big"))
    if res.rss_kb then
      assert.is_true(res.rss_kb < 64 * 1024, ("peak RSS %d kB"):format(res.rss_kb))
    end
  end)

  it("fails a Lua migration that calls os.exit (exit 1) without ending the process, rolled back", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_exit.lua"] = 'return { up = function(db)\n  db:exec("create table exited (id int)")\n  os.exit(0)\nend }\n',
      ["002_after.sql"] = "create table after (id int);\n",
    })
    local res = H.run_fails(cmd("up", url, dir), "^moonshift: [^\n]*/001_exit%.lua:3: os%.exit is not allowed in a migration", 1)
    -- the runner went on to report the failure itself
    assert.matches("migration 001 exit failed", res.out .. res.err)
    assert.is_false(exists(url, "exited"))
    assert.is_false(exists(url, "after"))
    assert.are.same({}, versions(url))
    assert.are.equal(1, count(url, "select count(*) from moonshift_history where action like '%fail%'"))
  end)
end)

------------------------------------------------------------------------------
describe("security", function()
  local function sq(s) return "'" .. s:gsub("'", "''") .. "'" end

  for _, c in ipairs({
    { 'weird."tab; DROP TABLE victim; --"', "weird", '"tab; DROP TABLE victim; --"' },
    { 'sch"x.ta;b', 'sch"x', "ta;b" },
    { "it's.ta'b; drop table victim; --", "it's", "ta'b; drop table victim; --" },
  }) do
    it("takes --table " .. c[1] .. " literally: that table, victim intact, status and down work", function()
      local url = H.new_db()
      H.sql(url, "create table victim (id int); insert into victim values (1);")
      local dir = H.migrations({ ["001_a.sql"] = "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n" })
      H.run_ok(cmd("up", url, dir, "--table", c[1]), "^applied 001 a ")
      local q = ("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        .. "where n.nspname = %s and c.relname = %s and c.relkind = 'r'")
      assert.are.equal(1, count(url, q:format(sq(c[2]), sq(c[3]))))
      assert.are.equal(1, count(url, q:format(sq(c[2]), sq(c[3] .. "_history"))))
      local qualified = ('%s.%s'):format('"' .. c[2]:gsub('"', '""') .. '"', '"' .. c[3]:gsub('"', '""') .. '"')
      assert.are.equal("1", H.scalar(url, "select string_agg(version::text, ',') from " .. qualified))
      assert.are.equal(1, count(url, "select count(*) from victim"))
      H.run_ok(cmd("status", url, dir, "--table", c[1]), "001 +a +sql +applied")
      H.run_ok(cmd("down", url, dir, "--table", c[1]), "^reverted 001 a ")
      assert.is_false(exists(url, "a"))
      assert.are.equal(0, count(url, "select count(*) from " .. qualified))
      assert.are.equal(1, count(url, "select count(*) from victim"))
      -- nothing landed in the default table
      assert.is_false(exists(url, "public.moonshift_migrations"))
    end)
  end

  it("keeps an accepted password out of errors, -v, --json, log, the history table and pg_stat_activity", function()
    local url, name = H.new_db()
    local role = "owner_" .. TAG
    local PW = "Pw-Zq81-Secret"
    superuser_sql(("create role %s login password '%s'"):format(role, PW))
    H.sql(url, ("grant create on database %s to %s; grant create on schema public to %s"):format(name, role, role))
    local dir = H.migrations({
      ["001_a.sql"] = "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n",
      ["002_slow.sql"] = "-- migrate:up\nselect pg_sleep(1.5);\n-- migrate:down\nselect 1;\n",
    })
    local outputs = {}
    local function keep(res) outputs[#outputs + 1] = res.cmd .. "\n" .. res.out .. res.err; return res end
    with_hba_line(("host all %s 127.0.0.1/32 scram-sha-256"):format(role), function()
      local u = role_url(role, name, PW)
      local kv = ("host=127.0.0.1 port=%s user=%s password=%s dbname=%s"):format(os.getenv("PGPORT"), role, PW, name)
      local h = H.spawn(cmd("up", u, dir, "-v", "--table", "app_" .. TAG .. ".migs"), { timeout = 60 })
      assert.is_true(wait_for(15, function() return running(name, "pg_sleep") end), "the slow migration never ran")
      local activity = H.sql(url, ("select coalesce(application_name, '') || ' ' || coalesce(query, '') "
        .. "from pg_stat_activity where datname = '%s'"):format(name))
      for _, r in ipairs(activity) do outputs[#outputs + 1] = "pg_stat_activity: " .. (r[1] or "") end
      assert.are.equal("moonshift", H.scalar(url, ("select application_name from pg_stat_activity where "
        .. "datname = '%s' and query like '%%pg_sleep%%' and pid <> pg_backend_pid()"):format(name)))
      local res = keep(h:wait())
      assert.are.equal(0, res.code, res.err)
      assert.matches("001_a%.sql:2: [%d.]+ ms", res.err) -- -v printed statement durations
      local t = { "--table", "app_" .. TAG .. ".migs" }
      keep(H.run_ok(cmd("status", u, dir, "--json", table.unpack(t)), '"version"'))
      keep(H.run_ok(cmd("log", u, dir, table.unpack(t)), "up +001"))
      keep(H.run_ok(cmd("log", u, dir, "--json", table.unpack(t)), '"events"'))
      keep(H.run_ok(cmd("down", kv, dir, "-v", "--json", table.unpack(t)), '"command"'))
      -- a failing migration, through the URL and the conninfo
      H.write(dir .. "/003_bad.sql", "select 1/0;\n")
      keep(H.run_fails(cmd("up", u, dir, "-v", table.unpack(t)), "division by zero", 1))
      keep(H.run_fails(cmd("up", kv, dir, "--json", table.unpack(t)), nil, 1))
      -- connection failures: a database that does not exist, a wrong port
      keep(H.run_fails(cmd("up", role_url(role, "nope_" .. TAG, PW), dir, "-v"), "cannot connect", 3))
      keep(H.run_fails(cmd("status", ("postgres://%s:%s@127.0.0.1:1/x"):format(role, PW), dir, "--json"), nil, 3))
    end)
    local history = H.sql(url, ("select h::text from app_%s.migs_history h"):format(TAG))
    assert.is_true(#history >= 4, "history rows: " .. #history)
    for _, r in ipairs(history) do outputs[#outputs + 1] = "history: " .. r[1] end
    local tracking = H.sql(url, ("select m::text from app_%s.migs m"):format(TAG))
    for _, r in ipairs(tracking) do outputs[#outputs + 1] = "tracking: " .. r[1] end
    for _, o in ipairs(outputs) do
      local shown = o:gsub(lit(PW), "<PASSWORD>", 1)
      -- the command line itself holds it; nothing after it may
      local after = o:match("^[^\n]*\n(.*)$") or ""
      if o:match("^pg_stat_activity") or o:match("^history") or o:match("^tracking") then after = o end
      assert.is_nil(after:find(PW, 1, true), "password shown in:\n" .. shown)
    end
  end)

  it("runs up, status, down, up, check and log as a role that owns only its schema", function()
    local url, name = H.new_db()
    local role = "app_" .. TAG
    superuser_sql(("create role %s login"):format(role))
    H.sql(url, ("create schema %s authorization %s; revoke all on database %s from public; "
      .. "grant connect on database %s to %s"):format(role, role, name, name, role))
    local u = role_url(role, name)
    local dir = H.migrations({
      ["001_items.sql"] = ("-- migrate:up\ncreate table %s.items (id int);\n-- migrate:down\ndrop table %s.items;\n"):format(role, role),
      ["002_fill.lua"] = ('return {\n  up = function(db) db:exec("insert into %s.items values (1), (2)") end,\n'
        .. '  down = function(db) db:exec("delete from %s.items") end,\n}\n'):format(role, role),
    })
    local t = { "--table", role .. ".moonshift_migrations" }
    H.run_ok(cmd("up", u, dir, table.unpack(t)), "the database is at version 002")
    H.run_ok(cmd("status", u, dir, table.unpack(t)), "2 applied, 0 pending")
    H.run_ok(cmd("down", u, dir, table.unpack(t)), "^reverted 002 fill ")
    assert.are.equal(0, count(url, ("select count(*) from %s.items"):format(role)))
    H.run_ok(cmd("up", u, dir, table.unpack(t)), "^applied 002 fill ")
    H.run_ok(cmd("check", u, dir, table.unpack(t)), "version 002")
    local log = H.run_ok(cmd("log", u, dir, table.unpack(t)))
    local n = 0
    for _ in log.out:gmatch(role .. "@") do n = n + 1 end
    assert.are.equal(4, n, log.out)
    assert.are.equal(2, count(url, ("select count(*) from %s.items"):format(role)))
    assert.are.equal(role, H.scalar(url, ("select tableowner from pg_tables where schemaname = '%s' "
      .. "and tablename = 'moonshift_migrations'"):format(role)))
    assert.is_false(exists(url, "public.moonshift_migrations"))
    -- the default table lands in the role's own schema through search_path ("$user")
    local url2, name2 = H.new_db()
    H.sql(url2, ("create schema %s authorization %s"):format(role, role))
    H.run_ok(cmd("up", role_url(role, name2), dir), "the database is at version 002")
    assert.is_true(exists(url2, role .. ".moonshift_migrations"))
  end)
end)
