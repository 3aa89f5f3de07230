-- What makes moonshift safe to run in production: the migration lock (a
-- waiter that never blocks CREATE INDEX CONCURRENTLY, --lock-timeout, the
-- holder named while waiting, killed runners, the lease lock through a real
-- PgBouncer in transaction pooling, unlock), per-migration lock_timeout and
-- statement_timeout with retries, checksums and the refusals built on them,
-- out-of-order versions, statements refused inside a transaction, the history
-- (`log`), `check` and the --json documents.
local H = require("spec_helper")
local now, sleep, cmd, exists, versions, count, wait_for, advisory_locks = H.now, H.sleep, H.cmd, H.exists, H.versions, H.count, H.wait_for, H.advisory_locks


local HOST = (io.popen("uname -n"):read("l"))
local USER = os.getenv("PGUSER")





-- { [v] = number of rows } of the counter table `runs` the migrations insert into.
local function runs(url)
  local out = {}
  for _, r in ipairs(H.sql(url, "select v::text, count(*)::text from runs group by v order by v")) do
    out[#out + 1] = r[1] .. "x" .. r[2]
  end
  return table.concat(out, " ")
end



-- Sessions of database `name` whose application_name starts with moonshift.
local function moonshift_sessions(name)
  return count(H.url(name), ("select count(*) from pg_stat_activity where datname = '%s' "
    .. "and application_name like 'moonshift%%' and pid <> pg_backend_pid()"):format(name))
end

-- True once a session of `name` is running a statement starting with `prefix`.
local function running(name, prefix)
  return count(H.url(name), ("select count(*) from pg_stat_activity where datname = '%s' and state = 'active' "
    .. "and query like '%s%%' and pid <> pg_backend_pid()"):format(name, prefix)) > 0
end

local function lock_key(url, dir)
  local res = H.run_ok(cmd("status", url, dir))
  return assert(res.out:match("advisory lock key (%-?%d+)"), "no lock key in status output:\n" .. res.out)
end

-- A psql session of its own running `statements` (an array), in the background.
local function psql(url, statements)
  local args = { "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url }
  for _, s in ipairs(statements) do
    args[#args + 1] = "-c"
    args[#args + 1] = s
  end
  return H.spawn(args, { program = H.psql, timeout = 60 })
end

-- Takes the migration lock in another session for `seconds`; returns the
-- psql handle and the pid of the session holding it.
local function hold_lock(url, name, key, seconds)
  local h = psql(url, { ("select pg_advisory_lock(%s)"):format(key), ("select pg_sleep(%s)"):format(seconds) })
  assert(wait_for(5, function() return advisory_locks(name) == 1 end), "psql did not take the lock")
  local pid = H.scalar(url, "select pid from pg_locks where locktype = 'advisory' and granted")
  return h, pid
end

-- Ends every other session of database `name` (psql's backend sleeps on after
-- psql itself is gone) and waits for them.
local function end_sessions(name)
  H.sql(H.url(name), ("select pg_terminate_backend(pid) from pg_stat_activity where datname = '%s' "
    .. "and pid <> pg_backend_pid()"):format(name))
  wait_for(5, function()
    return count(H.url(name), ("select count(*) from pg_stat_activity where datname = '%s' "
      .. "and pid <> pg_backend_pid()"):format(name)) == 0
  end)
end


-- Lua pattern matching s literally.
local function lit(s) return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end

-- JSON ------------------------------------------------------------------

-- JSON null, as decode() hands it back.
local NULL = setmetatable({}, { __tostring = function() return "null" end })

-- python3's json module checks that `text` is exactly one JSON document and
-- turns it into a Lua table constructor (strings as decimal byte escapes).
local TO_LUA = [[
import json, sys
def lua(v):
    if v is None: return "NULL"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, int): return str(v)
    if isinstance(v, float): return repr(v)
    if isinstance(v, str):
        return '"' + "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else "\\%03d" % b
                             for b in v.encode("utf-8")) + '"'
    if isinstance(v, list): return "{" + ",".join(lua(x) for x in v) + "}"
    return "{" + ",".join("[" + lua(k) + "]=" + lua(x) for k, x in v.items()) + "}"
sys.stdout.write("return " + lua(json.load(sys.stdin)))
]]

-- Decodes stdout that must be one JSON document; fails the test otherwise.
local function decode(text)
  local res = H.run({ "-c", TO_LUA }, { program = "python3", stdin = text })
  assert(res.code == 0, "not one JSON document:\n" .. text .. "\n" .. res.err)
  return assert(load(res.out, "=json", "t", { NULL = NULL }))()
end

local function has_keys(doc, keys, what)
  for _, k in ipairs(keys) do
    assert(doc[k] ~= nil, ("%s: key %q is missing"):format(what or "document", k))
  end
end

-- Every document has command, ok, exit_code and error (docs/json.md).
local function assert_envelope(doc, command, code)
  assert.are.equal(command, doc.command)
  assert.are.equal(code, doc.exit_code)
  assert.are.equal(code == 0, doc.ok)
  if code == 0 then
    assert.are.equal(NULL, doc.error)
  else
    assert.are.equal("table", type(doc.error))
    assert.are.equal(code, doc.error.exit_code)
    assert.are.equal("string", type(doc.error.message))
    assert.is_nil(doc.error.message:find("^moonshift:"), "error keeps the moonshift: prefix")
  end
end

-- The lock ---------------------------------------------------------------

describe("the migration lock", function()
  it("keeps a waiting runner idle outside any transaction, so the holder's CREATE INDEX CONCURRENTLY completes", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_items.sql"] = "create table items (id int);\ninsert into items select generate_series(1, 5000);\n",
    })
    H.run_ok(cmd("up", url, dir), "applied 001 items")
    H.write(dir .. "/002_index.sql", "-- migrate:up transaction:false\nselect pg_sleep(1);\n"
      .. "create index concurrently items_id on items (id);\nselect pg_sleep(0.5);\n"
      .. "-- migrate:down transaction:false\ndrop index concurrently items_id;\n")
    local t0 = now()
    local a = H.spawn(cmd("up", url, dir), { timeout = 30 })
    local b = H.spawn(cmd("up", url, dir), { timeout = 30 })
    -- the runner that does not hold the lock, as seen while the other works
    local seen = {}
    while a:running() or b:running() do
      for _, r in ipairs(H.sql(url, ("select a.pid::text, coalesce(a.state, 'starting'), coalesce(a.wait_event_type, '-'), "
          .. "coalesce(a.backend_xid::text, '-') from pg_stat_activity a where a.datname = '%s' "
          .. "and a.application_name = 'moonshift' and a.pid not in (select pid from pg_locks "
          .. "where locktype = 'advisory' and granted) and exists (select 1 from pg_locks "
          .. "where locktype = 'advisory' and granted)"):format(name))) do
        seen[#seen + 1] = table.concat(r, " ")
      end
      sleep(0.05)
    end
    local ra, rb = a:wait(), b:wait()
    assert.are.equal(0, ra.code, ra.err)
    assert.are.equal(0, rb.code, rb.err)
    assert.is_true(now() - t0 < 15, "the runs took too long")
    local outs = ra.out .. rb.out
    local _, applied = outs:gsub("applied 002 index", "")
    assert.are.equal(1, applied, outs)
    assert.matches("nothing to apply; the database is at version 002", outs)
    -- the waiter was seen, and never inside a transaction nor waiting on a lock
    assert.is_true(#seen >= 5, "the waiting runner was not seen: " .. table.concat(seen, "; "))
    for _, s in ipairs(seen) do
      assert.matches("^%d+ [%a]+ %S+ %-$", s)          -- no transaction id
      assert.is_nil(s:find("idle in transaction", 1, true), s)
      assert.is_nil(s:find(" Lock ", 1, true), s)
    end
    assert.are.equal("t", H.scalar(url, "select indisvalid from pg_index where indexrelid = 'items_id'::regclass"))
    assert.are.same({ "1", "2" }, versions(url))
    assert.are.equal(0, advisory_locks(name))
  end)

  it("gives up after --lock-timeout with exit 4, and names the holder while it waits #timing", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/002_b.sql", "create table b (id int);\n")
    local key = lock_key(url, dir)
    local holder, pid = hold_lock(url, name, key, 8)

    local t0 = now()
    local res = H.run_fails(cmd("up", url, dir, "--lock-timeout", "1s"),
      "^moonshift: could not take the migration lock %(key " .. key .. "%) within 1s; another moonshift run holds it\n$", 4)
    assert.is_true(now() - t0 < 2.5, "waited too long")
    assert.are.equal("", res.out)

    -- waiting more than 2 s: who holds it, from where, since when, doing what
    t0 = now()
    res = H.run_fails(cmd("up", url, dir, "--lock-timeout", "3s"), "within 3s", 4)
    local waited = now() - t0
    assert.is_true(waited >= 2.9 and waited < 5, ("waited %.1f s"):format(waited))
    assert.matches("moonshift: waiting [23]s for the migration lock: pid " .. pid .. " %(psql, active%)\n", res.err)
    local _, reports = res.err:gsub("for the migration lock:", "")
    assert.are.equal(1, reports, res.err)

    assert.is_false(exists(url, "b"))
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(1, advisory_locks(name))   -- still the holder's only
    end_sessions(name)
    holder:wait(5)
    H.run_ok(cmd("up", url, dir, "--lock-timeout", "1s"), "^applied 002 b ")
  end)

  it("connects as application_name moonshift unless the connection string names one", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["001_slow.sql"] = "create table slow (id int);\nselect pg_sleep(1.2);\n" })
    local h = H.spawn(cmd("up", url, dir))
    assert(wait_for(5, function() return running(name, "select pg_sleep(1.2)") end), "the migration did not start")
    assert.are.same({ { "moonshift", "127.0.0.1" } }, H.sql(url, ("select application_name, host(client_addr) "
      .. "from pg_stat_activity where datname = '%s' and query like 'select pg_sleep(1.2)%%'"):format(name)))
    assert.are.equal(0, h:wait().code)

    local url2, name2 = H.new_db()
    h = H.spawn(cmd("up", url2 .. "?application_name=deploy-7", dir))
    assert(wait_for(5, function() return running(name2, "select pg_sleep(1.2)") end), "the migration did not start")
    assert.are.equal("deploy-7", H.scalar(url2, ("select application_name from pg_stat_activity "
      .. "where datname = '%s' and query like 'select pg_sleep(1.2)%%'"):format(name2)))
    assert.are.equal(0, h:wait().code)
    assert.are.same({ "1" }, versions(url2))
  end)

  it("is not taken by an up with nothing pending, which answers at once while another session holds it #timing", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    local holder = hold_lock(url, name, lock_key(url, dir), 10)
    local t0 = now()
    H.run_ok(cmd("up", url, dir), "^nothing to apply; the database is at version 001\n$", { timeout = 8 })
    assert.is_true(now() - t0 < 1.5, ("took %.1f s"):format(now() - t0))
    assert.are.equal(1, advisory_locks(name))
    assert.are.same({ "1" }, versions(url))
    end_sessions(name)
    holder:wait(5)
  end)

  it("is gone with a runner SIGKILLed mid-migration, which leaves no half migration behind", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_runs.sql"] = "create table runs (v int);\ninsert into runs values (1);\n",
      ["002_slow.sql"] = "insert into runs values (2);\ncreate table slow (id int);\nselect pg_sleep(1.5);\n",
      ["003_last.sql"] = "insert into runs values (3);\n",
    })
    local h = H.spawn(cmd("up", url, dir))
    assert(wait_for(5, function() return running(name, "select pg_sleep(1.5)") end), "002 did not start")
    h:kill("KILL")
    assert.are.equal(137, h:wait(5).code)
    -- the session ends once the server notices its client is gone
    assert.is_true(wait_for(10, function() return moonshift_sessions(name) == 0 end), "the killed runner's session stays")
    assert.are.equal(0, advisory_locks(name))
    -- the migration and its tracking row, both or neither
    local v = versions(url)
    assert.are.equal(exists(url, "slow"), v[2] == "2")
    assert.are.equal(exists(url, "slow") and "1x1 2x1" or "1x1", runs(url))
    H.run_ok(cmd("up", url, dir), "applied 003 last %(%d+ ms%)\n%d migrations? applied; the database is at version 003\n$")
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.are.equal("1x1 2x1 3x1", runs(url))
  end)

  it("with --lock=table: a SIGKILLed runner's lease stays until it expires, then a second runner takes it over", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_runs.sql"] = "create table runs (v int);\ninsert into runs values (1);\n",
      ["002_slow.sql"] = "insert into runs values (2);\nselect pg_sleep(3);\n",
      ["003_last.sql"] = "insert into runs values (3);\n",
    })
    local lease = { "--lock=table", "--lock-lease", "1s" }
    local a = H.spawn(cmd("up", url, dir, table.unpack(lease)))
    assert(wait_for(5, function() return running(name, "select pg_sleep(3)") end), "002 did not start")
    sleep(0.3)
    a:kill("KILL")
    local killed = now()
    assert.are.equal(137, a:wait(5).code)
    local owner = H.scalar(url, "select owner from moonshift_lock")
    assert.matches("^" .. lit(HOST) .. ":" .. a.pid .. ":%x+$", owner)

    local b = H.spawn(cmd("up", url, dir, table.unpack(lease)), { timeout = 30 })
    local taken = wait_for(6, function()
      local o = H.scalar(url, "select owner from moonshift_lock")
      return o and o:find(":" .. b.pid .. ":", 1, true) and now()
    end)
    assert(taken, "the second runner never took the lease over")
    assert.is_true(taken - killed >= 0.5 and taken - killed < 4, ("taken over after %.1f s"):format(taken - killed))
    local rb = b:wait()
    assert.are.equal(0, rb.code, rb.err)
    assert.matches("applied 003 last %(%d+ ms%)\n%d migrations? applied; the database is at version 003\n$", rb.out)
    assert.is_true(wait_for(10, function() return moonshift_sessions(name) == 0 end))
    -- the killed runner's 002 was committed by it or by the second one, never both
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.are.equal("1x1 2x1 3x1", runs(url))
    assert.are.equal(0, count(url, "select count(*) from moonshift_lock"))
    assert.are.equal(1, count(url, "select count(*) from moonshift_history where action = 'up' and version = 2"))
  end)

  describe("through PgBouncer in transaction pooling", function()
    -- one PgBouncer with a pool of 4 server connections, one with a pool of 1
    -- (every client then shares the same server session)
    local bouncers, port, port1 = {}, nil, nil
    local SCRIPT = H.q(H.root .. "/spec/support/pgbouncer.sh")

    local function start_bouncer(pool)
      local base = H.tmpdir()
      assert(os.execute("chmod 755 " .. H.q(base)))   -- PgBouncer runs as postgres when we are root
      local dir = base .. "/pgbouncer"
      bouncers[#bouncers + 1] = dir
      local res = H.sh("sh " .. SCRIPT .. " start " .. H.q(dir), { env = { MS_PGBOUNCER_POOL_SIZE = pool } })
      assert(res.code == 0, "PgBouncer did not start:\n" .. res.err)
      return assert(res.out:match("^(%d+)\n$"), "no port from pgbouncer.sh: " .. res.out)
    end

    setup(function()
      port = start_bouncer(4)
      port1 = start_bouncer(1)
    end)

    teardown(function()
      for _, dir in ipairs(bouncers) do H.sh("sh " .. SCRIPT .. " stop " .. H.q(dir)) end
    end)

    local function bouncer_url(name, p)
      return ("postgres://%s@127.0.0.1:%s/%s"):format(USER, p or port, name)
    end

    it("refuses the session advisory lock (exit 2, naming --lock=table) before anything runs", function()
      local url, name = H.new_db()
      local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
      -- the pooler really is in the way: the server pid is not the one libpq was told
      local res = H.run_fails(cmd("up", bouncer_url(name), dir),
        "^moonshift: this connection goes through a connection pooler[^\n]*use %-%-lock=table", 2)
      assert.are.equal("", res.out)
      assert.is_false(exists(url, "a"))
      assert.is_nil(versions(url))
      -- reading needs no lock
      H.run_ok(cmd("status", bouncer_url(name), dir), "001 +a +sql +pending")
    end)

    it("runs 8 concurrent up --lock=table runners, each migration applied exactly once", function()
      local url, name = H.new_db()
      local files = {
        ["001_runs.sql"] = "create table runs (v int);\ninsert into runs values (1);\n",
        ["007_cic.sql"] = "-- migrate:up transaction:false\ncreate index concurrently t2_id on t2 (id);\n"
          .. "insert into runs values (7);\n",
        ["008_lua.lua"] = "return { up = function(db) db:exec('insert into runs values (8)') end }\n",
      }
      for v = 2, 6 do
        files[("00%d_m%d.sql"):format(v, v)] = ("create table t%d (id int);\ninsert into runs values (%d);\n"
          .. "select pg_sleep(0.1);\n"):format(v, v)
      end
      local dir = H.migrations(files)
      local handles = {}
      for i = 1, 8 do
        handles[i] = H.spawn(cmd("up", bouncer_url(name), dir, "--lock=table"), { timeout = 60 })
      end
      local applied = {}
      for i, res in ipairs(H.wait_all(handles)) do
        assert.are.equal(0, res.code, ("runner %d:\n%s"):format(i, res.err))
        assert.matches("the database is at version 008\n$", res.out)
        for v in res.out:gmatch("applied (%d+) ") do applied[#applied + 1] = v end
      end
      table.sort(applied)
      assert.are.same({ "001", "002", "003", "004", "005", "006", "007", "008" }, applied)
      assert.are.equal("1x1 2x1 3x1 4x1 5x1 6x1 7x1 8x1", runs(url))
      assert.are.same({ "1", "2", "3", "4", "5", "6", "7", "8" }, versions(url))
      assert.are.equal("t", H.scalar(url, "select indisvalid from pg_index where indexrelid = 't2_id'::regclass"))
      assert.are.equal(0, count(url, "select count(*) from moonshift_lock"))
      assert.are.equal(0, advisory_locks(name))
    end)

    it("keeps a non-transactional section's lock_timeout from the pooler's other clients", function()
      local url, name = H.new_db()
      local files = { ["001_notx.sql"] = { "-- migrate:up transaction:false lock_timeout:300ms" } }
      for i = 1, 15 do files["001_notx.sql"][i + 1] = "select pg_sleep(0.05);" end
      files["001_notx.sql"] = table.concat(files["001_notx.sql"], "\n") .. "\n"
      files["002_notx.lua"] = "return { transaction = false, lock_timeout = '250ms', up = function(db)\n"
        .. "  for _ = 1, 15 do db:exec('select pg_sleep(0.05)') end\nend }\n"
      local dir = H.migrations(files)
      -- another application's session through the same pooler, reading its settings
      local script = {}
      for _ = 1, 120 do script[#script + 1] = "SHOW lock_timeout;\nSELECT pg_sleep(0.02);" end
      local reader_sql = H.write(H.tmpdir() .. "/reader.sql", table.concat(script, "\n") .. "\n")
      local reader = H.spawn({ "-X", "-A", "-t", "-d", bouncer_url(name, port1), "-f", reader_sql },
        { program = H.psql, timeout = 60 })
      sleep(0.2)
      H.run_ok(cmd("up", bouncer_url(name, port1), dir, "--lock=table"), "2 migrations applied")
      local rr = reader:wait()
      assert.are.equal(0, rr.code, rr.err)
      assert.are.same({ "1", "2" }, versions(url))
      local seen = {}
      for v in rr.out:gmatch("[^\n]+") do seen[v] = (seen[v] or 0) + 1 end
      assert.are.same({ ["0"] = 120 }, seen)
    end)
  end)

  it("unlock leaves a live owner's lease alone, releases a SIGKILLed owner's, and says when there is none", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_a.sql"] = "create table a (id int);\n",
      ["002_busy.sql"] = "create table busy (id int);\nSELECT pg_sleep(4);\n",
    })
    local lease = { "--lock=table", "--lock-lease", "2s" }
    local h = H.spawn(cmd("up", url, dir, table.unpack(lease)))
    assert(wait_for(5, function() return running(name, "SELECT pg_sleep(4)") end), "002 did not start")
    local owner = H.scalar(url, "select owner from moonshift_lock")
    assert.matches(":" .. h.pid .. ":", owner)

    local res = H.run_fails(cmd("unlock", url, dir, table.unpack(lease)),
      "the lease of " .. lit(owner) .. " is being renewed: its owner is alive; nothing changed", 4)
    assert.are.equal("", res.out)
    assert.are.equal(owner, H.scalar(url, "select owner from moonshift_lock"))

    h:kill("KILL")
    assert.are.equal(137, h:wait(5).code)
    H.run_ok(cmd("unlock", url, dir, table.unpack(lease)),
      "^released the lease of " .. lit(owner) .. ", whose owner is gone\n$")
    assert.are.equal(0, count(url, "select count(*) from moonshift_lock"))
    -- the killed runner's transaction, still on the server, lost its lease: not committed
    assert.is_true(wait_for(8, function() return moonshift_sessions(name) == 0 end))
    assert.is_false(exists(url, "busy"))
    assert.are.same({ "1" }, versions(url))

    H.run_ok(cmd("unlock", url, dir, table.unpack(lease)), "^no lease is held\n$")
    assert.matches(lit(USER .. "@" .. HOST) .. "%s+unlock%s[^\n]*" .. lit(owner), H.run_ok(cmd("log", url, dir)).out)
    H.write(dir .. "/002_busy.sql", "create table busy (id int);\n")
    H.run_ok(cmd("up", url, dir, table.unpack(lease)), "applied 002 busy")
    assert.are.same({ "1", "2" }, versions(url))
  end)
end)

