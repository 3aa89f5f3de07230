-- What a run tells its user, and where: redo --dry-run that changes nothing,
-- one --json document whatever happens, the C API on two threads, failed
-- writes to stdout, stray arguments refused, the line naming the database,
-- a migration's line and a backfill's progress on a terminal, lock waits
-- that say how long they have lasted, version after a failure part way, and
-- a Lua migration's print on stderr.
local H = require("spec_helper")
local cmd, exists, versions, wait_for = H.cmd, H.exists, H.versions, H.wait_for

-- A JSON decoder: lua-dkjson (a dependency of busted) or lua-cjson.
local json, json_name
for _, name in ipairs({ "dkjson", "cjson" }) do
  local ok, lib = pcall(require, name)
  if ok then json, json_name = lib, name break end
end
local NULL = json and json.null

-- The one JSON document text holds (whitespace around it aside), or nil and why.
local function decode_one(text)
  if json_name == "dkjson" then
    local v, pos, err = json.decode(text, 1, json.null)
    if err or v == nil then return nil, err or "no document" end
    local rest = text:sub(pos)
    if not rest:match("^%s*$") then return nil, "more after the document: " .. rest:sub(1, 80) end
    return v
  end
  local ok, v = pcall(json.decode, text)  -- cjson refuses trailing text itself
  if not ok then return nil, tostring(v) end
  return v
end

local function need_json()
  if not json then pending("no JSON decoder for Lua (lua-dkjson or lua-cjson) is installed") end
  return json ~= nil
end

-- The document on res's stdout, asserted to be one JSON object.
local function doc_of(res)
  local doc, why = decode_one(res.out)
  assert(doc ~= nil, ("stdout of `%s` (exit %s) is not one JSON document (%s):\n%s\nstderr:\n%s"):format(
    res.cmd, tostring(res.code), tostring(why), res.out, res.err))
  assert(type(doc) == "table" and (getmetatable(doc) or {}).__jsontype ~= "array",
    "the document is not an object:\n" .. res.out)
  return doc
end

local function lit(s) return (s:gsub("%p", "%%%0")) end

local function lines(s)
  local out = {}
  for line in s:gmatch("([^\n]*)\n?") do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

-- The database object a document of a command that connected must carry.
local function assert_database(doc, dbname, host)
  assert.are.equal("table", type(doc.database), "the document has no database object")
  assert.are.equal(host or "127.0.0.1", doc.database.host)
  assert.are.equal(os.getenv("PGPORT"), tostring(math.tointeger(doc.database.port) or doc.database.port))
  assert.are.equal(dbname, doc.database.dbname)
  assert.are.equal(os.getenv("PGUSER"), doc.database.user)
  assert.is_nil(doc.database.password)
end

-- postgres://USER:PASSWORD@127.0.0.1:PORT/NAME: the test server trusts every
-- local connection, so the password is taken and never checked.
local function url_with_password(name, password)
  return ("postgres://%s:%s@127.0.0.1:%s/%s"):format(os.getenv("PGUSER"), password, os.getenv("PGPORT"), name)
end

local function table_migration(name)
  return ("-- migrate:up\ncreate table %s (id int);\n\n-- migrate:down\ndrop table %s;\n"):format(name, name)
end

local function three()
  return H.migrations({
    ["001_users.sql"] = table_migration("users"),
    ["002_posts.sql"] = table_migration("posts"),
    ["003_tags.sql"] = table_migration("tags"),
  })
end

local function has_script()
  return os.execute("command -v script >/dev/null 2>&1") == true
end

