-- integrity_spec.lua: moonshift never reports what did not happen: bytes are
-- sent as written (a NUL byte is refused), a migration cannot end the
-- transaction it shares with its tracking row, a dry run cannot commit, a
-- section outside a transaction cannot leave one open, a role set by one
-- migration does not reach the next, the tracking row cannot be hijacked
-- through search_path, and two runners that do not share a lock still apply
-- a migration once.
local H = require("spec_helper")
local cmd, versions = H.cmd, H.versions

local function count(url, sql) return tonumber(H.scalar(url, sql)) end

describe("a NUL byte", function()
  it("inside a statement is refused with file:line:col before anything runs", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_acct.sql"] = "CREATE TABLE acct (id int, balance int);\nINSERT INTO acct VALUES (5, 10), (6, 20);\n",
    })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/002_zero.sql", "UPDATE acct SET balance = 0\0 WHERE id = 5;\n")
    H.run_fails(cmd("up", url, dir), "^moonshift: [^\n]*/002_zero%.sql:1:28: a NUL byte[^\n]*nothing was run", 2)
    assert.are.same({ { "5", "10" }, { "6", "20" } }, H.sql(url, "SELECT id, balance FROM acct ORDER BY id"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("at the start of a file is refused, and the file is not recorded as applied", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_nul.sql"] = "\0CREATE TABLE t (id int);\n" })
    H.run_fails(cmd("up", url, dir), "/001_nul%.sql:1:1: a NUL byte", 2)
    assert.is_nil(versions(url))
    assert.is_false(H.exists(url, "t"))
  end)

  it("in the SQL or a parameter of db:exec is refused, and the migration is not recorded", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_t.sql"] = "CREATE TABLE t (v text);\n",
      ["002_sql.lua"] = 'return { up = function(db) db:exec("INSERT INTO t VALUES (\'a\')\\0; DROP TABLE t") end }\n',
    })
    H.run_fails(cmd("up", url, dir), "002_sql%.lua:1: the SQL text holds a NUL byte %(at byte 27%)", 1)
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(0, count(url, "SELECT count(*) FROM t"))
    H.write(dir .. "/002_sql.lua", 'return { up = function(db) db:exec("INSERT INTO t VALUES ($1)", "a\\0b") end }\n')
    H.run_fails(cmd("up", url, dir), "parameter %$1 holds a NUL byte %(at byte 2%)", 1)
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(0, count(url, "SELECT count(*) FROM t"))
  end)
end)

describe("a transactional Lua migration", function()
  for _, sql in ipairs({ "COMMIT; BEGIN", "COMMIT AND CHAIN", "ROLLBACK; BEGIN", "END" }) do
    it("cannot end its transaction with " .. sql .. ": nothing of it is committed or recorded", function()
      local url = H.new_db()
      local dir = H.migrations({
        ["001_t.sql"] = "CREATE TABLE t (id int);\n",
        ["002_half.lua"] = ('return { up = function(db)\n  db:exec("INSERT INTO t VALUES (1)")\n'
          .. '  db:exec("%s")\n  db:exec("INSERT INTO t VALUES (2)")\nend }\n'):format(sql),
      })
      H.run_fails(cmd("up", url, dir), "002_half%.lua:3: '[^']*' controls the transaction, but this migration "
        .. "runs in one with its tracking row; set transaction = false", 1)
      assert.are.equal(0, count(url, "SELECT count(*) FROM t"))
      assert.are.same({ "1" }, versions(url))
    end)
  end

  it("cannot commit a dry run: up --dry-run fails and nothing is applied or recorded", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_t.sql"] = "CREATE TABLE t (id int);\n",
      ["002_commit.lua"] = 'return { up = function(db) db:exec("INSERT INTO t VALUES (1)") db:exec("COMMIT") end }\n',
    })
    local res = H.run(cmd("up", url, dir, "--dry-run"))
    assert.are.equal(1, res.code, res.err)
    assert.is_nil(res.out:find("everything was rolled back", 1, true), res.out)
    assert.is_false(H.exists(url, "t"))
    assert.is_nil(versions(url))
  end)
end)

