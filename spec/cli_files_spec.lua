-- The migrations folder through the CLI: which files are migrations, their
-- order, .up.sql/.down.sql pairs, and the folder and marker problems that
-- stop a run (exit 2) before anything touches the database.
package.cpath = "./build/?.so;" .. package.cpath
local H = require("spec_helper")
local cmd, exists = H.cmd, H.exists
local ms = require("moonshift")



-- Tracking rows as { version, name, kind }, in version order; nil when the
-- tracking table does not exist.
local function tracked(url)
  if not exists(url, "public.moonshift_migrations") then return nil end
  return H.sql(url, "select version::text as v, name, kind from public.moonshift_migrations order by version")
end

describe("moonshift up: discovery and order", function()
  it("runs versions in numeric order, whatever their width, gaps included", function()
    local url = H.new_db()
    local function step(n) return ("insert into run_order (v) values (%d);\n"):format(n) end
    local dir = H.migrations({
      ["2_create_log.sql"] = "create table run_order (seq serial, v bigint);\n" .. step(2),
      ["9_nine.sql"] = step(9),
      ["10_ten.sql"] = step(10),
      ["0011_eleven.sql"] = step(11),
      ["100_hundred.sql"] = step(100),
      ["20240101000000_stamp.sql"] = step(20240101000000),
    })
    local res = H.run_ok(cmd("up", url, dir))
    local lines = {}
    for v in res.out:gmatch("applied (%d+) %S+ %(%d+ ms%)\n") do lines[#lines + 1] = v end
    assert.are.same({ "2", "9", "10", "0011", "100", "20240101000000" }, lines)
    assert.matches("6 migrations applied; the database is at version 20240101000000\n$", res.out)
    assert.are.equal("", res.err)
    assert.are.same({ { "2" }, { "9" }, { "10" }, { "11" }, { "100" }, { "20240101000000" } },
      H.sql(url, "select v::text from run_order order by seq"))
    assert.are.same({ { "2", "create_log", "sql" }, { "9", "nine", "sql" }, { "10", "ten", "sql" },
      { "11", "eleven", "sql" }, { "100", "hundred", "sql" }, { "20240101000000", "stamp", "sql" } },
      tracked(url))
  end)

  it("leaves other files alone: README, notes, dot files, editor backups, sub-folders", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_a.sql"] = "create table a (id int);\n",
      ["README.md"] = "# not sql\n",
      ["notes.txt"] = "drop table a;\n",
      [".002_hidden.sql"] = "create table hidden (id int);\n",
      ["001_a.sql~"] = "create table backup (id int);\n",
      ["archive/003_old.sql"] = "create table old (id int);\n",
    })
    H.run_ok(cmd("up", url, dir), "^applied 001 a %(%d+ ms%)\n1 migration applied; the database is at version 001\n$")
    assert.is_true(exists(url, "a"))
    assert.is_false(exists(url, "hidden"))
    assert.is_false(exists(url, "backup"))
    assert.is_false(exists(url, "old"))
    assert.are.same({ { "1", "a", "sql" } }, tracked(url))
  end)

  it("applies an .up.sql/.down.sql pair as one migration and rolls it back with the down file", function()
    local url = H.new_db()
    local up, down = "create table paired (id int);\n", "drop table paired;\n"
    local dir = H.migrations({ ["005_paired.up.sql"] = up, ["005_paired.down.sql"] = down })
    H.run_ok(cmd("up", url, dir), "^applied 005 paired %(%d+ ms%)\n")
    assert.is_true(exists(url, "paired"))
    -- the checksum covers both files, the up file first
    assert.are.same({ { "5", "paired", "sql", "sha256-v1:" .. ms.sha256(up .. down) } },
      H.sql(url, "select version::text, name, kind, checksum from moonshift_migrations"))
    local st = H.run_ok(cmd("status", url, dir))
    local _, count = st.out:gsub("\n005 +paired +sql +applied", "")
    assert.are.equal(1, count)
    H.run_ok(cmd("down", url, dir), "^reverted 005 paired %(%d+ ms%)\n1 migration rolled back; the database is at version 0\n$")
    assert.is_false(exists(url, "paired"))
    assert.are.same({}, tracked(url))
  end)

  it("applies an .up.sql file without its .down.sql, which then cannot be rolled back", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_only_up.up.sql"] = "create table only_up (id int);\n" })
    H.run_ok(cmd("up", url, dir), "^applied 1 only_up ")
    local res = H.run_fails(cmd("down", url, dir), "/1_only_up%.up%.sql: has no %-%- migrate:down section", 2)
    assert.are.equal("", res.out)
    assert.is_true(exists(url, "only_up"))
    assert.are.same({ { "1", "only_up", "sql" } }, tracked(url))
  end)

  it("runs a file with a BOM and CR LF line ends, markers included", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_crlf.sql"] = "\239\187\191-- migrate:up\r\ncreate table crlf (id int);\r\n-- migrate:down\r\ndrop table crlf;\r\n",
    })
    H.run_ok(cmd("up", url, dir), "^applied 1 crlf")
    assert.is_true(exists(url, "crlf"))
    H.run_ok(cmd("down", url, dir), "^reverted 1 crlf")
    assert.is_false(exists(url, "crlf"))
  end)

  it("reads the folder from MOONSHIFT_DIR, else ./migrations", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_from_env.sql"] = "create table from_env (id int);\n" })
    H.run_ok({ "up", "--url", url }, "^applied 1 from_env", { env = { MOONSHIFT_DIR = dir } })
    assert.is_true(exists(url, "from_env"))
    local project = H.tmpdir()
    H.write(project .. "/migrations/1_from_cwd.sql", "create table from_cwd (id int);\n")
    local url2 = H.new_db()
    H.run_ok({ "up", "--url", url2 }, "^applied 1 from_cwd", { cwd = project, env = { MOONSHIFT_DIR = false } })
    assert.is_true(exists(url2, "from_cwd"))
  end)