-- Runs the binary with args under a pseudo-terminal (util-linux script):
-- stdout and stderr both reach the terminal, and res.out holds its raw bytes.
local function run_on_tty(args, opts)
  local words = { H.q(H.bin) }
  for i, a in ipairs(args) do words[i + 1] = H.q(a) end
  local o = { env = { TERM = "xterm" } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return H.sh("exec script -qefc " .. H.q(table.concat(words, " ")) .. " /dev/null", o)
end

-- Runs the binary with the variables of set given and those of unset taken
-- out (through env(1): H.run's opts.env stops unsetting after the first
-- variable it sets, in name order).
local function run_env(args, set, unset, opts)
  local words = {}
  for _, k in ipairs(unset) do words[#words + 1] = "-u"; words[#words + 1] = k end
  local names = {}
  for k in pairs(set) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do words[#words + 1] = k .. "=" .. set[k] end
  words[#words + 1] = H.bin
  for _, a in ipairs(args) do words[#words + 1] = a end
  local o = { program = "env" }
  for k, v in pairs(opts or {}) do o[k] = v end
  return H.run(words, o)
end

-- The advisory lock key `status` reports for this database and folder.
local function lock_key(url, dir)
  local res = H.run_ok(cmd("status", url, dir))
  return assert(res.out:match("advisory lock key (%-?%d+)"), "no lock key in status output")
end

describe("redo --dry-run", function()
  it("rolls everything back: the row put in by hand, the tracking row and the history stay as they were", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_t.sql"] = table_migration("t") })
    H.run_ok(cmd("up", url, dir))
    H.sql(url, "insert into t values (42)")
    local applied_at = H.scalar(url, "select applied_at::text from public.moonshift_migrations where version = 1")
    local history = H.count(url, "select count(*) from public.moonshift_history")

    local res = H.run_ok(cmd("redo", url, dir, "--dry-run"))
    assert.matches("dry run: 1 migration would be redone; everything was rolled back, nothing changed", res.out)
    assert.are.same({ { "42" } }, H.sql(url, "select id::text from t"))
    assert.are.equal(applied_at,
      H.scalar(url, "select applied_at::text from public.moonshift_migrations where version = 1"))
    assert.are.equal(history, H.count(url, "select count(*) from public.moonshift_history"))
    assert.are.same({ "1" }, versions(url))
  end)
end)

describe("--json", function()
  it("up --dry-run gives one document whose log holds what a Lua migration printed", function()
    if not need_json() then return end
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_a.sql"] = "create table a (id int);\n",
      ["002_greet.lua"] = [[
return { up = function(db)
  print("hello from lua")
  db:exec("create table b (id int)")
end }
]],
    })
    local res = H.run_ok(cmd("up", url, dir, "--dry-run", "--json"))
    local doc = doc_of(res)
    assert.are.equal("up", doc.command)
    assert.are.equal(true, doc.ok)
    assert.are.equal(0, doc.exit_code)
    assert.are.equal(NULL, doc.error)
    assert_database(doc, name)
    assert.are.equal("table", type(doc.log), "the document has no log array")
    local found
    for _, entry in ipairs(doc.log) do
      if entry.text == "hello from lua" then found = entry end
    end
    assert(found, "no log entry with the text \"hello from lua\":\n" .. res.out)
    assert.are.equal(2, found.version)
    assert.are.equal("greet", found.name)
    assert.is_false(exists(url, "a"))
    assert.is_false(exists(url, "b"))
  end)

  it("a usage error gives one document with ok false, exit_code 2 and the message", function()
    if not need_json() then return end
    local dir = three()
    local res = H.run({ "up", "--bogus", "--json", "--dir", dir })
    assert.are.equal(2, res.code)
    local doc = doc_of(res)
    assert.are.equal(false, doc.ok)
    assert.are.equal(2, doc.exit_code)
    assert.are.equal("table", type(doc.error), "error is not an object")
    assert.are.equal(2, doc.error.exit_code)
    assert.matches("unknown option", doc.error.message)

    res = H.run({ "--json" })
    assert.are.equal(2, res.code)
    doc = doc_of(res)
    assert.are.equal(false, doc.ok)
    assert.are.equal(2, doc.exit_code)
    assert.are.equal("table", type(doc.error), "error is not an object")
    assert.are.equal(2, doc.error.exit_code)
  end)

  it("a connection failure gives one document with exit_code 3 and never shows the password", function()
    if not need_json() then return end
    local dir = three()
    local res = H.run({ "--url", "postgres://nobody:secret@127.0.0.1:1/x", "--json", "up", "--dir", dir })
    assert.are.equal(3, res.code)
    local doc = doc_of(res)
    assert.are.equal(false, doc.ok)
    assert.are.equal(3, doc.exit_code)
    assert.are.equal("table", type(doc.error), "error is not an object")
    assert.are.equal(3, doc.error.exit_code)
    assert.are.equal("string", type(doc.error.message))
    assert.is_nil(res.out:find("secret", 1, true), "stdout shows the password")
    assert.is_nil(res.err:find("secret", 1, true), "stderr shows the password")
  end)

  it("a failed migration's error names the file, line, column and SQLSTATE", function()
    if not need_json() then return end
    local url, name = H.new_db()
    local dir = H.migrations({
      ["001_bad.sql"] = "create table ok (id int);\n\nINSERT INTO missing_table VALUES (1);\n",
    })
    local res = H.run(cmd("up", url, dir, "--json"))
    assert.are.equal(1, res.code)
    local doc = doc_of(res)
    assert.are.equal("up", doc.command)
    assert.are.equal(false, doc.ok)
    assert.are.equal(1, doc.exit_code)
    assert.are.equal("table", type(doc.error), "error is not an object")
    assert.are.equal(1, doc.error.exit_code)
    assert.are.equal("string", type(doc.error.message))
    assert.are.equal(dir .. "/001_bad.sql", doc.error.file)
    assert.are.equal(3, doc.error.line)
    assert.are.equal("number", type(doc.error.column))
    assert.are.equal("42P01", doc.error.sqlstate)
    assert_database(doc, name)
    assert.is_false(exists(url, "ok"))
    assert.are.same({}, versions(url) or {})
  end)
end)

describe("the C API", function()
  it("serves two handles on two threads at once, each document valid and nothing printed", function()
    if os.execute("command -v cc >/dev/null 2>&1") ~= true then
      pending("cc is missing: cannot build spec/support/api_threads.c")
      return
    end
    local lib = H.root .. "/build/libmoonshift.a"
    assert(H.read(lib), "build/libmoonshift.a is missing: run make all")
    local exe = H.tmpdir() .. "/api_threads"
    local build = H.sh(("cc -std=c11 -D_POSIX_C_SOURCE=200809L -I%s %s %s -o %s "
      .. "$(pkg-config --cflags --libs lua5.4 libpq libcrypto jansson) -lm -lpthread"):format(
      H.q(H.root .. "/src/embed"), H.q(H.root .. "/spec/support/api_threads.c"), H.q(lib), H.q(exe)))
    assert(build.code == 0, "cannot build api_threads:\n" .. build.err)

    local url1, name1 = H.new_db()
    local url2, name2 = H.new_db()
    local dir1 = H.migrations({ ["001_one.sql"] = "create table one (id int);\n" })
    local dir2 = H.migrations({ ["001_two.sql"] = "create table two (id int);\n",
                                ["002_more.sql"] = "create table more (id int);\n" })
    H.run_ok(cmd("up", url1, dir1))
    H.run_ok(cmd("up", url2, dir2, "--to", "1"))

    local res = H.run({ "50", url1, dir1, name1, url2, dir2, name2 }, { program = exe })
    assert.are.equal("thread 1: 50 of 50 documents valid\nthread 2: 50 of 50 documents valid\n", res.out, res.err)
    assert.are.equal(0, res.code, res.err)
    assert.are.same({ "1" }, versions(url1))
    assert.are.same({ "1" }, versions(url2))
    assert.is_false(exists(url2, "more"))
  end)
end)

describe("a failed write", function()
  it("to stdout fails the command with exit 1 and says so on stderr", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir, "--to", "1"))
    local res = H.sh(("%s status --url %s --dir %s >/dev/full"):format(H.q(H.bin), H.q(url), H.q(dir)))
    assert.are.equal(1, res.code, res.err)
    assert.matches("cannot write", res.err)
  end)

  it("that leaves no way to report the error still exits non-zero", function()
    local url = H.new_db()
    local dir = three()
    -- a failing command whose message cannot be written
    local res = H.sh(("%s version --url %s --dir %s 2>/dev/full"):format(
      H.q(H.bin), H.q("postgres://nobody@127.0.0.1:1/x"), H.q(dir)))
    assert.are.equal(3, res.code)
    -- a command that fails because its output cannot be written, nor the reason
    res = H.sh(("%s version --url %s --dir %s >/dev/full 2>/dev/full"):format(H.q(H.bin), H.q(url), H.q(dir)))
    assert.are_not.equal(0, res.code)
  end)
end)

describe("stray positional arguments", function()
  it("up N applies the next N pending migrations", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir, "1"), "applied 001 users")
    assert.are.same({ "1" }, versions(url))
    assert.is_false(exists(url, "posts"))
    H.run_ok(cmd("up", url, dir, "2"), "applied 003 tags")
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)

  it("up x and up 0 are refused with exit 2 and apply nothing", function()
    local url = H.new_db()
    local dir = three()
    for _, arg in ipairs({ "x", "0" }) do
      local res = H.run(cmd("up", url, dir, arg))
      assert.are.equal(2, res.code, ("up %s: %s"):format(arg, res.out .. res.err))
      assert.are.same({}, versions(url) or {})
      assert.is_false(exists(url, "users"))
    end
  end)

  it("redo, status, version, log and check take none: exit 2, nothing changed", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir, "--to", "1"))
    H.sql(url, "insert into users values (7)")
    local before = H.sql(url, "select version::text, applied_at::text from moonshift_migrations order by version")
    local history = H.count(url, "select count(*) from moonshift_history")
    for _, command in ipairs({ "redo", "status", "version", "log", "check" }) do
      local res = H.run(cmd(command, url, dir, "x"))
      assert.are.equal(2, res.code, ("%s x: %s"):format(command, res.out .. res.err))
    end
    assert.are.same({ { "7" } }, H.sql(url, "select id::text from users"))
    assert.are.same(before, H.sql(url, "select version::text, applied_at::text from moonshift_migrations order by version"))
    assert.are.equal(history, H.count(url, "select count(*) from moonshift_history"))
  end)

  it("new takes one name: new a b exits 2 and creates no file", function()
    local dir = three()
    local before = H.sh("ls -A " .. H.q(dir)).out
    local res = H.run({ "new", "a", "b", "--dir", dir })
    assert.are.equal(2, res.code, res.out .. res.err)
    assert.are.equal(before, H.sh("ls -A " .. H.q(dir)).out)
  end)

  it("a URL given where a number belongs is refused with exit 2 and its password never shown", function()
    local url = H.new_db()
    local dir = three()
    local res = H.run(cmd("up", url, dir, "postgres://u:s3cret@127.0.0.1:5432/db"))
    assert.are.equal(2, res.code, res.out .. res.err)
    assert.are.same({}, versions(url) or {})
    assert.is_nil((res.out .. res.err):find("s3cret", 1, true), "the password was printed:\n" .. res.out .. res.err)

    H.run_ok(cmd("up", url, dir))
    res = H.run(cmd("down", url, dir, "postgres://u:s3cret@host/db"))
    assert.are.equal(2, res.code, res.out .. res.err)
    assert.is_nil((res.out .. res.err):find("s3cret", 1, true), "the password was printed:\n" .. res.out .. res.err)
    res = H.run({ "--to", "postgres://u:s3cret@h/db", "up", "--url", url, "--dir", dir })
    assert.are.equal(2, res.code, res.out .. res.err)
    assert.is_nil((res.out .. res.err):find("s3cret", 1, true), "the password was printed:\n" .. res.out .. res.err)
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)
end)

