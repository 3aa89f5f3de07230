-- Inputs the fuzz targets (fuzz/*_fuzz.c) failed on, kept in
-- spec/fixtures/fuzz/TARGET/ and replayed here through the Lua module, plus
-- leaks of a password found while studying them, through the CLI. Every file
-- in those folders is replayed: a new failing input only needs its file (and,
-- for mask, its password in MASKED below). `make fuzz` replays them too.
package.cpath = "./build/?.so;" .. package.cpath
local H = require("spec_helper")
local ms = require("moonshift")

local FIXTURES = "spec/fixtures/fuzz/"


local function fixtures(target)
  local files = {}
  local p = assert(io.popen("ls " .. H.q(FIXTURES .. target) .. " 2>/dev/null"))
  for name in p:lines() do files[#files + 1] = name end
  p:close()
  table.sort(files)
  return files
end

local function input(target, name)
  return assert(H.read(FIXTURES .. target .. "/" .. name))
end

-- The password libpq reads from each mask fixture (checked with
-- PQconninfoParse), as the text spells it, and the reading of libpq's that
-- the masker once got wrong there.
local MASKED = {
  url_userinfo_space = { "hunter 2xyz", "a space in a URL's password does not end the userinfo" },
  url_query_space = { "hunter 2xyz", "a password= URL query value runs to '&', spaces included" },
  url_query_encoded_key = { "hunter2xyz", "a URL query key is percent-decoded: pass%77ord is password" },
  conninfo_tab = { "hunter2xyz", "a tab may stand between password and '='" },
  conninfo_amp = { "hunter&2xyz", "'&' does not end an unquoted conninfo password (white space does)" },
  conninfo_amp_after_url_query = { "hunter&2xyz", "nor does it after a value that looks like a URL with a query" },
  conninfo_then_url = { "hunter2", "a password= pair before a URL in a later value" },
  url_userinfo_question = { "hunter?2xyz", "a '?' in a URL's password does not end the userinfo (libpq reads to '@')" },
  url_userinfo_hash = { "hunter#2xyz", "a '#' in a URL's password does not end the userinfo (libpq reads to '@')" },
  conninfo_url_in_value = { "hunter2:xyz@h", "a value holding :// does not make the next pairs a URL's userinfo" },
  conninfo_escaped_space = { "hunter\\ 2xyz", "a backslash-escaped space does not end an unquoted conninfo password" },
}

describe("fuzz regressions", function()
  describe("mask_secrets", function()
    for _, name in ipairs(fixtures("mask")) do
      local case = MASKED[name] or { "", "no password listed in MASKED" }
      it("keeps no password of " .. name .. ": " .. case[2], function()
        assert(MASKED[name], "no password listed in MASKED for " .. name)
        local text = input("mask", name)
        local masked = ms.mask_secrets(text)
        assert.is_string(masked)
        for i = 1, #case[1] - 3 do  -- no 4-byte piece of it, as in mask_fuzz.c
          local piece = case[1]:sub(i, i + 3)
          assert(not masked:find(piece, 1, true),
            ("%q masked as %q still shows %q of %q"):format(text, masked, piece, case[1]))
        end
      end)
    end
  end)

  describe("parse_name", function()
    for _, name in ipairs(fixtures("name")) do
      it("gives a verdict on " .. name, function()
        local f = input("name", name):match("^[^\0]*")
        local r = ms.parse_name(f)
        assert.is_truthy(({ ignored = true, single = true, up = true, down = true, bad = true })[r.role])
        if r.version then
          local digits, rest = f:match("^(%d+)_(.*)$")
          assert.equal(digits:match("^0*(%d.*)$") or "0", tostring(r.version))
          assert.equal(1, rest:find(r.name, 1, true))
        end
      end)
    end
  end)

  describe("sections", function()
    for _, name in ipairs(fixtures("sqlfile")) do
      it("splits " .. name .. " into sections inside the text, up before down", function()
        local text = input("sqlfile", name)
        local r = ms.sections(text, "f.sql")
        if r then
          local up, down = r.up, r.down
          for _, s in ipairs({ up or false, down or false }) do
            if s then assert.equal(s.sql, text:sub(s.offset + 1, s.offset + #s.sql)) end
          end
          if up and down then assert.is_true(up.offset + #up.sql < down.offset) end
        end
      end)
    end
  end)

  describe("split", function()
    for _, name in ipairs(fixtures("split")) do
      it("cuts " .. name .. " into pieces that give back the text", function()
        local text = input("split", name)
        local pieces = ms.split(text)
        if pieces then
          local all = {}
          for i, p in ipairs(pieces) do all[i] = p.piece end
          assert.equal(text, table.concat(all))
        end
      end)
    end
  end)
end)

describe("a connection string the server never sees", function()
  -- libpq quotes the token it cannot decode, and so the password, in its error.
  it("keeps a password with a bare '%' out of the error message", function()
    local res = H.run({ "status", "--url", "postgres://app:50%off@127.0.0.1:1/app" })
    assert.equal(3, res.code)
    assert.matches("invalid percent%-encoded token", res.err)
    assert(not res.err:find("50%off", 1, true), "stderr shows the password: " .. res.err)
  end)

  it("reports a connect error quoting a host when there is no connection string at all", function()
    local res = H.run({ "status", "--dir", H.tmpdir() }, { env = { PGHOST = "127.0.0.1", PGPORT = "1" } })
    assert.equal(3, res.code, res.err)
    assert.matches('^moonshift: cannot connect to the database: connection to server at "127%.0%.0%.1", port 1 failed', res.err)
  end)

  -- libpq reads what follows an unencoded '/' or a second '@' in a URL's
  -- password as host, port and path, and names the value it cannot use.
  it("keeps a URL password with an unencoded '/' out of the error message (libpq reads a port there)", function()
    local res = H.run({ "status", "--url", "postgres://app:hunter/2xyz@127.0.0.1:1/app" })
    assert.equal(3, res.code)
    assert.matches("connection option \"port\"", res.err)
    assert(not res.err:find("hunter", 1, true), "stderr shows the password: " .. res.err)
  end)

  it("keeps a URL password with an unencoded '@' out of the error message (libpq reads a host there)", function()
    local res = H.run({ "status", "--url", "postgres://app:hunter@2xyz@127.0.0.1:1/app" })
    assert.equal(3, res.code)
    assert.matches("host name", res.err)
    assert(not res.err:find("2xyz", 1, true), "stderr shows the password: " .. res.err)
  end)
end)