-- Timeouts ---------------------------------------------------------------

describe("per-migration timeouts", function()
  -- a table and an ALTER of it that needs an ACCESS EXCLUSIVE lock
  local function alter_setup(extra)
    local url, name = H.new_db()
    local dir = H.migrations({ ["001_t.sql"] = "create table t (id int);\ninsert into t values (1), (2);\n" })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/002_alter.sql", "-- migrate:up lock_timeout:300ms" .. (extra or "")
      .. "\nalter table t add column c int;\n-- migrate:down\nalter table t drop column c;\n")
    return url, name, dir
  end

  -- Another session holding ACCESS SHARE on t for `seconds`.
  local function share_lock(url, name, seconds)
    local h = psql(url, { "BEGIN", "LOCK TABLE t IN ACCESS SHARE MODE", ("SELECT pg_sleep(%s)"):format(seconds), "COMMIT" })
    assert(wait_for(5, function() return running(name, "SELECT pg_sleep") end), "the lock holder did not start")
    return h
  end

  it("retry a migration stopped by its lock_timeout, and readers are never queued longer than that #timing", function()
    local url, name, dir = alter_setup()
    local holder = share_lock(url, name, 2)
    -- a reader in a third session, timing each of its SELECTs
    local script = { "\\timing on" }
    for _ = 1, 30 do
      script[#script + 1] = "SELECT 'read', count(*) FROM t;"
      script[#script + 1] = "SELECT pg_sleep(0.1);"
    end
    local reader_sql = H.write(H.tmpdir() .. "/reader.sql", table.concat(script, "\n") .. "\n")
    local reader = H.spawn({ "-X", "-A", "-t", "-d", url, "-f", reader_sql }, { program = H.psql, timeout = 60 })
    sleep(0.2)
    local t0 = now()
    local res = H.run(cmd("up", url, dir))
    assert.are.equal(0, res.code, res.err)
    assert.is_true(now() - t0 >= 1, "the migration did not wait for the holder")
    assert.matches("^applied 002 alter %(%d+ ms%)\n", res.out)
    assert.matches("moonshift: 002 alter: a lock was not available within its lock_timeout %(attempt 1 of 6%); "
      .. "retrying in [%d.]+ s\n", res.err)
    assert.are.equal("1", H.scalar(url, "select count(*) from information_schema.columns "
      .. "where table_name = 't' and column_name = 'c'"))
    assert.are.same({ "1", "2" }, versions(url))

    local rr = reader:wait()
    assert.are.equal(0, rr.code, rr.err)
    local times = {}
    for ms in rr.out:gmatch("read|2\nTime: ([%d.]+) ms") do times[#times + 1] = tonumber(ms) end
    assert.is_true(#times >= 20, "too few reads timed:\n" .. rr.out)
    local max = math.max(table.unpack(times))
    assert.is_true(max < 1500, ("a read waited %.0f ms"):format(max))
    -- and the reader did overlap the waiting ALTER (it queues behind it)
    assert.is_true(max >= 50, ("no read was ever queued (longest %.1f ms)"):format(max))
    holder:wait(10)
  end)

  it("with --retries 0 fail at once with 55P03 lock_not_available, recording nothing", function()
    local url, name, dir = alter_setup()
    local holder = share_lock(url, name, 3)
    local res = H.run_fails(cmd("up", url, dir, "--retries", "0"),
      "002_alter%.sql:2: ERROR 55P03 lock_not_available: canceling statement due to lock timeout", 1)
    assert.is_nil(res.err:find("retrying", 1, true), res.err)
    assert.matches("migration 002 alter failed; 0 before it in this run stay applied\n$", res.err)
    assert.are.same({ "1" }, versions(url))
    assert.are.equal("0", H.scalar(url, "select count(*) from information_schema.columns "
      .. "where table_name = 't' and column_name = 'c'"))
    end_sessions(name)
    holder:wait(5)
  end)

  it("cancel a statement past its statement_timeout (57014), rolling the migration back #timing", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_s.sql"] = "-- migrate:up statement_timeout:500ms\ncreate table s (id int);\nselect pg_sleep(2);\n",
    })
    local t0 = now()
    H.run_fails(cmd("up", url, dir), "001_s%.sql:3: ERROR 57014 query_canceled: canceling statement due to statement timeout", 1)
    assert.is_true(now() - t0 < 1.8, "the statement was not cancelled at its timeout")
    assert.is_false(exists(url, "s"))
    assert.are.same({}, versions(url))
  end)

  it("leave no setting behind: the next migration sees the server's defaults", function()
    local url = H.new_db()
    assert.are.equal("0", H.scalar(url, "SHOW lock_timeout"))
    assert.are.equal("0", H.scalar(url, "SHOW statement_timeout"))
    local dir = H.migrations({
      ["001_marked.sql"] = "-- migrate:up lock_timeout:300ms statement_timeout:5s\ncreate table a (id int);\n",
      ["002_set.sql"] = "SET statement_timeout = '1s';\nSET lock_timeout = '7s';\ncreate table b (id int);\n",
      ["003_notx.sql"] = "-- migrate:up transaction:false lock_timeout:250ms\ncreate table c (id int);\n"
        .. "SET statement_timeout = '2s';\n",
      ["004_look.lua"] = [[
return { up = function(db)
  assert(db:scalar("SHOW lock_timeout") == "0", "lock_timeout leaked: " .. db:scalar("SHOW lock_timeout"))
  assert(db:scalar("SHOW statement_timeout") == "0", "statement_timeout leaked: " .. db:scalar("SHOW statement_timeout"))
  db:exec("create table seen (lt text, st text)")
  db:exec("insert into seen values ($1, $2)", db:scalar("SHOW lock_timeout"), db:scalar("SHOW statement_timeout"))
end }
]],
    })
    H.run_ok(cmd("up", url, dir), "applied 004 look %(%d+ ms%)\n4 migrations applied")
    assert.are.same({ { "0", "0" } }, H.sql(url, "select lt, st from seen"))
  end)

  it("are taken from a Lua migration's lock_timeout and statement_timeout fields", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_fields.lua"] = [[
return { lock_timeout = "200ms", statement_timeout = "3s", up = function(db)
  db:exec("create table seen (v int, lt text, st text)")
  db:exec("insert into seen values (1, $1, $2)", db:scalar("SHOW lock_timeout"), db:scalar("SHOW statement_timeout"))
end }
]],
      ["002_notx.lua"] = [[
return { transaction = false, lock_timeout = "150ms", up = function(db)
  db:exec("insert into seen values (2, $1, $2)", db:scalar("SHOW lock_timeout"), db:scalar("SHOW statement_timeout"))
end }
]],
    })
    H.run_ok(cmd("up", url, dir), "2 migrations applied")
    assert.are.same({ { "1", "200ms", "3s" }, { "2", "150ms", "0" } }, H.sql(url, "select v, lt, st from seen order by v"))
  end)