end)

describe("moonshift up: folder problems", function()
  -- Each case: the files, extra sub-folders, and patterns stderr must match.
  -- A valid 999_ok.sql sits next to them and must not run.
  local cases = {
    { "two files with the same version", { ["001_a.sql"] = "", ["1_b.lua"] = "return { up = function() end }" }, {},
      { "001_a%.sql", "1_b%.lua", "both have version 1" } },
    { "a name starting with a digit that does not parse", { ["2x.sql"] = "" }, {},
      { "/2x%.sql: expected <version>_<name>" } },
    { "a .sql file without a version", { ["seed.sql"] = "" }, {},
      { "/seed%.sql: a migration file name must start with its version" } },
    { "a name with a space", { ["3_bad name.sql"] = "" }, {},
      { "/3_bad name%.sql: the name may contain only" } },
    { "a version beyond int64", { ["9223372036854775808_big.sql"] = "" }, {},
      { "/9223372036854775808_big%.sql: the version does not fit in a 64%-bit integer" } },
    { "a versioned file with another extension", { ["4_a.txt"] = "" }, {},
      { "/4_a%.txt: a migration file must end in %.sql or %.lua" } },
    { "a lone .down.sql file", { ["5_lonely.down.sql"] = "drop table x;" }, {},
      { "/5_lonely%.down%.sql: a %.down%.sql file needs its %.up%.sql file" } },
    { "a folder named like a migration", {}, { "6_folder.sql" },
      { "/6_folder%.sql: named like a migration but not a regular file" } },
  }
  for _, c in ipairs(cases) do
    it("exits 2 on " .. c[1] .. ", naming the file, and runs nothing", function()
      local url = H.new_db()
      local files = { ["999_ok.sql"] = "create table ok (id int);\n" }
      for k, v in pairs(c[2]) do files[k] = v end
      local dir = H.migrations(files)
      for _, d in ipairs(c[3]) do os.execute("mkdir " .. H.q(dir .. "/" .. d)) end
      local res = H.run_fails(cmd("up", url, dir), "^moonshift: migrations folder .* has problems; nothing was run:\n", 2)
      for _, pattern in ipairs(c[4]) do assert.matches(pattern, res.err) end
      assert.is_nil(res.err:find("999_ok", 1, true))
      assert.are.equal("", res.out)
      assert.is_false(exists(url, "ok"))
      assert.is_nil(tracked(url))
    end)
  end

  it("names every offending file in one report", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["999_ok.sql"] = "create table ok (id int);\n",
      ["001_a.sql"] = "", ["001_b.sql"] = "", ["2x.sql"] = "", ["seed.lua"] = "",
      ["3_lonely.down.sql"] = "", ["4_a.txt"] = "",
    })
    os.execute("mkdir " .. H.q(dir .. "/5_dir.lua"))
    local res = H.run_fails(cmd("up", url, dir), "nothing was run", 2)
    for _, f in ipairs({ "001_a%.sql and .*001_b%.sql", "2x%.sql", "seed%.lua", "3_lonely%.down%.sql",
                         "4_a%.txt", "5_dir%.lua" }) do
      assert.matches(f, res.err)
    end
    local _, lines = res.err:gsub("\n  ", "")
    assert.are.equal(6, lines)
    assert.is_false(exists(url, "ok"))
    assert.is_nil(tracked(url))
  end)

  it("checks the folder before connecting", function()
    local dir = H.migrations({ ["1_a.sql"] = "", ["01_b.sql"] = "" })
    H.run_fails(cmd("up", "postgres://nobody@127.0.0.1:1/none", dir), "both have version 1", 2)
    H.run_fails(cmd("status", "postgres://nobody@127.0.0.1:1/none", dir), "both have version 1", 2)
  end)

  it("exits 2 on a missing folder, naming it", function()
    local url = H.new_db()
    local dir = H.tmpdir() .. "/no_such_folder"
    local res = H.run_fails(cmd("up", url, dir), "^moonshift: cannot open migrations folder .*/no_such_folder: No such file or directory\n$", 2)
    assert.are.equal("", res.out)
    assert.is_nil(tracked(url))
  end)
