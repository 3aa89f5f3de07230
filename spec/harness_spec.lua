-- The test harness itself, against the real server: if these fail, no other
-- spec's result means anything.
local H = require("spec_helper")

describe("the test server", function()
  it("answers select 1 over TCP and over the socket", function()
    assert.equal("1", H.scalar(H.url(), "select 1"))
    assert.equal("1", H.scalar(H.socket_url(), "select 1"))
    assert.equal("1", H.scalar(H.conninfo(), "select 1"))
    assert.equal("127.0.0.1", H.scalar(os.getenv("MS_TEST_URL"), "select host(inet_server_addr())"))
  end)

  it("runs with UTF8 and the C locale", function()
    assert.same({ { "UTF8", "C" } },
      H.sql(H.url(), "select pg_encoding_to_char(encoding), datcollate from pg_database where datname = 'postgres'"))
  end)
end)

describe("H.new_db", function()
  it("gives distinct, empty databases", function()
    local a, name_a = H.new_db()
    local b, name_b = H.new_db()
    assert.are_not.equal(a, b)
    assert.matches("^postgres://[^@]+@127%.0%.0%.1:%d+/" .. name_a .. "$", a)
    assert.equal(name_b, H.scalar(b, "select current_database()"))
    assert.equal("0", H.scalar(a, "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
      .. " where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"))
    H.sql(a, "create table only_in_a (id int)")
    assert.equal("0", H.scalar(b, "select count(*) from pg_tables where tablename = 'only_in_a'"))
    H.drop_db(name_b)
    assert.equal("0", H.scalar(H.url(), ("select count(*) from pg_database where datname = '%s'"):format(name_b)))
  end)
end)

describe("H.sql", function()
  local url
  setup(function() url = H.new_db() end)

  it("returns rows of strings with NULL as nil", function()
    local rows = H.sql(url, "select 1, 'a b', null, '' union all select 2, 'multi\nline', 'x', 'y' order by 1")
    assert.same({ { "1", "a b", nil, "" }, { "2", "multi\nline", "x", "y" } }, rows)
    assert.is_nil(rows[1][3])
    assert.equal(4, select("#", table.unpack(rows[1], 1, 4)))
  end)

  it("returns the rows of every statement, and none for commands", function()
    local rows = H.sql(url, [[
      create table t (id int, name text);
      insert into t values (1, 'one'), (2, 'two');
      select name from t order by id;
      select count(*) from t;
    ]])
    assert.same({ { "one" }, { "two" }, { "2" } }, rows)
    assert.same({}, H.sql(url, "select 1 where false"))
    assert.is_nil(H.scalar(url, "select 1 where false"))
  end)

  it("raises psql's error on a SQL error", function()
    local ok, err = pcall(H.sql, url, "select * from no_such_table")
    assert.is_false(ok)
    assert.matches('relation "no_such_table" does not exist', err)
    ok, err = pcall(H.sql, url, "select 1; select 1/0; select 3")
    assert.is_false(ok)
    assert.matches("division by zero", err)
  end)

  it("reads the server log after a mark", function()
    local mark = H.log_mark()
    H.sql(url, "do $$ begin raise log 'harness-log-probe'; end $$")
    assert.matches("harness%-log%-probe", H.log_since(mark))
  end)
end)