describe("the database line", function()
  local function database_line(name, host)
    return '^moonshift: database "' .. lit(name) .. '" on ' .. lit(host) .. ":" .. os.getenv("PGPORT")
      .. " as " .. lit(os.getenv("PGUSER"))
  end

  it("comes first on stderr for every command that connects, and never holds the password", function()
    local _, name = H.new_db()
    local url = url_with_password(name, "pw-line-7")
    local dir = three()
    for _, args in ipairs({ { "up", "--to", "2" }, { "status" }, { "version" }, { "log" }, { "redo" },
                            { "down" }, { "up" }, { "check" } }) do
      local res = H.run(cmd(args[1], url, dir, table.unpack(args, 2)))
      assert.are.equal(0, res.code, table.concat(args, " ") .. ": " .. res.err)
      local first = lines(res.err_raw)[1] or ""
      assert.matches(database_line(name, "127.0.0.1"), first)
      local _, n = res.err_raw:gsub('moonshift: database "', "")
      assert.are.equal(1, n, table.concat(args, " ") .. " named the database more than once:\n" .. res.err)
      assert.is_nil((res.out .. res.err_raw):find("pw-line-7", 1, true), "the password was printed")
    end
    assert.are.same({ "1", "2", "3" }, versions(H.url(name)))
  end)

  it("names the socket folder for a unix-socket URL", function()
    local _, name = H.new_db()
    local dir = three()
    local res = H.run_ok(cmd("status", H.socket_url(name), dir))
    assert.matches(database_line(name, os.getenv("PGHOST")), lines(res.err_raw)[1] or "")
  end)

  it("is dropped by --quiet and -q", function()
    local url, name = H.new_db()
    local dir = three()
    local res = H.run_ok(cmd("up", url, dir, "--quiet", "--to", "1"))
    assert.is_nil(res.err_raw:find('database "' .. name .. '"', 1, true), res.err_raw)
    res = H.run_ok(cmd("up", url, dir, "-q"))
    assert.is_nil(res.err_raw:find('database "' .. name .. '"', 1, true), res.err_raw)
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)

  it("without a URL, says which of libpq's variables chose the database", function()
    local url, name = H.new_db()
    local dir = three()
    local cwd = H.tmpdir()
    local set = { PGHOST = os.getenv("PGHOST"), PGPORT = os.getenv("PGPORT"), PGDATABASE = name }
    local unset = { "PGHOSTADDR", "PGSERVICE", "DATABASE_URL" }
    local res = run_env({ "up", "--to", "1", "--dir", dir }, set, unset, { cwd = cwd })
    assert.are.equal(0, res.code, res.err)
    assert.matches(database_line(name, os.getenv("PGHOST")) .. " %(from PGHOST, PGPORT, PGDATABASE%)$",
      lines(res.err_raw)[1] or "")
    assert.are.same({ "1" }, versions(url))

    -- no PGDATABASE: libpq's default, the user's name
    set.PGDATABASE = nil
    unset[#unset + 1] = "PGDATABASE"
    res = run_env({ "version", "--dir", dir }, set, unset, { cwd = cwd })
    assert.are.equal(0, res.code, res.err)
    assert.matches(database_line(os.getenv("PGUSER"), os.getenv("PGHOST")) .. " %(from PGHOST, PGPORT%)$",
      lines(res.err_raw)[1] or "")
  end)

  it("without a URL or any of libpq's variables, a command refuses with exit 2 and connects nowhere", function()
    local dir = three()
    local res = H.run({ "up", "--dir", dir }, { cwd = H.tmpdir(), env = {
      PGHOST = false, PGPORT = false, PGDATABASE = false, PGSERVICE = false, PGHOSTADDR = false,
      DATABASE_URL = false } })
    assert.are.equal(2, res.code, res.out .. res.err)
    assert.matches("%-%-url", res.err)
    assert.matches("DATABASE_URL", res.err)
    assert.matches("moonshift%.lua", res.err)
    assert.is_nil(res.err:find("connection to server", 1, true), "it tried to connect:\n" .. res.err)
  end)

  it("an environment of the config without a url is refused with exit 2", function()
    local url, name = H.new_db()
    local dir = three()
    local cwd = H.tmpdir()
    H.write(cwd .. "/moonshift.lua", 'return { environments = { prod = { url = os.getenv("MS_NO_SUCH_VAR") } } }\n')
    local res = H.run({ "up", "--env", "prod", "--dir", dir }, { cwd = cwd, env = {
      MS_NO_SUCH_VAR = false, DATABASE_URL = false, PGDATABASE = name } })
    assert.are.equal(2, res.code, res.out .. res.err)
    assert.matches("environment 'prod'", res.err)
    assert.matches("url", res.err)
    assert.are.same({}, versions(url) or {})
  end)
end)

describe("a migration's line on a terminal", function()
  it("shows applying while it runs, replaced by its result; not on a pipe", function()
    if not has_script() then pending("util-linux script is missing") return end
    local url = H.new_db()
    local dir = H.migrations({ ["001_slow.sql"] = "select pg_sleep(0.3);\ncreate table slow (id int);\n" })
    local res = run_on_tty({ "up", "--url", url, "--dir", dir })
    assert.are.equal(0, res.code, res.out .. res.err)
    assert.matches("applying 001 slow %.%.%.[^\n]-\r\27%[Kapplied 001 slow %(%d+ ms%)", res.out)
    assert.is_true(exists(url, "slow"))

    local url2 = H.new_db()
    res = H.run_ok(cmd("up", url2, dir), "applied 001 slow %(%d+ ms%)")
    assert.is_nil((res.out .. res.err):find("applying", 1, true), "applying on a pipe:\n" .. res.out .. res.err)
    assert.is_true(exists(url2, "slow"))
  end)
end)

describe("a Lua backfill's progress", function()
  local function backfill(steps, pause)
    return H.migrations({
      ["001_items.sql"] = "create table items (id int primary key, done bool not null default false);\n"
        .. ("insert into items (id) select g from generate_series(1, %d) g;\n"):format(steps),
      ["002_backfill.lua"] = ([[
return { up = function(db)
  for i = 1, %d do
    db:exec("update items set done = true where id = " .. i)
    db:sleep(%s)
    progress(i, %d)
  end
end }
]]):format(steps, pause, steps),
    })
  end

  it("shows the elapsed time and, part way, the time left, in lines off a terminal #timing", function()
    local url = H.new_db()
    local dir = backfill(16, 0.25)
    local res = H.run_ok(cmd("up", url, dir), "applied 002 backfill")
    local part_way, final = 0, nil
    for _, line in ipairs(lines(res.err)) do
      local done, total = line:match("^%[002_backfill%] progress (%d+)/(%d+) ")
      if done then
        done, total = tonumber(done), tonumber(total)
        assert.are.equal(16, total)
        if line:find("left", 1, true) then
          assert.matches("^%[002_backfill%] progress %d+/16 %(%d+%.%d%%%), %d+%.%d s, ~%d+%.%d s left$", line)
          assert.is_true(done > 0 and done < total, "an estimate at " .. line)
          part_way = part_way + 1
        elseif done == total then
          final = line
        end
      end
    end
    assert.is_true(part_way > 0, "no progress line with the time left:\n" .. res.err)
    assert.matches("^%[002_backfill%] progress 16/16 %(100%.0%%%), %d+%.%d s$", final or "(no line at 16/16)")
    assert.are.equal(16, H.count(url, "select count(*) from items where done"))
  end)

  it("shows the time left in the bar on a terminal #timing", function()
    if not has_script() then pending("util-linux script is missing") return end
    local url = H.new_db()
    local dir = backfill(8, 0.25)
    local res = run_on_tty({ "up", "--url", url, "--dir", dir })
    assert.are.equal(0, res.code, res.out .. res.err)
    assert.matches("%[002_backfill%][^\r\n]*s left", res.out)
    assert.are.equal(8, H.count(url, "select count(*) from items where done"))
  end)
end)

describe("waiting for the lock", function()
  local comment = "/* " .. ("nightly-report-job-holds-this-lock-on-purpose-"):rep(4):sub(1, 144) .. " */"
  assert(#comment == 150)

  local function assert_narrow(err)
    for _, line in ipairs(lines(err)) do
      if not line:find("could not take the migration", 1, true) then
        assert.is_true(#line <= 80, ("a line of %d characters:\n%s"):format(#line, line))
      end
    end
  end

  it("says how long it has waited for the advisory lock, in 80 columns, and with -v the holder's query #timing", function()
    local url, name = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "create table a (id int);\n" })
    local key = lock_key(url, dir)
    local holder = H.spawn({ "-X", "-q", "-d", url, "-c",
                             ("SELECT pg_advisory_lock(%s), pg_sleep(20) %s"):format(key, comment) },
                           { program = H.psql, env = { PGAPPNAME = "report-runner" } })
    assert(wait_for(5, function() return H.advisory_locks(name) == 1 end), "psql did not take the lock")

    local res = H.run_fails(cmd("up", url, dir, "--lock-timeout", "4s"), "waiting %d+s for the migration lock", 4)
    assert_narrow(res.err)
    assert.is_false(exists(url, "a"))

    res = H.run_fails(cmd("up", url, dir, "--lock-timeout", "4s", "-v"), "waiting %d+s for the migration lock", 4)
    assert.is_truthy(res.err:find(comment, 1, true), "the holder's whole query is not shown:\n" .. res.err)
    assert.is_truthy(res.err:find("report-runner", 1, true), "the holder's application is not shown:\n" .. res.err)
    assert.is_false(exists(url, "a"))

    H.sql(url, "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'report-runner'")
    holder:wait(10)
    H.run_ok(cmd("up", url, dir), "applied 001 a")
  end)

  it("says how long it has waited for the lease of another runner (--lock=table), in 80 columns #timing", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_slow.lua"] = [[
return { up = function(db)
  db:exec("create table slow (id int)")
  db:sleep(7)
end }
]] })
    local runner = H.spawn(cmd("up", url, dir, "--lock=table"))
    assert(wait_for(10, function()
      return exists(url, "public.moonshift_lock") and H.count(url, "select count(*) from moonshift_lock") == 1
    end), "the first runner did not take the lease")

    local res = H.run_fails(cmd("up", url, dir, "--lock=table", "--lock-timeout", "4s"),
      "waiting %d+s for the migration lease", 4)
    assert_narrow(res.err)

    local first = runner:wait(30)
    assert.are.equal(0, first.code, first.err)
    assert.are.same({ "1" }, versions(url))
    assert.are.equal(1, H.count(url, "select count(*) from moonshift_history where action = 'up'"))
  end)
end)

describe("version after a migration failed part way", function()
  it("prints the newest fully applied version and says on stderr which one failed", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_a.sql"] = "create table a (id int);\n",
      ["002_b.sql"] = "-- migrate:up transaction:false\ncreate table b (id int);\ninsert into nope values (1);\n",
    })
    H.run_fails(cmd("up", url, dir), "nope", 1)
    assert.is_true(exists(url, "b"))
    local res = H.run_ok(cmd("version", url, dir), "^001\n$")
    assert.matches("002.-failed.-part way", res.err)
  end)
end)

describe("a Lua migration's print", function()
  it("goes to stderr, not stdout, in text mode", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_greet.lua"] = [[
return { up = function(db)
  print("hello from lua")
  db:exec("create table greeted (id int)")
end }
]] })
    local res = H.run_ok(cmd("up", url, dir), "applied 001 greet")
    assert.is_nil(res.out:find("hello from lua", 1, true), "stdout holds the print:\n" .. res.out)
    local seen = false
    for _, line in ipairs(lines(res.err)) do
      if line:find("hello from lua", 1, true) then seen = true end
    end
    assert.is_true(seen, "stderr has no line with the print:\n" .. res.err)
    assert.is_true(exists(url, "greeted"))
  end)
end)
