-- The engine's parts through the Lua module (build/moonshift.so): file-name
-- parsing (table-driven, spec/fixtures/cli/names.txt), folder discovery, SQL
-- marker sections, sha256 and secret masking. No server needed.
package.cpath = "./build/?.so;" .. package.cpath
local H = require("spec_helper")
local ms = require("moonshift")

local NAMES = "spec/fixtures/cli/names.txt"

-- Reads the name fixture: array of { line=, fname=, role=, version=, kind=,
-- name=, why= }.
local function name_cases()
  local cases, n = {}, 0
  for line in assert(io.open(NAMES, "rb")):lines() do
    n = n + 1
    if line:match("%S") and not line:match("^#") then
      local f = {}
      for field in (line .. " | "):gmatch("(.-) | ") do f[#f + 1] = field end
      local c = { line = n, fname = f[1], role = f[2] }
      if c.role == "bad" then
        c.why = assert(f[3], NAMES .. ":" .. n .. ": bad needs a pattern")
      elseif c.role ~= "ignored" then
        c.version, c.kind, c.name = math.tointeger(tonumber(f[3])), f[4], f[5]
        assert(c.version and c.kind and c.name, NAMES .. ":" .. n .. ": needs version, kind and name")
      end
      cases[#cases + 1] = c
    end
  end
  return cases
end

describe("moonshift.parse_name", function()
  for _, c in ipairs(name_cases()) do
    it(("%q is %s (%s:%d)"):format(c.fname, c.role, NAMES, c.line), function()
      local got = ms.parse_name(c.fname)
      assert.are.equal(c.role, got.role)
      if c.role == "bad" then
        assert.is_nil(got.version)
        assert.is_string(got.why)
        assert.matches(c.why, got.why)
      elseif c.role == "ignored" then
        assert.are.same({ role = "ignored" }, got)
      else
        assert.are.same({ role = c.role, version = c.version, kind = c.kind, name = c.name },
          { role = got.role, version = got.version, kind = got.kind, name = got.name })
        assert.are.equal("integer", math.type(got.version))
        assert.is_nil(got.why)
      end
    end)
  end
end)

describe("moonshift.scan", function()
  it("lists migrations in numeric version order, pairs merged, other files left out", function()
    local dir = H.migrations({
      ["10_ten.sql"] = "", ["9_nine.lua"] = "return {}", ["0002_two.sql"] = "",
      ["20240101000000_stamp.sql"] = "",
      ["11_pair.up.sql"] = "", ["11_pair.down.sql"] = "",
      ["README.md"] = "", ["notes.txt"] = "", [".hidden.sql"] = "", ["10_ten.sql~"] = "",
    })
    local got = assert(ms.scan(dir))
    local summary = {}
    for i, m in ipairs(got) do
      summary[i] = { m.version, m.name, m.kind, m.path, m.down_path }
    end
    assert.are.same({
      { 2, "two", "sql", dir .. "/0002_two.sql" },
      { 9, "nine", "lua", dir .. "/9_nine.lua" },
      { 10, "ten", "sql", dir .. "/10_ten.sql" },
      { 11, "pair", "sql", dir .. "/11_pair.up.sql", dir .. "/11_pair.down.sql" },
      { 20240101000000, "stamp", "sql", dir .. "/20240101000000_stamp.sql" },
    }, summary)
  end)

  it("returns an empty list for a folder without migrations", function()
    assert.are.same({}, ms.scan(H.migrations({ ["README"] = "x" })))
  end)

  it("names every offending file at once", function()
    local dir = H.migrations({
      ["001_a.sql"] = "", ["1_b.lua"] = "return {}",
      ["2x.sql"] = "", ["seed.sql"] = "", ["3_bad name.sql"] = "",
      ["4_lonely.down.sql"] = "", ["5_fine.sql"] = "",
    })
    os.execute("mkdir " .. H.q(dir .. "/006_folder.sql"))
    local got, err = ms.scan(dir)
    assert.is_nil(got)
    assert.matches("nothing was run", err)
    assert.matches("001_a%.sql", err)
    assert.matches("1_b%.lua", err)
    assert.matches("both have version 1", err)
    assert.matches("2x%.sql", err)
    assert.matches("seed%.sql", err)
    assert.matches("3_bad name%.sql", err)
    assert.matches("4_lonely%.down%.sql: a %.down%.sql file needs its %.up%.sql file", err)
    assert.matches("006_folder%.sql: named like a migration but not a regular file", err)
    assert.is_nil(err:find("5_fine", 1, true))
  end)

  it("counts 1 and 001 as the same version", function()
    local got, err = ms.scan(H.migrations({ ["1_a.sql"] = "", ["001_b.sql"] = "" }))
    assert.is_nil(got)
    assert.matches("both have version 1", err)
  end)

  it("refuses a pair whose halves have different names", function()
    local got, err = ms.scan(H.migrations({ ["7_a.up.sql"] = "", ["7_b.down.sql"] = "" }))
    assert.is_nil(got)
    assert.matches("version 7", err)
  end)

  it("refuses a single file next to a pair of the same version", function()
    local got, err = ms.scan(H.migrations({ ["7_a.up.sql"] = "", ["7_a.down.sql"] = "", ["7_a.lua"] = "" }))
    assert.is_nil(got)
    assert.matches("both have version 7", err)
  end)

  it("reports a missing folder", function()
    local got, err = ms.scan(H.tmpdir() .. "/nope")
    assert.is_nil(got)
    assert.matches("cannot open migrations folder .*/nope", err)
  end)
end)

describe("moonshift.sections", function()
  it("cuts up and down sections with their first line and options", function()
    local text = "-- migrate:up\ncreate table a (id int);\n\n-- migrate:down transaction:false\ndrop table a;\n"
    local s = assert(ms.sections(text, "m/1_a.sql"))
    assert.are.same({ sql = "create table a (id int);\n\n", line = 2, transaction = true, offset = 14 }, s.up)
    assert.are.same({ sql = "drop table a;\n", line = 5, transaction = false, offset = 74 }, s.down)
    assert.are.equal(s.up.sql, text:sub(s.up.offset + 1, s.up.offset + #s.up.sql))
    assert.are.equal(s.down.sql, text:sub(s.down.offset + 1, s.down.offset + #s.down.sql))
  end)

  it("takes a file without markers as all up, or all down for a .down.sql file", function()
    local text = "-- a comment\ncreate table a (id int);\n"
    assert.are.same({ up = { sql = text, line = 1, transaction = true, offset = 0 } },
      assert(ms.sections(text, "1_a.sql")))
    assert.are.same({ down = { sql = text, line = 1, transaction = true, offset = 0 } },
      assert(ms.sections(text, "1_a.down.sql", true)))
    assert.are.same({ up = { sql = "", line = 1, transaction = true, offset = 0 } },
      assert(ms.sections("", "1_a.sql")))
  end)

  it("allows comments and blank lines before the first marker", function()
    local s = assert(ms.sections("-- header\n\n   \n-- migrate:up\nselect 1;\n", "f.sql"))
    assert.are.equal("select 1;\n", s.up.sql)
    assert.are.equal(5, s.up.line)
    assert.is_nil(s.down)
  end)

  it("reads markers without a space, with extra blanks, with CR LF and after a BOM", function()
    local s = assert(ms.sections("\239\187\191--migrate:up   transaction:false  \r\nselect 1;\r\n--\tmigrate:down\r\nselect 2;\r\n", "f.sql"))
    assert.are.equal("select 1;\r\n", s.up.sql)
    assert.is_false(s.up.transaction)
    assert.are.equal("select 2;\r\n", s.down.sql)
    assert.is_true(s.down.transaction)
    assert.are.equal(4, s.down.line)
  end)

  it("refuses a comment that looks like a mistyped marker", function()
    for _, line in ipairs({ "-- migrate:upgrade", "-- migrate:dwon", "--migrate:Up" }) do
      local got, err = ms.sections(line .. "\nselect 1;\n", "f.sql")
      assert.is_nil(got)
      assert.matches("^f%.sql:1: '" .. line:gsub("%p", "%%%0") .. "' is not a marker", err)
    end
  end)

  local bad = {
    { "an unknown option", "-- migrate:up transaction:maybe\nselect 1;\n",
      "^m/1_x%.sql:1: unknown marker option 'transaction:maybe'" },
    { "a second up marker", "-- migrate:up\nselect 1;\n\n-- migrate:up\nselect 2;\n",
      "^m/1_x%.sql:4: a second %-%- migrate:up marker %(the first is on line 1%)" },
    { "a second down marker", "-- migrate:up\nselect 1;\n-- migrate:down\n-- migrate:down\n",
      "^m/1_x%.sql:4: a second %-%- migrate:down marker" },
    { "down before up", "-- migrate:down\nselect 1;\n-- migrate:up\nselect 2;\n",
      "^m/1_x%.sql:3: %-%- migrate:up must come before %-%- migrate:down %(line 1%)" },
    { "SQL before the first marker", "-- header\n\nselect 0;\n-- migrate:up\nselect 1;\n",
      "^m/1_x%.sql:3: SQL before the first %-%- migrate:up marker" },
    { "a down section without an up section", "-- migrate:down\nselect 1;\n",
      "^m/1_x%.sql:1: %-%- migrate:down without %-%- migrate:up" },
  }
  for _, c in ipairs(bad) do
    it("refuses " .. c[1] .. " with file:line", function()
      local s, err = ms.sections(c[2], "m/1_x.sql")
      assert.is_nil(s)
      assert.matches(c[3], err)
    end)
  end

  it("refuses an up marker in a .down.sql file", function()
    local s, err = ms.sections("-- comment\n-- migrate:up\nselect 2;\n", "m/1_x.down.sql", true)
    assert.is_nil(s)
    assert.matches("^m/1_x%.down%.sql:2: a %.down%.sql file cannot hold %-%- migrate:up", err)
  end)
end)

describe("moonshift.sha256", function()
  it("gives the standard digests as lower-case hex", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ms.sha256(""))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ms.sha256("abc"))
    assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      ms.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("hashes bytes, NULs included", function()
    assert.are_not.equal(ms.sha256("a\0b"), ms.sha256("a\0c"))
    assert.are.equal(64, #ms.sha256(string.rep("\0\255", 100000)))
  end)
end)

describe("moonshift.mask_secrets", function()
  local cases = {
    { "postgres://alice:s3cr3t@db.example:5432/app", "postgres://alice:***@db.example:5432/app" },
    { "postgresql://alice@db/app", "postgresql://alice@db/app" },
    { "host=db password=s3cr3t user=alice", "host=db password=*** user=alice" },
    { "host=db password = 'a b\\' s3cr3t' user=alice", "host=db password=*** user=alice" },
    { "postgres://db/app?sslmode=require&password=s3cr3t", "postgres://db/app?sslmode=require&password=***" },
    { "connection to server at \"db\" failed", "connection to server at \"db\" failed" },
  }
  for _, c in ipairs(cases) do
    it(("masks %q"):format(c[1]), function()
      local got = ms.mask_secrets(c[1])
      assert.are.equal(c[2], got)
      assert.is_nil(got:find("s3cr3t", 1, true))
    end)
  end
end)