describe("H.run", function()
  local sh = { program = "/bin/sh" }

  it("captures the exit code and both streams apart", function()
    local res = H.run({ "-c", "echo out; echo err >&2; exit 3" }, sh)
    assert.same({ 3, "out\n", "err\n", false }, { res.code, res.out, res.err, res.timed_out })
  end)

  it("quotes array words and passes strings to the shell", function()
    local res = H.run({ "-c", 'printf "[%s]" "$@"', "x", "a b", "it's", "$HOME", "" }, sh)
    assert.equal("[a b][it's][$HOME][]", res.out)
    res = H.run("-c 'echo $((6 * 7))'", sh)
    assert.equal("42\n", res.out)
  end)

  it("sets and unsets variables, and takes cwd and stdin", function()
    local dir = H.tmpdir()
    local res = H.sh('echo "$MS_A|${HOME-unset}|$(pwd -P)"; cat', {
      env = { MS_A = "x y", HOME = false }, cwd = dir, stdin = "from stdin\n" })
    assert.equal("x y|unset|" .. dir .. "\nfrom stdin\n", res.out)
    assert.equal("", H.sh("cat").out)
  end)

  it("stops a command at its timeout", function()
    local res = H.sh("sleep 5", { timeout = 0.3 })
    assert.is_true(res.timed_out)
    assert.equal(124, res.code)
  end)

  it("reports the command, code and streams when run_ok or run_fails fails", function()
    local ok, err = pcall(H.run_ok, { "-c", "echo visible-out; echo visible-err >&2; exit 4" }, nil, sh)
    assert.is_false(ok)
    err = tostring(type(err) == "table" and err.message or err)
    assert.matches("expected exit code 0", err)
    assert.matches("exit code: 4", err)
    assert.matches("visible%-out", err)
    assert.matches("visible%-err", err)
    assert.matches("/bin/sh", err)

    ok, err = pcall(H.run_fails, { "-c", "echo nope >&2; exit 2" }, "wanted", 2, sh)
    assert.is_false(ok)
    assert.matches("expected stderr to match", tostring(type(err) == "table" and err.message or err))

    H.run_ok({ "-c", "echo fine" }, "^fine", sh)
    local res = H.run_fails({ "-c", "echo bad input >&2; exit 2" }, "bad input", 2, sh)
    assert.equal(2, res.code)
  end)
end)

describe("H.spawn", function()
  it("runs commands concurrently and waits for them", function()
    local t0 = os.time()
    local hs = {}
    for i = 1, 4 do
      hs[i] = H.spawn({ "-c", "sleep 1; echo done " .. i .. "; echo e" .. i .. " >&2; exit " .. i }, { program = "/bin/sh" })
    end
    local results = H.wait_all(hs)
    assert.is_true(os.time() - t0 < 4)
    for i, res in ipairs(results) do
      assert.same({ i, "done " .. i .. "\n", "e" .. i .. "\n" }, { res.code, res.out, res.err })
    end
  end)

  it("exposes the program's own pid, which kill -9 stops", function()
    local h = H.spawn("30", { program = "sleep" })
    local deadline = os.time() + 5
    while (H.read("/proc/" .. h.pid .. "/comm") or "") ~= "sleep\n" do
      assert.is_true(os.time() < deadline, "pid " .. h.pid .. " never became sleep")
    end
    assert.is_true(h:running())
    h:kill(9)
    local res = h:wait()
    assert.equal(137, res.code)
    assert.is_false(res.timed_out)
    assert.is_false(h.running())
  end)

  it("kills a process past its wait timeout", function()
    local h = H.spawn("30", { program = "sleep" })
    local res = h:wait(0.3)
    assert.is_true(res.timed_out)
    assert.equal(137, res.code)
  end)
end)

describe("H.migrations", function()
  it("writes the given files, folders included", function()
    local dir = H.migrations({ ["001_a.sql"] = "select 1;\n", ["sub/002_b.lua"] = "return {}\n" })
    assert.equal("select 1;\n", H.read(dir .. "/001_a.sql"))
    assert.equal("return {}\n", H.read(dir .. "/sub/002_b.lua"))
    assert.are_not.equal(dir, H.tmpdir())
  end)
end)

describe("bin/moonshift", function()
  local it_bin = H.has_bin() and it or pending

  it_bin("runs and reports usage errors on stderr", function()
    local res = H.run({ "--no-such-option" })
    assert.are_not.equal(0, res.code)
    assert.are_not.equal("", res.err)
  end)
end)
