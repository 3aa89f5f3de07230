-- Concurrent runs: the session advisory lock serialises them, a runner killed
-- mid-migration leaves neither its work nor its lock, and --lock-timeout
-- gives up with exit 4.
local H = require("spec_helper")
local now, sleep, cmd, exists, versions, wait_for, advisory_locks = H.now, H.sleep, H.cmd, H.exists, H.versions, H.wait_for, H.advisory_locks







-- The advisory lock key `status` reports for this database and folder.
local function lock_key(url, dir)
  local res = H.run_ok(cmd("status", url, dir))
  return assert(res.out:match("advisory lock key (%-?%d+)"), "no lock key in status output")
end

-- Starts a psql session holding the migration lock for `seconds`; returns
-- its handle once the lock is held.
local function hold_lock(url, name, key, seconds)
  local h = H.spawn({ "-X", "-q", "-d", url, "-c", ("select pg_advisory_lock(%s)"):format(key),
                      "-c", ("select pg_sleep(%s)"):format(seconds) }, { program = H.psql })
  assert(wait_for(5, function() return advisory_locks(name) == 1 end), "psql did not take the lock")
  return h
end

describe("concurrent runs", function()
  it("apply each migration exactly once when 8 runners start together", function()
    local url, name = H.new_db()
    local files = { ["1_runs.sql"] = "create table runs (v int, at timestamptz default clock_timestamp());\ninsert into runs (v) values (1);\n" }
    for v = 2, 5 do
      files[("%d_m%d.sql"):format(v, v)] = ("create table t%d (id int);\ninsert into runs (v) values (%d);\n%s"):format(
        v, v, v == 3 and "select pg_sleep(0.5);\n" or "")
    end
    local dir = H.migrations(files)
    local handles = {}
    for i = 1, 8 do handles[i] = H.spawn(cmd("up", url, dir), { timeout = 60 }) end
    local results = H.wait_all(handles)
    local applied = {}
    for i, res in ipairs(results) do
      assert.are.equal(0, res.code, ("runner %d failed:\n%s"):format(i, res.err))
      assert.matches("the database is at version 5\n$", res.out)
      for v in res.out:gmatch("applied (%d+) ") do
        applied[#applied + 1] = v
      end
    end
    table.sort(applied)
    assert.are.same({ "1", "2", "3", "4", "5" }, applied)
    assert.are.same({ { "1", "1" }, { "2", "1" }, { "3", "1" }, { "4", "1" }, { "5", "1" } },
      H.sql(url, "select v::text, count(*)::text from runs group by v order by v"))
    assert.are.same({ "1", "2", "3", "4", "5" }, versions(url))
    assert.are.equal(0, advisory_locks(name))
  end)

  it("leave nothing behind when a runner is killed inside a Lua migration, lock included", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["1_first.sql"] = "create table first (id int);\n",
      ["2_slow.lua"] = [[
return { up = function(db)
  db:exec("create table slow (id int)")
  db:exec("select pg_sleep(3)")
end }
]],
    })
    local h = H.spawn(cmd("up", url, dir))
    assert(wait_for(5, function() return exists(url, "first") end), "the first migration did not run")
    sleep(1)
    h:kill("KILL")
    local res = h:wait(5)
    assert.are.equal(137, res.code)
    assert.is_true(wait_for(8, function() return advisory_locks(name) == 0 end), "the advisory lock is still held")
    assert.is_false(exists(url, "slow"))
    assert.are.same({ "1" }, versions(url))
    H.run_ok(cmd("up", url, dir), "^applied 2 slow %(%d+ ms%)\n1 migration applied; the database is at version 2\n$")
    assert.is_true(exists(url, "slow"))
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("leave nothing behind when a runner is killed inside a SQL migration", function()
    local url, name = H.new_db()
    local dir = H.migrations({
      ["1_first.sql"] = "create table first (id int);\n",
      ["2_slow.sql"] = "create table slow (id int);\nselect pg_sleep(3);\n",
    })
    local h = H.spawn(cmd("up", url, dir))
    assert(wait_for(5, function() return exists(url, "first") end), "the first migration did not run")
    sleep(1)
    h:kill("KILL")
    assert.are.equal(137, h:wait(5).code)
    assert.is_true(wait_for(8, function() return advisory_locks(name) == 0 end), "the advisory lock is still held")
    assert.is_false(exists(url, "slow"), "the killed runner's migration was committed")
    assert.are.same({ "1" }, versions(url))
    H.run_ok(cmd("up", url, dir), "^applied 2 slow ")
    assert.are.same({ "1", "2" }, versions(url))
  end)
end)

describe("--lock-timeout", function()
  it("gives up with exit 4 while another session holds the lock, and changes nothing #timing", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/2_b.sql", "create table b (id int);\n")
    local key = lock_key(url, dir)
    local holder = hold_lock(url, name, key, 10)

    local t0 = now()
    local res = H.run_fails(cmd("up", url, dir, "--lock-timeout", "1s"),
      "^moonshift: could not take the migration lock %(key " .. key .. "%) within 1s; another moonshift run holds it\n$", 4)
    local waited = now() - t0
    assert.is_true(waited >= 0.9 and waited < 5, ("waited %.2fs"):format(waited))
    assert.are.equal("", res.out)
    assert.is_false(exists(url, "b"))
    assert.are.same({ "1" }, versions(url))

    H.run_fails(cmd("down", url, dir, "--lock-timeout", "500ms"), "could not take the migration lock", 4)
    assert.is_true(exists(url, "a"))
    -- reading needs no lock, nor does an up with nothing to apply
    H.run_ok(cmd("status", url, dir), "\n2 +b +sql +pending")
    H.run_ok(cmd("up", url, dir, "--to", "1", "--lock-timeout", "1s"), "^nothing to apply; the database is at version 1\n$")

    -- psql's backend sleeps on after psql dies, so end the session itself
    H.sql(url, "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted")
    holder:wait(5)
    assert.is_true(wait_for(5, function() return advisory_locks(name) == 0 end))
    H.run_ok(cmd("up", url, dir, "--lock-timeout", "1s"), "^applied 2 b ")
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("is not needed to wait: without it a runner waits for the lock, says who holds it, then runs #timing", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
    local key = lock_key(url, dir)
    -- held long enough for the runner's first report (after 2s of polling)
    local holder = hold_lock(url, name, key, 4.5)
    local t0 = now()
    local res = H.run_ok(cmd("up", url, dir), "^applied 1 a ", { timeout = 30 })
    assert.is_true(now() - t0 >= 2, "the runner did not wait for the lock")
    assert.matches("waiting %d+s for the migration lock: pid %d+ %(psql, ", res.err)
    holder:wait(5)
    assert.are.same({ "1" }, versions(url))
  end)
end)
