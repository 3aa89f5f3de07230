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

  it("is the last line of defence: a version recorded meanwhile by another runner rolls this attempt back", function()
    -- another runner whose lock did not keep it out (simulated: it records
    -- version 2 while this runner's migration 002 is still running)
    local url = H.new_db()
    local dir = H.migrations({ ["001_t.sql"] = "CREATE TABLE t (n int);\nINSERT INTO t VALUES (0);\n" })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/002_inc.sql", "SELECT pg_sleep(1.5);\nUPDATE t SET n = n + 1;\n")
    local a = H.spawn(cmd("up", url, dir))
    H.sleep(0.5)
    H.sql(url, "INSERT INTO moonshift_migrations (version, name, kind, checksum, duration_ms) "
      .. "VALUES (2, 'inc', 'sql', 'by-the-other-runner', 1)")
    local ra = a:wait(30)
    assert.are.equal(0, ra.code, ra.err)
    assert.matches("002 inc was applied by another runner meanwhile[^\n]*rolled back", ra.err)
    assert.are.equal(0, count(url, "SELECT n FROM t"))   -- this runner's UPDATE did not stay
    assert.are.equal("by-the-other-runner", H.scalar(url, "SELECT checksum FROM moonshift_migrations WHERE version = 2"))
    assert.are.equal(0, count(url, "SELECT count(*) FROM moonshift_history WHERE action = 'up' AND version = 2"))
  end)
end)

describe("the migration lock", function()
  it("lost during a run (DISCARD ALL in a section outside a transaction) stops the run with exit 4", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_discard.sql"] = "-- migrate:up transaction:false\nDISCARD ALL;\n",
      ["002_next.sql"] = "CREATE TABLE next (id int);\n",
    })
    H.run_fails(cmd("up", url, dir), "moonshift lost its migration lock %(did a migration run DISCARD ALL", 4)
    assert.is_false(H.exists(url, "next"))
    assert.are.same({ { "1", "up" } }, H.sql(url, "SELECT version, failed_op FROM moonshift_migrations"))
  end)

  it("released by pg_advisory_unlock_all() in a transactional migration rolls it back with exit 4", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_unlock.sql"] = "CREATE TABLE t (id int);\nSELECT pg_advisory_unlock_all();\n",
      ["002_next.sql"] = "CREATE TABLE next (id int);\n",
    })
    H.run_fails(cmd("up", url, dir), "moonshift lost its migration lock", 4)
    assert.is_false(H.exists(url, "t"))
    assert.is_false(H.exists(url, "next"))
    assert.are.same({}, versions(url))
  end)

  it("of one mode excludes the other: a runner with --lock=table waits for the advisory lock's holder", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_slow.lua"] = 'return { up = function(db) db:exec("CREATE TABLE t (n int)") db:sleep(2) end }\n',
    })
    local a = H.spawn(cmd("up", url, dir))
    H.sleep(0.7)
    local b = H.run(cmd("up", url, dir, "--lock=table", "--lock-timeout", "500ms"))
    assert.are.equal(4, b.code, b.err)
    assert.are.equal(0, a:wait(30).code)
    -- and the other way round: a live lease keeps the advisory runner out
    H.write(dir .. "/002_slow.lua", 'return { up = function(db) db:exec("CREATE TABLE u (n int)") db:sleep(2) end }\n')
    a = H.spawn(cmd("up", url, dir, "--lock=table"))
    H.sleep(0.7)
    b = H.run(cmd("up", url, dir, "--lock-timeout", "500ms"))
    assert.are.equal(4, b.code, b.err)
    assert.are.equal(0, a:wait(30).code)
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("lease owners are unique even for runners with the same host name and pid", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "SELECT owner FROM moonshift_lock;\n" })
    H.run_ok(cmd("up", url, dir, "--lock=table", "-v"))
    H.write(dir .. "/002_b.sql", "CREATE TABLE owners AS SELECT owner FROM moonshift_lock;\n")
    H.run_ok(cmd("up", url, dir, "--lock=table"))
    local owner = H.scalar(url, "SELECT owner FROM owners")
    assert.matches(":%d+:%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$", owner)   -- 64 random bits from the OS
  end)
end)

