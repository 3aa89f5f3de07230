-- The CLI's surroundings: the session reset between migrations, where the
-- tracking table lives, the ways to reach the database (and to fail to),
-- passwords kept out of every output, `new`, help and usage errors.
local H = require("spec_helper")
local cmd, exists, versions = H.cmd, H.exists, H.versions




-- Schema of relation `name` (as to_regclass resolves it), or nil.
local function schema_of(url, name)
  return H.scalar(url, ("select relnamespace::regnamespace::text from pg_class where oid = to_regclass('%s')"):format(name))
end

local SECRET = "s3cr3t"

local function assert_no_secret(res)
  assert.is_nil(res.out:find(SECRET, 1, true), "the password is in stdout:\n" .. res.out)
  assert.is_nil(res.err:find(SECRET, 1, true), "the password is in stderr:\n" .. res.err)
end

describe("the session between migrations", function()
  it("is reset: a migration's search_path neither moves the tracking table nor leaks into the next", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_schema.sql"] = "create schema other;\nSET search_path TO other;\ncreate table in_other_1 (id int);\n",
      ["2_plain.sql"] = "create table after_sql (id int);\n",
      ["3_lua.lua"] = [[
return { up = function(db)
  db:exec("set search_path to other")
  db:exec("set statement_timeout = 100")
  db:exec("create table in_other_3 (id int)")
end }
]],
      ["4_plain.sql"] = "create table after_lua (id int);\nselect pg_sleep(0.2);\n",
      ["5_notx.sql"] = "-- migrate:up transaction:false\nset search_path to other;\ncreate table in_other_5 (id int);\n",
      ["6_plain.lua"] = 'return { up = function(db) db:exec("create table after_notx (id int)") end }',
    })
    H.run_ok(cmd("up", url, dir), "6 migrations applied; the database is at version 6\n$")
    assert.are.equal("other", schema_of(url, "other.in_other_1"))
    assert.are.equal("other", schema_of(url, "other.in_other_3"))
    assert.are.equal("other", schema_of(url, "other.in_other_5"))
    for _, t in ipairs({ "after_sql", "after_lua", "after_notx" }) do
      assert.are.equal("public", schema_of(url, "public." .. t), t .. " is not in public")
    end
    assert.is_false(exists(url, "other.moonshift_migrations"))
    assert.are.same({ "1", "2", "3", "4", "5", "6" }, versions(url))
  end)
end)

describe("the tracking table", function()
  it("goes to the connection's current schema at start", function()
    local url, name = H.new_db()
    H.sql(url, ('create schema app; alter database "%s" set search_path = app, public'):format(name))
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    assert.is_true(exists(url, "app.moonshift_migrations"))
    assert.is_false(exists(url, "public.moonshift_migrations"))
    assert.are.equal("app", schema_of(url, "app.a"))
    H.run_ok(cmd("status", url, dir), "tracking table app%.moonshift_migrations")
    assert.are.same({ "1" }, versions(url, "app.moonshift_migrations"))
  end)

  it("can be named with --table SCHEMA.NAME, the schema created when missing", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_a.sql"] = "-- migrate:up\ncreate table a (id int);\n-- migrate:down\ndrop table a;\n",
      ["2_b.sql"] = "-- migrate:up\ncreate table b (id int);\n-- migrate:down\ndrop table b;\n",
    })
    H.run_ok(cmd("up", url, dir, "--table", "myschema.tracking"), "2 migrations applied")
    assert.are.same({ "1", "2" }, versions(url, "myschema.tracking"))
    assert.is_false(exists(url, "public.moonshift_migrations"))
    local st = H.run_ok(cmd("status", url, dir, "--table", "myschema.tracking"), "tracking table myschema%.tracking")
    local default = H.run_ok(cmd("status", url, dir))
    assert.matches("0 applied, 2 pending", default.out)
    assert.are_not.equal(st.out:match("lock key (%-?%d+)"), default.out:match("lock key (%-?%d+)"))
    H.run_ok(cmd("version", url, dir, "--table", "myschema.tracking"), "^2\n$")
    H.run_ok(cmd("down", url, dir, "--table", "myschema.tracking"), "^reverted 2 b ")
    assert.are.same({ "1" }, versions(url, "myschema.tracking"))
    assert.is_false(exists(url, "b"))
  end)

  it("can be named with --table NAME in the current schema", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
    H.run_ok(cmd("up", url, dir, "--table", "schema_history"))
    assert.are.same({ "1" }, versions(url, "public.schema_history"))
    assert.is_false(exists(url, "public.moonshift_migrations"))
  end)