end)

-- Checksums, drift and order --------------------------------------------

describe("checksums", function()
  local ONE = "-- migrate:up\ncreate table one (id int);\n-- migrate:down\ndrop table one;\n"

  it("are sha256-v1 over normalised bytes: CRLF and a BOM pass, an edit is refused until accepted", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_one.sql"] = ONE })
    H.run_ok(cmd("up", url, dir))
    local sum = H.scalar(url, "select checksum from moonshift_migrations where version = 1")
    assert.matches("^sha256%-v1:" .. ("%x"):rep(64) .. "$", sum)
    local file_sum = H.sh("sha256sum " .. H.q(dir .. "/001_one.sql")).out:match("^(%x+)")
    assert.are.equal("sha256-v1:" .. file_sum, sum)

    H.write(dir .. "/001_one.sql", (ONE:gsub("\n", "\r\n")))
    H.run_ok(cmd("check", url, dir), "^ok: the database is at version 001, the newest\n$")
    H.write(dir .. "/001_one.sql", "\239\187\191" .. ONE:gsub("\n", "\r\n"))
    H.run_ok(cmd("check", url, dir), "^ok: the database is at version 001")
    H.run_ok(cmd("status", url, dir), "\n001 +one +sql +applied +%d")

    local EDITED = ONE:gsub("%(id int%)", "(id bigint)")
    H.write(dir .. "/001_one.sql", EDITED)
    H.write(dir .. "/002_two.sql", "create table two (id int);\n")
    H.run_ok(cmd("status", url, dir), "\n001 +one +sql +applied, modified ")
    local res = H.run_fails(cmd("check", url, dir), "1 modified", 6)
    assert.matches("modified: 001 one", res.out)
    res = H.run_fails(cmd("up", url, dir),
      "^moonshift: applied migrations no longer match their files; nothing was run:\n  [^\n]*/001_one%.sql: modified since", 2)
    assert.matches("moonshift accept VERSION", res.err)
    assert.is_false(exists(url, "two"))
    assert.are.same({ "1" }, versions(url))

    res = H.run_ok(cmd("up", url, dir, "--allow-modified"), "^applied 002 two ")
    assert.matches("warning: applied migrations no longer match their files", res.err)
    assert.are.same({ "1", "2" }, versions(url))

    -- all or nothing: one version that is not applied, nothing changes
    H.run_fails({ "accept", "1", "9", "--url", url, "--dir", dir }, "accept 9: version 9 is not applied; nothing changed", 2)
    assert.are.equal(sum, H.scalar(url, "select checksum from moonshift_migrations where version = 1"))
    res = H.run_ok({ "accept", "1", "--url", url, "--dir", dir })
    local old, new = res.out:match("^accepted 001 one: checksum (sha256%-v1:%x+) %-> (sha256%-v1:%x+)\n$")
    assert.are.equal(sum, old, res.out)
    assert.are_not.equal(sum, new)
    assert.are.equal(new, H.scalar(url, "select checksum from moonshift_migrations where version = 1"))
    assert.are.same({ { "accept", "1", "one", "checksum " .. old .. " -> " .. new } },
      H.sql(url, "select action, version::text, name, detail from moonshift_history where action = 'accept'"))
    H.run_ok(cmd("check", url, dir), "^ok: the database is at version 002, the newest\n$")
  end)

  it("find a missing file: status says so, check exits 7, up refuses", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_one.sql"] = ONE, ["002_two.sql"] = "create table two (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    os.remove(dir .. "/001_one.sql")
    H.write(dir .. "/003_three.sql", "create table three (id int);\n")
    H.run_ok(cmd("status", url, dir), "\n0*1 +one +sql +applied, file missing +%d[^\n]*\n002 +two +sql +applied "
      .. "[^\n]*\n003 +three +sql +pending[^\n]*\n2 applied, 1 pending, 1 missing")
    local res = H.run_fails(cmd("check", url, dir), "1 missing", 7)
    assert.matches("missing: 0*1 one", res.out)
    H.run_fails(cmd("up", url, dir), "nothing was run:\n  0*1 one: applied, but its file is missing", 2)
    assert.is_false(exists(url, "three"))
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("hold over a folder large enough to be hashed on worker threads: one edit, one CRLF copy, one gone", function()
    local url = H.new_db()
    local files = {}
    for i = 1, 60 do
      files[("%03d_t%d.sql"):format(i, i)] = ("-- migrate:up\ncreate table t%d (id int);\n-- migrate:down\ndrop table t%d;\n"):format(i, i)
    end
    local dir = H.migrations(files)
    H.run_ok(cmd("up", url, dir), "60 migrations applied")
    H.run_ok(cmd("status", url, dir), "\n60 applied, 0 pending %(")
    H.write(dir .. "/017_t17.sql", files["017_t17.sql"]:gsub("%(id int%)", "(id bigint)"))
    H.write(dir .. "/033_t33.sql", (files["033_t33.sql"]:gsub("\n", "\r\n")))
    os.remove(dir .. "/050_t50.sql")
    local res = H.run_ok(cmd("status", url, dir), "\n60 applied, 0 pending, 1 modified, 1 missing %(")
    assert.matches("\n017 +t17 +sql +applied, modified ", res.out)
    assert.matches("\n033 +t33 +sql +applied +%d", res.out)
    assert.matches("\n0*50 +t50 +sql +applied, file missing ", res.out)
    local _, modified = res.out:gsub("modified ", "")
    assert.are.equal(1, modified)
    res = H.run_fails(cmd("check", url, dir), "0 pending, 1 modified, 1 missing", 7)
    assert.matches("\nmodified: 017 t17 ", "\n" .. res.out)
    assert.matches("\nmissing: 0*50 t50 ", res.out)
    assert.is_nil(res.out:match("t33"))
    H.run_fails(cmd("up", url, dir), "nothing was run:\n", 2)
    assert.are.equal(60, count(url, "select count(*) from moonshift_migrations"))
  end)

  it("keep late versions out unless allowed or opted in; down undoes the newest application first", function()
    local url = H.new_db()
    local function sql(t) return ("-- migrate:up\ncreate table %s (id int);\n-- migrate:down\ndrop table %s;\n"):format(t, t) end
    local dir = H.migrations({ ["001_a.sql"] = sql("a"), ["005_e.sql"] = sql("e") })
    H.run_ok(cmd("up", url, dir), "applied 005 e")
    H.write(dir .. "/002_b.sql", sql("b"))
    local res = H.run_fails(cmd("up", url, dir), "^moonshift: pending migrations are older than the newest applied "
      .. "one %(merged late from another branch%?%); nothing was run:\n  [^\n]*/002_b%.sql %(version 5 is already "
      .. "applied%)\nrun them anyway with %-%-allow%-out%-of%-order\n$", 2)
    assert.are.equal("", res.out)
    assert.is_false(exists(url, "b"))
    H.run_ok(cmd("up", url, dir, "--allow-out-of-order"), "^applied 002 b ")

    H.write(dir .. "/003_c.sql", "-- migrate:up out_of_order:ok\ncreate table c (id int);\n-- migrate:down\ndrop table c;\n")
    H.write(dir .. "/004_d.lua", "return { out_of_order = true,\n  up = function(db) db:exec('create table d (id int)') end,\n"
      .. "  down = function(db) db:exec('drop table d') end }\n")
    H.run_ok(cmd("up", url, dir), "^applied 003 c %(%d+ ms%)\napplied 004 d %(%d+ ms%)\n2 migrations applied")
    assert.are.same({ "1", "2", "3", "4", "5" }, versions(url))

    res = H.run_ok({ "down", "3", "--url", url, "--dir", dir })
    local order = {}
    for v in res.out:gmatch("reverted (%d+) ") do order[#order + 1] = v end
    assert.are.same({ "004", "003", "002" }, order)
    assert.are.same({ "1", "5" }, versions(url))
    assert.is_true(exists(url, "e"))
    assert.is_false(exists(url, "b") or exists(url, "c") or exists(url, "d"))
  end)
end)

describe("a statement that cannot run in a transaction", function()
  local cases = {
    { "CREATE INDEX CONCURRENTLY", "CREATE INDEX CONCURRENTLY first_id ON first (id);" },
    { "CREATE UNIQUE INDEX CONCURRENTLY", "create unique index concurrently first_id on first (id);" },
    { "VACUUM", "VACUUM first;" },
    { "VACUUM (options)", "VACUUM (ANALYZE) first;" },
    { "CREATE DATABASE", "CREATE DATABASE other_db;" },
    { "ALTER SYSTEM", "ALTER SYSTEM SET work_mem = '8MB';" },
    { "REINDEX TABLE CONCURRENTLY", "REINDEX TABLE CONCURRENTLY first;" },
    { "REINDEX INDEX CONCURRENTLY", "reindex index concurrently first_id;" },
    { "DROP INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY IF EXISTS first_id;" },
    { "after a comment", "/* online */ CREATE INDEX CONCURRENTLY first_id ON first (id);", "CREATE INDEX CONCURRENTLY" },
    { "REINDEX (options) ... CONCURRENTLY", "REINDEX (VERBOSE) TABLE CONCURRENTLY first;" },
    { "VACUUM FULL", "VACUUM FULL first;" },
    { "DISCARD ALL", "DISCARD ALL;" },
  }

  it("in a transactional section stops every command before anything runs, naming file:line", function()
    local url = H.new_db()
    for _, case in ipairs(cases) do
      local what, stmt, shown = case[1], case[2], case[3] or case[2]:sub(1, 20)
      local dir = H.migrations({
        ["001_ok.sql"] = "create table first (id int);\n",
        ["002_bad.sql"] = "-- migrate:up\n-- " .. what .. "\ncreate table second (id int);\n" .. stmt .. "\n",
      })
      local res = H.run(cmd("up", url, dir))
      assert.are.equal(2, res.code, what .. ": " .. res.err)
      local want = "^moonshift: [^\n]*/002_bad%.sql:4: '" .. lit(shown) .. "[^\n]*' cannot run inside a "
        .. "transaction; put it in a section marked transaction:false %(e%.g%. %-%- migrate:up transaction:false%)\n$"
      assert(res.err:find(want), what .. ": stderr was\n" .. res.err)
      assert.are.equal("", res.out, what)
      -- neither 001 nor the tracking table
      assert.are.equal("0", H.scalar(url, "select count(*) from pg_class where relname in ('first', 'moonshift_migrations')"), what)
    end
    -- the same statement in a down section stops down before it runs
    local dir = H.migrations({
      ["001_ok.sql"] = "-- migrate:up\ncreate table first (id int);\n-- migrate:down\ndrop table first;\n",
      ["002_idx.sql"] = "-- migrate:up transaction:false\ncreate index concurrently first_id on first (id);\n"
        .. "-- migrate:down\nselect 1;\nDROP INDEX CONCURRENTLY first_id;\n",
    })
    H.run_ok(cmd("up", url, dir), "applied 002 idx")
    H.run_fails({ "down", "2", "--url", url, "--dir", dir }, "/002_idx%.sql:5: 'DROP INDEX CONCURRENTLY first_id;' "
      .. "cannot run inside a transaction; put it in a section marked transaction:false", 2)
    assert.are.same({ "1", "2" }, versions(url))
    assert.is_true(exists(url, "first_id"))
  end)
end)

-- History and check ------------------------------------------------------

describe("the history", function()
  it("log lists up, down, baseline, accept, up failed, repair and force with who@host, version and name", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_one.sql"] = "-- migrate:up\ncreate table one (id int);\n-- migrate:down\ndrop table one;\n",
      ["002_part.sql"] = "-- migrate:up transaction:false\ncreate table p1 (id int);\nselect 1/0;\n",
    })
    H.run_ok(cmd("up", url, dir, "--to", "1"), "applied 001 one")
    H.run_ok(cmd("down", url, dir), "reverted 001 one")
    H.run_ok({ "baseline", "1", "--url", url, "--dir", dir }, "baselined 001 one")
    H.write(dir .. "/001_one.sql", "-- migrate:up\ncreate table one (id bigint);\n-- migrate:down\ndrop table one;\n")
    H.run_ok({ "accept", "1", "--url", url, "--dir", dir }, "accepted 001 one")
    H.run_fails(cmd("up", url, dir), "statement 2 of 2 failed", 1)
    H.run_ok({ "repair", "2", "--url", url, "--dir", dir }, "repaired 002 part")
    H.run_ok({ "force", "2", "--url", url, "--dir", dir }, "forced 002 part")
    assert.are.same({ "1", "2" }, versions(url))
    assert.is_false(exists(url, "one"))   -- baselined, never run again

    local expected = {
      { "up", "001", "one" }, { "down", "001", "one" }, { "baseline", "001", "one" }, { "accept", "001", "one" },
      { "up failed", "002", "part" }, { "repair", "002", "part" }, { "force", "002", "part" },
    }
    local res = H.run_ok(cmd("log", url, dir))
    local lines = {}
    for l in res.out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(#expected, #lines, res.out)
    for i, e in ipairs(expected) do
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ%s+" .. lit(USER .. "@" .. HOST) .. "%s+" .. e[1]
        .. "%s+" .. e[2] .. "%s+" .. e[3] .. "%f[%s]", lines[i])
    end
    assert.matches("division_by_zero", lines[5])
    assert.matches("checksum sha256%-v1:%x+ %-> sha256%-v1:%x+", lines[4])

    local doc = decode(H.run_ok(cmd("log", url, dir, "--json")).out)
    assert_envelope(doc, "log", 0)
    assert.are.equal(#expected, #doc.events)
    for i, e in ipairs(expected) do
      local ev = doc.events[i]
      has_keys(ev, { "at", "by", "action", "version", "name", "note" }, "event " .. i)
      assert.are.same({ e[1], tonumber(e[2]), e[3], USER .. "@" .. HOST },
        { ev.action, ev.version, ev.name, ev.by })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", ev.at)
    end
    assert.matches("22012 division_by_zero", doc.events[5].note)
    assert.matches("^checksum sha256%-v1:%x+ %-> sha256%-v1:%x+$", doc.events[4].note)
    assert.are.equal("number", type(doc.events[1].duration_ms))
  end)
end)

describe("check", function()
  it("exits 0 up to date, 5 pending, 6 modified, 7 missing, 8 failed, 3 without a server, 2 on a folder error", function()
    local url, name = H.new_db()
    local ONE = "create table one (id int);\n"
    local dir = H.migrations({ ["001_one.sql"] = ONE })
    H.run_fails(cmd("check", url, dir), "1 pending, 0 modified, 0 missing, 0 failed", 5)
    assert.is_nil(versions(url))
    assert.is_false(exists(url, "one"))
    H.run_ok(cmd("up", url, dir))
    H.run_ok(cmd("check", url, dir), "^ok: the database is at version 001, the newest\n$")

    H.write(dir .. "/001_one.sql", "create table one (id bigint);\n")
    H.run_fails(cmd("check", url, dir), "0 pending, 1 modified", 6)
    os.remove(dir .. "/001_one.sql")
    H.write(dir .. "/002_two.sql", "create table two (id int);\n")
    -- missing outranks pending
    local res = H.run_fails(cmd("check", url, dir), "1 pending, 0 modified, 1 missing", 7)
    assert.matches("pending: 002 two\n", res.out)
    H.write(dir .. "/001_one.sql", ONE)
    os.remove(dir .. "/002_two.sql")
    H.run_ok(cmd("check", url, dir), "^ok:")

    H.write(dir .. "/002_part.sql", "-- migrate:up transaction:false\ncreate table p1 (id int);\nselect 1/0;\n")
    H.run_fails(cmd("up", url, dir), "statement 2 of 2 failed", 1)
    res = H.run_fails(cmd("check", url, dir), "1 failed", 8)
    assert.matches("failed: 002 part %(up failed part way: [^\n]*division_by_zero", res.out)

    H.run_fails(cmd("check", ("postgres://%s@127.0.0.1:1/%s"):format(USER, name), dir), "cannot connect", 3)
    H.write(dir .. "/002_again.sql", "select 1;\n")
    H.run_fails(cmd("check", url, dir), "both have version 2", 2)
  end)

  it("neither takes the lock nor changes anything #timing", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["001_one.sql"] = "create table one (id int);\n" })
    local holder = hold_lock(url, name, lock_key(url, dir), 10)
    local tables = "select count(*) from pg_class where relname like 'moonshift%'"
    assert.are.equal(0, count(url, tables))
    local t0 = now()
    H.run_fails(cmd("check", url, dir), "1 pending", 5, { timeout = 8 })
    H.run_fails(cmd("check", url, dir, "--json"), nil, 5, { timeout = 8 })
    assert.is_true(now() - t0 < 2, "check waited")
    assert.are.equal(0, count(url, tables))
    assert.are.equal(1, advisory_locks(name))
    end_sessions(name)
    holder:wait(5)
  end)
end)

