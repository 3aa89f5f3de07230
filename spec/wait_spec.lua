-- wait_spec.lua: `moonshift wait` and `--wait`, for init containers that
-- start before their database accepts connections, and the version gate of
-- `check --at-least / --at-most` an application runs at start-up.
local H = require("spec_helper")
local cmd, versions = H.cmd, H.versions

-- A URL through a socket folder of our own: the server "starts" when its
-- socket appears there (a link to the test server's socket).
local function late_server(name)
  local dir = H.tmpdir()
  local port = os.getenv("PGPORT")
  local url = ("postgresql:///%s?host=%s&port=%s"):format(name, dir, port)
  local function start()
    local sock = ("%s/.s.PGSQL.%s"):format(os.getenv("PGHOST"), port)
    assert(H.sh(("ln -s %s %s/"):format(H.q(sock), H.q(dir))).code == 0)
  end
  return url, start
end

describe("moonshift wait", function()
  it("waits for a server that starts a few seconds later, saying once that it waits", function()
    local _, name = H.new_db()
    local url, start = late_server(name)
    local t0 = H.now()
    local run = H.spawn({ "wait", "--url", url, "--timeout", "30s" })
    H.sleep(2)
    start()
    local res = run:wait(40)
    assert.are.equal(0, res.code, res.err)
    assert.matches("^the database server accepts connections\n$", res.out)
    local _, n = res.err:gsub("waiting up to 30s for the database server", "")
    assert.are.equal(1, n, res.err)
    assert.is_true(H.now() - t0 >= 2)
  end)

  it("exits 3 with one clear line when the server never starts", function()
    local _, name = H.new_db()
    local url = late_server(name)
    local t0 = H.now()
    local res = H.run_fails({ "wait", "--url", url, "--timeout", "1s" },
      "moonshift: the database server did not accept connections within 1s %(no answer%); nothing was done\n$", 3)
    assert.are.equal("", res.out)
    assert.is_true(H.now() - t0 < 10)
  end)

  it("--wait makes any command wait first, then run", function()
    local _, name = H.new_db()
    local url, start = late_server(name)
    local dir = H.migrations({ ["001_a.sql"] = "CREATE TABLE a (id int);\n" })
    local run = H.spawn({ "up", "--url", url, "--dir", dir, "--wait", "--timeout", "30s" })
    H.sleep(1.5)
    start()
    local res = run:wait(40)
    assert.are.equal(0, res.code, res.err)
    assert.matches("applied 001 a", res.out)
    assert.are.same({ "1" }, versions(H.url(name)))
  end)
end)

describe("check --at-least / --at-most", function()
  it("is a version gate: 0 within the range, 9 older, 10 newer, pending migrations allowed", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "SELECT 1;\n", ["002_b.sql"] = "SELECT 1;\n", ["003_c.sql"] = "SELECT 1;\n" })
    H.run_ok(cmd("up", url, dir, "1"))
    H.run_ok(cmd("up", url, dir, "1"))
    H.run_ok(cmd("check", url, dir, "--at-least", "2"), "^ok: the database is at version 002")
    H.run_ok(cmd("check", url, dir, "--at-least", "1", "--at-most", "2"))
    H.run_fails(cmd("check", url, dir, "--at-least", "3"), "at version 002, older than 003, the oldest", 9)
    H.run_fails(cmd("check", url, dir, "--at-most", "1"), "at version 002, newer than 001, the newest", 10)
    H.run_fails(cmd("check", url, dir), "1 pending", 5)   -- without a gate: the full check
    H.run_fails(cmd("check", url, dir, "--at-least", "x"), "%-%-at%-least takes a version", 2)
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("is the same in the Lua module: m:check{ at_least =, at_most = }", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "SELECT 1;\n" })
    H.run_ok(cmd("up", url, dir))
    local script = H.tmpdir() .. "/gate.lua"
    H.write(script, ([[
package.cpath = %q .. "/build/?.so;" .. package.cpath
local m = require("moonshift").open{ url = %q, dir = %q }
local ok = m:check{ at_least = 1 }
local old = m:check{ at_least = 2 }
local new = m:check{ at_most = 0 }
print(ok.exit_code, old.exit_code, new.exit_code, old.error.message)
]]):format(H.root, url, dir))
    local res = H.run({ script }, { program = "lua5.4" })
    assert.are.equal(0, res.code, res.err)
    assert.matches("^0\t9\t10\tthe database is at version 001, older than 2", res.out)
  end)
end)