describe("a section outside a transaction", function()
  it("that leaves a BEGIN open fails, recorded as failed part way before that BEGIN", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_open.sql"] = "-- migrate:up transaction:false\nCREATE TABLE pre (id int);\nBEGIN;\nCREATE TABLE inside (id int);\n",
    })
    H.run_fails(cmd("up", url, dir), "001_open%.sql: the migration runs outside a transaction but left one open", 1)
    assert.is_true(H.exists(url, "pre"))
    assert.is_false(H.exists(url, "inside"))   -- rolled back with the open transaction
    assert.are.same({ { "up", "1" } },
      H.sql(url, "SELECT failed_op, statements_done FROM moonshift_migrations WHERE version = 1"))
    -- status and version say so, instead of "applied"
    H.run_ok(cmd("status", url, dir), "failed up at 2/3")
    local v = H.run_ok(cmd("version", url, dir))
    assert.are.equal("0\n", v.out)
  end)
end)

describe("the session's role", function()
  it("set by one migration (SET ROLE, SET SESSION AUTHORIZATION) does not reach the next or the tracking row", function()
    local url, name = H.new_db()
    local role = "ms_role_" .. name
    H.sql(url, ("CREATE ROLE %s; GRANT ALL ON SCHEMA public TO %s"):format(role, role))
    local dir = H.migrations({
      ["001_a.sql"] = ("SET ROLE %s;\nCREATE TABLE a (id int);\n"):format(role),
      ["002_b.sql"] = "CREATE TABLE b (id int);\n",
      ["003_c.sql"] = ("-- migrate:up transaction:false\nSET SESSION AUTHORIZATION %s;\nCREATE TABLE c (id int);\n"):format(role),
      ["004_d.lua"] = 'return { up = function(db) db:exec("CREATE TABLE d (id int)") end }\n',
    })
    H.run_ok(cmd("up", url, dir), "4 migrations applied")
    assert.are.same({ { "a", role }, { "b", os.getenv("PGUSER") }, { "c", role }, { "d", os.getenv("PGUSER") } },
      H.sql(url, "SELECT relname::text, pg_get_userbyid(relowner)::text FROM pg_class "
        .. "WHERE relname IN ('a', 'b', 'c', 'd') AND relkind = 'r' ORDER BY 1"))
    assert.are.same({ os.getenv("PGUSER") },
      { H.scalar(url, "SELECT DISTINCT applied_by FROM moonshift_migrations") })
    H.sql(url, ("DROP OWNED BY %s; DROP ROLE %s"):format(role, role))
  end)
end)

describe("the tracking row", function()
  it("calls no function a migration's search_path can replace", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_evil.sql"] = "CREATE SCHEMA evil;\n"
        .. "CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;\n"
        .. "CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;\n"
        .. "SET search_path = evil, pg_catalog, public;\n",
    })
    H.run_ok(cmd("up", url, dir))
    assert.are.equal(0, count(url, "SELECT count(*) FROM moonshift_migrations WHERE applied_at < '2001-01-01'"))
    assert.are.equal(0, count(url, "SELECT count(*) FROM moonshift_history WHERE at < '2001-01-01'"))
  end)

  it("is the last line of defence: two runners whose locks do not meet still apply a migration once", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_t.sql"] = "CREATE TABLE t (n int);\nINSERT INTO t VALUES (0);\n" })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/002_inc.sql", "SELECT pg_sleep(1.5);\nUPDATE t SET n = n + 1;\n")
    local a = H.spawn(cmd("up", url, dir))
    local b = H.spawn(cmd("up", url, dir, "--lock=table"))
    local ra, rb = a:wait(30), b:wait(30)
    assert.are.equal(0, ra.code, ra.err)
    assert.are.equal(0, rb.code, rb.err)
    assert.are.equal(1, count(url, "SELECT n FROM t"))
    assert.are.same({ "1", "2" }, versions(url))
    assert.matches("002 inc was applied by another runner meanwhile[^\n]*rolled back", ra.err .. rb.err)
    assert.are.equal(1, count(url, "SELECT count(*) FROM moonshift_history WHERE action = 'up' AND version = 2"))
  end)
end)