describe("--json", function()
  it("prints one document with the documented keys on status, check, log, up and down, failures included", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_one.sql"] = "-- migrate:up\ncreate table one (id int);\n-- migrate:down\ndrop table one;\n",
      ["002_two.lua"] = "return { up = function(db) db:exec('create table two (id int)') end,\n"
        .. "  down = function(db) db:exec('drop table two') end }\n",
    })
    local function json(args, code)
      local res = H.run(args)
      assert.are.equal(code, res.code, res.err)
      local doc = decode(res.out)
      assert_envelope(doc, args[1], code)
      return doc, res
    end

    local doc = json(cmd("up", url, dir, "--json"), 0)
    has_keys(doc, { "migrations", "version" })
    assert.are.equal(2, doc.version)
    assert.are.equal(2, #doc.migrations)
    for i, m in ipairs(doc.migrations) do
      has_keys(m, { "version", "name", "kind", "direction", "duration_ms" }, "migration " .. i)
    end
    assert.are.same({ 1, "one", "sql", "up" }, { doc.migrations[1].version, doc.migrations[1].name,
      doc.migrations[1].kind, doc.migrations[1].direction })
    assert.are.same({ 2, "two", "lua", "up" }, { doc.migrations[2].version, doc.migrations[2].name,
      doc.migrations[2].kind, doc.migrations[2].direction })

    H.write(dir .. "/003_three.sql", "create table three (id int);\n")
    doc = json(cmd("status", url, dir, "--json"), 0)
    has_keys(doc, { "migrations", "applied", "pending", "modified", "missing", "failed", "schema", "table", "lock_key" })
    assert.are.same({ 2, 1, 0, 0, 0, "public", "moonshift_migrations" },
      { doc.applied, doc.pending, doc.modified, doc.missing, doc.failed, doc.schema, doc.table })
    assert.are.equal(lock_key(url, dir), tostring(doc.lock_key))
    local m1, m3 = doc.migrations[1], doc.migrations[3]
    has_keys(m1, { "version", "name", "kind", "state", "file", "applied_at", "duration_ms", "applied_by", "checksum" })
    assert.are.same({ "applied", USER }, { m1.state, m1.applied_by })
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", m1.applied_at)
    assert.matches("/001_one%.sql$", m1.file)
    assert.are.equal(H.scalar(url, "select checksum from moonshift_migrations where version = 1"), m1.checksum)
    assert.are.same({ 3, "pending", NULL }, { m3.version, m3.state, m3.applied_at })

    doc = json(cmd("check", url, dir, "--json"), 5)
    assert.are.equal(2, doc.version)
    assert.are.same({ { problem = "pending", version = 3, name = "three" } }, doc.problems)
    assert.matches("not at the newest version", doc.error.message)

    doc = json(cmd("down", url, dir, "--json"), 0)
    assert.are.equal(1, doc.version)
    assert.are.same({ 2, "down" }, { doc.migrations[1].version, doc.migrations[1].direction })

    -- a failure: what ran before it is listed, and error says what failed
    H.write(dir .. "/004_bad.sql", "select 1/0;\n")
    local res
    doc, res = json(cmd("up", url, dir, "--json"), 1)
    assert.are.same({ 2, 3 }, { doc.migrations[1].version, doc.migrations[2].version })
    assert.are.equal(2, #doc.migrations)
    assert.matches("004_bad%.sql:1:?%d*: ERROR 22012 division_by_zero", doc.error.message)
    assert.matches("004_bad%.sql$", doc.error.file)
    assert.are.equal(1, doc.error.line)
    assert.are.equal("22012", doc.error.sqlstate)
    assert.matches("ERROR 22012 division_by_zero", res.err)   -- and on stderr as text
    assert.are.same({ "1", "2", "3" }, versions(url))

    doc = json(cmd("log", url, dir, "--json"), 0)
    assert.are.equal("up failed", doc.events[#doc.events].action)
    assert.are.equal(4, doc.events[#doc.events].version)

    -- no server: still one document
    doc = json(cmd("status", ("postgres://%s@127.0.0.1:1/%s"):format(USER, name), dir, "--json"), 3)
    assert.matches("cannot connect", doc.error.message)
    doc = json(cmd("down", url, dir .. "/nowhere", "--json"), 2)
  end)

  it("gives the database's version after a failed up or down too", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_one.sql"] = "-- migrate:up\ncreate table one (id int);\n-- migrate:down\nselect 1/0;\n",
      ["002_bad.sql"] = "select 1/0;\n",
    })
    local res = H.run(cmd("up", url, dir, "--json"))
    assert.are.equal(1, res.code)
    local doc = decode(res.out)
    assert_envelope(doc, "up", 1)
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(1, doc.version)
    res = H.run(cmd("down", url, dir, "--json"))
    assert.are.equal(1, res.code)
    doc = decode(res.out)
    assert_envelope(doc, "down", 1)
    assert.are.equal(1, doc.version)
  end)
end)