describe("the Lua sandbox", function()
  local function lua_dir(body)
    return H.migrations({ ["001_t.sql"] = "CREATE TABLE t (id int);\n", ["002_x.lua"] = body })
  end

  it("refuses binary chunks however they are loaded, with an error instead of a crash", function()
    local url = H.new_db()
    for _, code in ipairs({
      'load(string.dump(function() end), nil, "b")',
      'assert(load(string.dump(function() end)))',
      'loadfile("/dev/null", "b")',
    }) do
      local dir = lua_dir(("return { up = function(db) %s end }\n"):format(code))
      local res = H.run(cmd("up", url, dir))
      assert.are.equal(1, res.code, code .. ": " .. res.err)
      assert.matches("binary chunk", res.err, 1, false)
      assert.are.same({ "1" }, versions(url))
      H.sql(url, "DROP TABLE t; DELETE FROM moonshift_migrations")
    end
  end)

  it("has no way to os.exit, debug or the real globals", function()
    local url = H.new_db()
    for _, code in ipairs({
      "package.loaded.os.exit(0)",
      "getmetatable(_G).__index.os.exit(0)",
      "debug.sethook()",
      "os.exit(0)",
      "getmetatable('').__index.upper = nil",
    }) do
      local dir = lua_dir(("return { up = function(db) %s end }\n"):format(code))
      local res = H.run(cmd("up", url, dir))
      assert.are.equal(1, res.code, code .. ": " .. res.out .. res.err)
      assert.matches("002_x%.lua:1:", res.err)
      assert.are.same({ "1" }, versions(url))
      H.sql(url, "DROP TABLE t; DELETE FROM moonshift_migrations")
    end
  end)

  it("keeps one migration's patches of db and shared modules away from the next", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_patch.lua"] = [[
return { up = function(db)
  assert(not pcall(function() getmetatable(db).__index.exec = function() end end))
  assert(getmetatable(db) == "moonshift db")
  assert(not pcall(function() require("moonshift.catalog").patched = true end))
  string.trim = function() return "patched" end
end }
]],
      ["002_create.lua"] = [[
return { up = function(db)
  db:exec("CREATE TABLE made (id int)")
  assert(string.trim == nil, "a patch of string reached the next migration")
end }
]],
    })
    H.run_ok(cmd("up", url, dir), "2 migrations applied")
    assert.is_true(H.exists(url, "made"))
  end)

  it("stops db:sleep at the --lua-timeout deadline", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_nap.lua"] = "return { up = function(db) db:sleep(6) end }\n" })
    local t0 = H.now()
    H.run_fails(cmd("up", url, dir, "--lua-timeout", "1s"), "ran longer than its lua_timeout", 1)
    assert.is_true(H.now() - t0 < 4, "db:sleep outlived the deadline")
    assert.are.same({}, versions(url))
  end)
end)

describe("a runner killed inside a section outside a transaction", function()
  it("leaves the statements that ran recorded, so check says failed and the next up resumes", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_steps.sql"] = "-- migrate:up transaction:false\nCREATE TABLE a (id int);\nSELECT pg_sleep(5);\n"
        .. "CREATE TABLE b (id int);\n",
    })
    local run = H.spawn(cmd("up", url, dir))
    assert.is_true(H.wait_for(10, function() return H.exists(url, "a") end), "the first statement did not run")
    H.sleep(0.3)
    run:kill(9)
    run:wait(10)
    assert.is_false(H.exists(url, "b"))
    local chk = H.run(cmd("check", url, dir))
    assert.are.equal(8, chk.code, chk.err)
    assert.matches("failed: 001 steps %(up failed part way: the run stopped after statement 1 of 3", chk.out)
    local res = H.run_ok(cmd("up", url, dir, "--lock-timeout", "20s"), "applied 001 steps", { timeout = 60 })
    assert.matches("resuming [^\n]*001_steps%.sql at statement 2 of 3", res.err)
    assert.is_true(H.exists(url, "b"))
    assert.are.same({ { "1" } }, H.sql(url, "SELECT version FROM moonshift_migrations WHERE failed_op IS NULL"))
  end)
end)


describe("inputs at the edges", function()
  it("new after the largest 64-bit version refuses instead of writing a negative one", function()
    local dir = H.migrations({ ["9223372036854775807_big.sql"] = "SELECT 1;\n" })
    H.run_fails({ "new", "next", "--dir", dir }, "no version can follow it", 2)
    local names = H.sh("ls " .. H.q(dir)).out
    assert.are.equal("9223372036854775807_big.sql\n", names)
  end)

  it("a compiled (luac) migration is refused naming its file", function()
    local url = H.new_db()
    local dir = H.tmpdir()
    H.write(dir .. "/001_bin.lua", string.dump(function() return {} end))
    H.run_fails(cmd("up", url, dir), "^moonshift: [^\n]*/001_bin%.lua: attempt to load a binary chunk", 2)
    assert.is_nil(versions(url))
  end)
end)