end)

describe("moonshift up: marker problems", function()
  local cases = {
    { "an unknown marker option", "-- migrate:up transaction:off\ncreate table bad (id int);\n",
      "/2_bad%.sql:1: unknown marker option 'transaction:off'" },
    { "two up markers", "-- migrate:up\ncreate table bad (id int);\n-- migrate:up\nselect 1;\n",
      "/2_bad%.sql:3: a second %-%- migrate:up marker %(the first is on line 1%)" },
    { "down before up", "-- migrate:down\ndrop table bad;\n-- migrate:up\ncreate table bad (id int);\n",
      "/2_bad%.sql:3: %-%- migrate:up must come before %-%- migrate:down" },
    { "SQL before the first marker", "-- about\ncreate table bad (id int);\n-- migrate:up\nselect 1;\n",
      "/2_bad%.sql:2: SQL before the first %-%- migrate:up marker" },
    { "a down section only", "\n-- migrate:down\ndrop table bad;\n",
      "/2_bad%.sql:2: %-%- migrate:down without %-%- migrate:up" },
  }
  for _, c in ipairs(cases) do
    it("exits 2 on " .. c[1] .. " with file:line, and runs nothing", function()
      local url = H.new_db()
      local dir = H.migrations({ ["1_ok.sql"] = "create table ok (id int);\n", ["2_bad.sql"] = c[2] })
      local res = H.run_fails(cmd("up", url, dir), c[3], 2)
      assert.matches("^moonshift: ", res.err)
      assert.is_nil(res.out:find("applied 1", 1, true))
      assert.is_false(exists(url, "ok"))
      assert.is_false(exists(url, "bad"))
      assert.is_nil(tracked(url))
    end)
  end

  it("exits 2 on an up marker in a .down.sql file", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_ok.sql"] = "create table ok (id int);\n",
      ["2_bad.up.sql"] = "create table bad (id int);\n",
      ["2_bad.down.sql"] = "-- migrate:up\ndrop table bad;\n",
    })
    H.run_ok(cmd("up", url, dir), "applied 2 bad")
    local res = H.run_fails(cmd("down", url, dir), "/2_bad%.down%.sql:1: ", 2)
    assert.are.equal("", res.out)
    assert.is_true(exists(url, "bad"))
    assert.are.same({ { "1", "ok", "sql" }, { "2", "bad", "sql" } }, tracked(url))
  end)
end)