end)

describe("connecting", function()
  local function one_migration()
    return H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
  end

  it("takes a postgres:// URL, a socket URL and a conninfo string with --url", function()
    for _, form in ipairs({ "url", "socket_url", "conninfo" }) do
      local _, name = H.new_db()
      local target = H[form](name)
      H.run_ok(cmd("up", target, one_migration()), "^applied 1 a ")
      assert.are.same({ "1" }, versions(H.url(name)), form)
    end
  end)

  it("takes DATABASE_URL, and --url over it", function()
    local url = H.new_db()
    H.run_ok({ "up", "--dir", one_migration() }, "^applied 1 a ", { env = { DATABASE_URL = url } })
    assert.are.same({ "1" }, versions(url))
    local other = H.new_db()
    H.run_ok(cmd("up", other, one_migration()), "^applied 1 a ",
      { env = { DATABASE_URL = "postgres://nobody@127.0.0.1:1/none" } })
    assert.are.same({ "1" }, versions(other))
  end)

  it("falls back to libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE)", function()
    local url, name = H.new_db()
    H.run_ok({ "up", "--dir", one_migration() }, "^applied 1 a ",
      { env = { DATABASE_URL = false, PGDATABASE = name, PGHOST = "127.0.0.1" } })
    assert.are.same({ "1" }, versions(url))
  end)

  it("exits 3 with one line when the server cannot be reached", function()
    local dir = one_migration()
    local res = H.run_fails(cmd("up", "postgres://postgres@127.0.0.1:1/nowhere", dir),
      "^moonshift: cannot connect to the database: [^\n]*\n$", 3)
    assert.matches("127%.0%.0%.1", res.err)
    assert.are.equal("", res.out)
    H.run_fails(cmd("status", "host=127.0.0.1 port=1 dbname=nowhere", dir), "^moonshift: cannot connect to the database: [^\n]*\n$", 3)
  end)

  it("exits 3 when the database does not exist", function()
    H.run_fails(cmd("up", H.url("no_such_database_here"), one_migration()),
      "^moonshift: cannot connect to the database: [^\n]*no_such_database_here[^\n]*\n$", 3)
  end)

  it("exits 3 when the connection is lost during a Lua migration", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_ok.sql"] = "create table ok (id int);\n",
      ["2_lost.lua"] = [[
return { up = function(db)
  db:exec("create table lost (id int)")
  db:exec("select pg_terminate_backend(pg_backend_pid())")
end }
]],
    })
    local res = H.run_fails(cmd("up", url, dir), "/2_lost%.lua:3: [^\n]*connection", 3)
    assert.matches("^applied 1 ok ", res.out)
    assert.is_false(exists(url, "lost"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("exits 3 when the connection is lost during a SQL migration", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_ok.sql"] = "create table ok (id int);\n",
      ["2_lost.sql"] = "create table lost (id int);\nselect pg_terminate_backend(pg_backend_pid());\n",
    })
    local res = H.run(cmd("up", url, dir))
    assert.matches("/2_lost%.sql:2: ", res.err)
    assert.matches("^applied 1 ok ", res.out)
    assert.is_false(exists(url, "lost"))
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(3, res.code, "exit code")
  end)
end)

