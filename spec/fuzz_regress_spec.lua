-- Inputs the fuzz targets (fuzz/*_fuzz.c) failed on, kept in
-- spec/fixtures/fuzz/TARGET/ and replayed here through the Lua module, plus
-- leaks of a password found while studying them, through the CLI. Every file
-- in those folders is replayed: a new failing input only needs its file (and,
-- for mask, its password in MASKED below). `make fuzz` replays them too.
-- A case whose bug is still open is reported pending, "BUG: ...", and passes
-- by itself once the bug is fixed.
package.cpath = "./build/?.so;" .. package.cpath
local H = require("spec_helper")
local known_bug = H.known_bug
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
-- PQconninfoParse), and why the masker keeps it.
local MASKED = {
  url_userinfo_space = { "hunter 2xyz", "a space in a URL's password ends the userinfo early" },
  url_query_space = { "hunter 2xyz", "a space ends a password= URL query value early (libpq reads to '&')" },
  conninfo_tab = { "hunter2xyz", "a tab between password and '=' hides the pair" },
  conninfo_amp = { "hunter&2xyz", "'&' ends an unquoted conninfo password early (libpq reads to a space)" },
  conninfo_then_url = { "hunter2", "text before a URL's userinfo is copied as is, password= pair included" },
  url_userinfo_question = { "hunter?2xyz", "a '?' in a URL's password hides the userinfo (libpq reads it to '@')" },
  url_userinfo_hash = { "hunter#2xyz", "a '#' in a URL's password hides the userinfo (libpq reads it to '@')" },
  conninfo_url_in_value = { "hunter2:xyz@h", "a value holding :// makes the next pairs look like a URL's userinfo" },
  conninfo_escaped_space = { "hunter\\ 2xyz", "a backslash-escaped space ends an unquoted conninfo password early" },
}

describe("fuzz regressions", function()
  describe("mask_secrets", function()
    for _, name in ipairs(fixtures("mask")) do
      it("keeps no password of " .. name, function()
        local case = assert(MASKED[name], "no password listed in MASKED for " .. name)
        local text = input("mask", name)
        local masked = ms.mask_secrets(text)
        assert.is_string(masked)
        known_bug(case[2], function()
          for i = 1, #case[1] - 3 do  -- no 4-byte piece of it, as in mask_fuzz.c
            local piece = case[1]:sub(i, i + 3)
            assert(not masked:find(piece, 1, true),
              ("%q masked as %q still shows %q of %q"):format(text, masked, piece, case[1]))
          end
        end)
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
    known_bug("libpq's 'invalid percent-encoded token' message quotes the password, unmasked", function()
      assert(not res.err:find("50%off", 1, true), "stderr shows the password: " .. res.err)
    end)
  end)
end)