describe("moonshift's own tables", function()
  for _, case in ipairs({
    { "DROP TABLE moonshift_migrations;", "dropped" },
    { "DELETE FROM moonshift_migrations WHERE version = 1;", "changed the rows of" },
    { "DROP TABLE moonshift_history;", "dropped" },
  }) do
    it("dropped or rewritten by a section outside a transaction stop the run: " .. case[1], function()
      local url = H.new_db()
      local dir = H.migrations({ ["001_a.sql"] = "CREATE TABLE a (id int);\n" })
      H.run_ok(cmd("up", url, dir))
      H.write(dir .. "/002_bad.sql", "-- migrate:up transaction:false\n" .. case[1] .. "\n")
      H.write(dir .. "/003_next.sql", "CREATE TABLE next (id int);\n")
      H.run_fails(cmd("up", url, dir), "002_bad%.sql: the migration " .. case[2]:gsub("%p", "%%%0")
        .. " moonshift's tracking tables", 1)
      assert.is_false(H.exists(url, "next"))
    end)
  end
end)

describe("an empty migration", function()
  it("(an empty file, or comments only) applies as a no-op, recorded, and says so", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_empty.sql"] = "",
      ["002_comments.sql"] = "-- only matters on another engine\n/* nothing here */\n",
      ["003_t.sql"] = "CREATE TABLE t (id int);\n",
    })
    H.run_ok(cmd("up", url, dir), "applied 001 empty %(empty, nothing to run; %d+ ms%)\n"
      .. "applied 002 comments %(empty, nothing to run; %d+ ms%)\napplied 003 t ")
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)

  it("written by moonshift new and left untouched is refused as unfinished", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_base.sql"] = "CREATE TABLE base (id int);\n" })
    H.run_ok({ "new", "later", "--dir", dir })
    H.run_fails(cmd("up", url, dir), "/2_later%.sql:3: the up section holds no SQL statement %(an unfinished", 2)
    assert.is_nil(versions(url))
  end)
end)

describe("a password with an unencoded '@' or '/'", function()
  it("leaves no piece of itself in a connect error or a usage error", function()
    local dir = H.migrations({ ["001_a.sql"] = "SELECT 1;\n" })
    for _, case in ipairs({
      { "postgres://u:p@ssW0rd/t4il@127.0.0.1:1/db", { "ssW0rd", "t4il" } },
      { "postgres://u:se/cr3tX@127.0.0.1:1/db", { "cr3tX" } },
      { "postgres://u:abQ@cdZ9@127.0.0.1:1/db", { "abQ", "cdZ9" } },
    }) do
      local url, pieces = case[1], case[2]
      for _, args in ipairs({
        { "status", "--url", url, "--dir", dir },
        { "up", url, "--dir", dir },
        { "--to", url, "up", "--dir", dir },
        { url },
      }) do
        local res = H.run(args)
        assert.are_not.equal(0, res.code)
        for _, piece in ipairs(pieces) do
          assert.is_nil((res.out .. res.err_raw):find(piece, 1, true),
            ("%s shows '%s':\n%s"):format(table.concat(args, " "), piece, res.err_raw))
        end
      end
    end
  end)
end)

describe("a migration file cut short while it is read", function()
  it("stops the run with a clear error (exit 2) instead of a crash, and nothing of it stays #timing", function()
    local url, name = H.new_db()
    local dir = H.tmpdir()
    local path = dir .. "/001_big.sql"
    local gen = H.sh(("{ printf 'CREATE TABLE big (a int, b text);\\nCOPY big (a, b) FROM stdin;\\n'; "
      .. "awk 'BEGIN { s = sprintf(\"%%200s\", \"\"); for (i = 0; i < 600000; i++) printf \"%%d\\t%%s\\n\", i, s }'; "
      .. "printf '\\\\.\\n'; } > %s"):format(H.q(path)))
    assert.are.equal(0, gen.code, gen.err)
    local run = H.spawn(cmd("up", url, dir))
    assert.is_true(H.wait_for(20, function()
      return tonumber(H.scalar(H.url(), ("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
        .. "AND query LIKE 'COPY big%%'"):format(name))) > 0
    end), "the COPY never started")
    H.sh("truncate -s 0 " .. H.q(path))
    local res = run:wait(60)
    assert.are.equal(2, res.code, res.err)
    assert.matches("a migration file was truncated or replaced while moonshift was reading it", res.err)
    assert.is_true(H.wait_for(10, function() return not H.exists(url, "big") end))
    assert.are.same({}, versions(url))
  end)
end)

describe("a version of more than 19 digits", function()
  it("is refused by name, even when its leading zeros keep it small", function()
    local url = H.new_db()
    local dir = H.migrations({ ["0000000000000000000000000000000000000001_x.sql"] = "SELECT 1;\n" })
    H.run_fails(cmd("up", url, dir), "0001_x%.sql: the version has more than 19 digits", 2)
    H.run_fails(cmd("version", url, dir), "more than 19 digits", 2)
  end)
end)