describe("passwords", function()
  it("never appear when the connection fails", function()
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
    local attempts = {
      { "postgres://postgres:" .. SECRET .. "@127.0.0.1:1/db" },
      { "host=127.0.0.1 port=1 user=postgres password=" .. SECRET .. " dbname=db" },
      { "postgres://postgres@127.0.0.1:1/db?password=" .. SECRET },
      { H.url("no_such_db"):gsub("://([^@]+)@", "://%1:" .. SECRET .. "@") },
    }
    for _, a in ipairs(attempts) do
      for _, extra in ipairs({ {}, { "-v" } }) do
        local words = cmd("up", a[1], dir)
        for _, w in ipairs(extra) do words[#words + 1] = w end
        local res = H.run(words)
        assert.are.equal(3, res.code, res.err)
        assert.matches("cannot connect", res.err)
        assert_no_secret(res)
      end
    end
    local res = H.run({ "up", "--dir", dir }, { env = { DATABASE_URL = "postgres://postgres:" .. SECRET .. "@127.0.0.1:1/db" } })
    assert.are.equal(3, res.code)
    assert_no_secret(res)
  end)

  it("never appear in a run that connects, succeeds or fails", function()
    local url = H.new_db()
    local with_password = url:gsub("://([^@]+)@", "://%1:" .. SECRET .. "@")
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n", ["2_b.sql"] = "select nosuch;\n" })
    for _, command in ipairs({ "status", "up", "version" }) do
      local res = H.run(cmd(command, with_password, dir, "-v"))
      assert_no_secret(res)
    end
    assert.are.same({ "1" }, versions(url))
  end)
end)

describe("moonshift new", function()
  it("takes the next number after the newest, keeping its width", function()
    local dir = H.migrations({ ["001_a.sql"] = "", ["002_b.sql"] = "" })
    H.run_ok({ "new", "add users", "--dir", dir }, "^created " .. dir:gsub("%p", "%%%0") .. "/003_add_users%.sql\n$")
    local text = assert(H.read(dir .. "/003_add_users.sql"))
    assert.matches("%-%- migrate:up\n", text)
    assert.matches("%-%- migrate:down\n", text)
    H.run_ok({ "new", "more", "--dir", dir }, "/004_more%.sql\n$")
    local d2 = H.migrations({ ["9_a.sql"] = "" })
    H.run_ok({ "new", "ten", "--dir", d2 }, "/10_ten%.sql\n$")
  end)

  it("uses a UTC timestamp in an empty folder, creating ./migrations when needed", function()
    local project = H.tmpdir()
    local before = os.date("!%Y%m%d%H%M%S")
    local res = H.run_ok({ "new", "first" }, "^created migrations/%d+_first%.sql\n$",
      { cwd = project, env = { MOONSHIFT_DIR = false } })
    local after = os.date("!%Y%m%d%H%M%S")
    local stamp = res.out:match("migrations/(%d+)_first")
    assert.are.equal(14, #stamp)
    assert.is_true(stamp >= before and stamp <= after, stamp .. " is not between " .. before .. " and " .. after)
    assert.is_string(H.read(project .. "/migrations/" .. stamp .. "_first.sql"))
    -- the next one keeps to timestamps, above the newest
    local again = H.run_ok({ "new", "second" }, "^created migrations/%d+_second%.sql\n$", { cwd = project, env = { MOONSHIFT_DIR = false } })
    assert.is_true(again.out:match("migrations/(%d+)_second") > stamp)
  end)

  it("writes a Lua template with --lua that runs as it is", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_base.sql"] = "create table base (id int);\n" })
    H.run_ok({ "new", "noop", "--lua", "--dir", dir }, "/002_noop%.lua\n$")
    H.run_ok(cmd("up", url, dir), "applied 002 noop %(%d+ ms%)\n2 migrations applied; the database is at version 002\n$")
    assert.are.same({ { "2", "noop", "lua" } },
      H.sql(url, "select version::text, name, kind from moonshift_migrations where version = 2"))
    H.run_ok(cmd("down", url, dir), "^reverted 002 noop ")
    assert.are.same({ "1" }, versions(url))
  end)

  it("writes an SQL template that is refused until its up section holds SQL", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_base.sql"] = "create table base (id int);\n" })
    H.run_ok({ "new", "filled", "--dir", dir }, "/2_filled%.sql\n$")
    local path = dir .. "/2_filled.sql"
    local res = H.run_fails(cmd("up", url, dir), "/2_filled%.sql:3: the up section holds no SQL statement", 2)
    assert.are.equal("", res.out)
    assert.is_nil(versions(url))
    local text = H.read(path)
    text = text:gsub("%-%- migrate:up\n", "%0create table filled (id int);\n"):gsub("%-%- migrate:down\n", "%0drop table filled;\n")
    H.write(path, text)
    H.run_ok(cmd("up", url, dir), "applied 2 filled ")
    assert.is_true(exists(url, "filled"))
    H.run_ok(cmd("down", url, dir), "^reverted 2 filled ")
    assert.is_false(exists(url, "filled"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("exits 2 without a usable name, creating nothing", function()
    local dir = H.migrations({ ["1_a.sql"] = "" })
    H.run_fails({ "new", "--dir", dir }, "usage: moonshift new NAME", 2)
    H.run_fails({ "new", "!!!", "--dir", dir }, "NAME needs letters or digits", 2)
    assert.are.equal("1_a.sql\n", H.sh("ls -A " .. H.q(dir)).out)
  end)
end)

describe("help and usage", function()
  it("--help and -h print the usage and every command, exit 0", function()
    for _, flag in ipairs({ "--help", "-h" }) do
      local res = H.run_ok({ flag }, "^moonshift: ")
      assert.matches("\nusage: moonshift COMMAND %[options%]\n", res.out)
      for _, c in ipairs({ "up", "down", "redo", "status", "version", "new" }) do
        assert.matches("\n  " .. c .. " ", res.out)
      end
      assert.matches("exit codes:", res.out)
      assert.are.equal("", res.err)
    end
  end)

  it("COMMAND --help prints that command's usage, exit 0, without connecting", function()
    local env = { env = { DATABASE_URL = "postgres://nobody@127.0.0.1:1/none" } }
    H.run_ok({ "up", "--help" }, "^usage: moonshift up %[N%] %[%-%-to VERSION%]", env)
    H.run_ok({ "down", "--help" }, "^usage: moonshift down %[N%] %[%-%-to VERSION%]", env)
    H.run_ok({ "redo", "-h" }, "^usage: moonshift redo", env)
    H.run_ok({ "status", "--help" }, "^usage: moonshift status", env)
    H.run_ok({ "version", "--help" }, "^usage: moonshift version", env)
    H.run_ok({ "new", "--help" }, "^usage: moonshift new NAME %[%-%-lua%]", env)
  end)

  it("--version prints the program's version", function()
    local res = H.run_ok({ "--version" }, "^moonshift %d+%.%d+%.%d+[^\n]*\n$")
    assert.are.equal("", res.err)
  end)

  local usage_errors = {
    { "no command", {}, "no command given" },
    { "an unknown command", { "upp" }, "^moonshift: unknown command 'upp'" },
    { "an unknown option", { "up", "--bogus" }, "unknown option %-%-bogus" },
    { "an unknown short option", { "up", "-x" }, "unknown option %-x" },
    { "an option without its value", { "up", "--dir" }, "%-%-dir needs a value" },
    { "a flag given a value", { "up", "--verbose=yes" }, "%-%-verbose takes no value" },
    { "a --to that is not a version", { "up", "--to", "latest" }, "%-%-to takes a version" },
    { "a --lock-timeout that is not a duration", { "up", "--lock-timeout", "soon" }, "%-%-lock%-timeout takes a duration" },
  }
  for _, c in ipairs(usage_errors) do
    it("exits 2 on " .. c[1] .. ", without connecting", function()
      local url = H.new_db()
      local res = H.run_fails(c[2], c[3], 2, { env = { DATABASE_URL = url, MOONSHIFT_DIR = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" }) } })
      assert.is_nil(res.out:match("applied %d"))
      assert.is_nil(versions(url))
    end)
  end
end)
