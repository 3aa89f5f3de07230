-- The project around the migrations: moonshift.lua (environments,
-- precedence, errors), hooks, custom commands, dry runs that change nothing,
-- and embedding through the Lua module and the C API.
local H = require("spec_helper")
local BIN = os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin"

local function project(files)
  local dir = H.tmpdir()
  for name, text in pairs(files) do H.write(dir .. "/" .. name, text) end
  return dir
end

local function tracking(url)
  return H.sql(url, "SELECT version FROM moonshift_migrations ORDER BY version")
end

local HOOKS = [[
return {
  environments = {
    test = { url = os.getenv("MS_SPEC_URL"), variables = { who = "tester" } },
    other = { url = "postgres://nobody@127.0.0.1:1/none" },
  },
  variables = { who = "default" },
  lock_timeout = "4s",
  hooks = {
    before_all = function(ctx) io.stderr:write("before_all ", ctx.command, " ", ctx.direction, "\n") end,
    before_each = function(ctx, m, db)
      db:exec("CREATE TABLE IF NOT EXISTS audit (version bigint, who text, direction text, lt text)")
      if m.name == "refused" then error("policy refuses " .. m.name) end
    end,
    after_each = function(ctx, m, db, result)
      db:exec("INSERT INTO audit VALUES ($1, $2, $3, current_setting('lock_timeout'))",
              m.version, ctx.vars.who, ctx.direction)
    end,
    on_error = function(ctx, m, err) io.stderr:write("on_error ", m.name, "\n") end,
    after_all = function(ctx, summary)
      io.stderr:write("after_all ok=", tostring(summary.ok), " count=", summary.count, "\n")
    end,
  },
  commands = {
    seed = function(ctx, db, args)
      for _, name in ipairs(args) do db:exec("INSERT INTO people (name) VALUES ($1)", name) end
      print("seeded " .. #args .. " in " .. ctx.env)
    end,
    boom = function(ctx, db, args) error("seed data is broken") end,
  },
}
]]

describe("moonshift.lua", function()
  it("selects an environment, and flags beat environment variables beat the config", function()
    local url = H.new_db()
    local other = H.new_db()
    local dir = project({
      ["moonshift.lua"] = HOOKS,
      ["migrations/001_people.sql"] = "CREATE TABLE people (id serial, name text);\n",
    })
    local env = { MS_SPEC_URL = url, DATABASE_URL = false }
    H.run_ok({ "up", "--env", "test" }, "applied 001 people", { cwd = dir, env = env })
    assert.are.same({ { "1" } }, tracking(url))
    -- MOONSHIFT_ENV picks the environment too
    H.run_fails({ "status" }, "cannot connect", 3, { cwd = dir, env = { MOONSHIFT_ENV = "other", DATABASE_URL = false } })
    -- DATABASE_URL beats the config's url
    env.DATABASE_URL = other
    H.run_ok({ "up", "--env", "test" }, "applied 001 people", { cwd = dir, env = env })
    assert.are.same({ { "1" } }, tracking(other))
    -- and --url beats DATABASE_URL
    local third = H.new_db()
    H.run_ok({ "up", "--env", "test", "--url", third }, "applied 001 people", { cwd = dir, env = env })
    assert.are.same({ { "1" } }, tracking(third))
  end)

  it("stops with file:line and what was expected on a bad config", function()
    local cases = {
      { "return {\n  url = 'x',\n  dir = 5,\n}\n", "moonshift%.lua:3: 'dir' in the config must be a string, not a number" },
      { "return {\n  bogus = true,\n}\n", "moonshift%.lua:2: unknown key 'bogus' in the config" },
      { "return {\n  lock = 'sometimes',\n}\n", "moonshift%.lua:2: 'lock' must be \"advisory\" or \"table\"" },
      { "return {\n  lock_timeout = 'soon',\n}\n", "moonshift%.lua:2: 'lock_timeout' must be a duration" },
      { "return {\n  hooks = { before_every = function() end },\n}\n", "moonshift%.lua:2: unknown hook 'before_every'" },
      { "return {\n  url = 'x'\n  dir = 'y',\n}\n", "moonshift%.lua:3: '}' expected" },
      { "return 'not a table'\n", "moonshift%.lua: the config must return a table, not string" },
      { "error('from the config')\n", "moonshift%.lua:1: from the config" },
    }
    for _, case in ipairs(cases) do
      local dir = project({ ["moonshift.lua"] = case[1], ["migrations/001_a.sql"] = "SELECT 1;\n" })
      local r = H.run_fails({ "status" }, case[2], 2, { cwd = dir })
      assert.is_nil(r.err:find("traceback", 1, true) and case[2]:find("must") and "traceback" or nil, r.err)
    end
    local dir = project({ ["moonshift.lua"] = "return {}\n", ["migrations/001_a.sql"] = "SELECT 1;\n" })
    H.run_fails({ "status", "--env", "prod" }, "no environment 'prod'", 2, { cwd = dir })
    H.run_fails({ "status", "--config", dir .. "/nope.lua" }, "cannot read the config", 2, { cwd = dir })
  end)
end)

describe("hooks", function()
  it("run around and inside each migration's transaction, with ctx, migration and db", function()
    local url = H.new_db()
    local dir = project({
      ["moonshift.lua"] = HOOKS,
      ["migrations/001_people.sql"] = "CREATE TABLE people (id serial, name text);\n",
      ["migrations/002_more.lua"] = "return { up = function(db) db:exec('ALTER TABLE people ADD COLUMN age int') end,\n"
        .. "down = function(db) db:exec('ALTER TABLE people DROP COLUMN age') end }\n",
    })
    local env = { MS_SPEC_URL = url, DATABASE_URL = false }
    local r = H.run_ok({ "up", "--env", "test" }, nil, { cwd = dir, env = env })
    assert.matches("before_all up up", r.err)
    assert.matches("after_all ok=true count=2", r.err)
    assert.are.same({ { "1", "tester", "up", "4s" }, { "2", "tester", "up", "4s" } },
      H.sql(url, "SELECT * FROM audit ORDER BY version"))
    H.run_ok({ "down", "--env", "test" }, "reverted 002 more", { cwd = dir, env = env })
    assert.are.equal("1", H.scalar(url, "SELECT count(*) FROM audit WHERE direction = 'down' AND version = 2"))
  end)

  it("refuse a migration by raising, naming the hook, and roll it back with its hook writes", function()
    local url = H.new_db()
    local dir = project({
      ["moonshift.lua"] = HOOKS,
      ["migrations/001_people.sql"] = "CREATE TABLE people (id serial, name text);\n",
      ["migrations/002_refused.sql"] = "CREATE TABLE refused_table (id int);\n",
    })
    local r = H.run_fails({ "up", "--env", "test" }, "hook before_each: [^\n]*moonshift%.lua:%d+: policy refuses refused", 1,
      { cwd = dir, env = { MS_SPEC_URL = url, DATABASE_URL = false } })
    assert.matches("on_error refused", r.err)
    assert.matches("after_all ok=false count=1", r.err)
    assert.are.same({ { "1" } }, tracking(url))
    assert.is_nil(H.scalar(url, "SELECT to_regclass('refused_table')"))
    assert.are.equal("1", H.scalar(url, "SELECT count(*) FROM audit"))
  end)
end)

describe("custom commands", function()
  it("run connected, under the lock, listed by --help, with errors reported", function()
    local url = H.new_db()
    local dir = project({
      ["moonshift.lua"] = HOOKS,
      ["migrations/001_people.sql"] = "CREATE TABLE people (id serial, name text);\n",
    })
    local env = { MS_SPEC_URL = url, DATABASE_URL = false }
    H.run_ok({ "up", "--env", "test" }, nil, { cwd = dir, env = env })
    local seeded = H.run_ok({ "seed", "ann", "bob", "--env", "test" }, nil, { cwd = dir, env = env })
    assert.matches("seeded 2 in test\n", seeded.err)   -- a command's print goes to stderr
    assert.are.equal("", seeded.out)
    assert.are.same({ { "ann" }, { "bob" } }, H.sql(url, "SELECT name FROM people ORDER BY id"))
    H.run_ok({ "--help" }, "project commands %(moonshift%.lua%):\n  [%w\n ]*seed", { cwd = dir, env = env })
    H.run_fails({ "boom", "--env", "test" }, "command boom: [^\n]*seed data is broken", 1, { cwd = dir, env = env })
    H.run_fails({ "nosuch", "--env", "test" }, "unknown command 'nosuch'", 2, { cwd = dir, env = env })
  end)
end)

describe("--dry-run", function()
  it("leaves the database byte for byte unchanged (pg_dump before and after)", function()
    local url, name = H.new_db()
    local dir = project({
      ["migrations/001_people.sql"] = "-- migrate:up\nCREATE TABLE people (id serial PRIMARY KEY, name text);\n"
        .. "INSERT INTO people (name) VALUES ('a');\n-- migrate:down\nDROP TABLE people;\n",
      ["migrations/002_more.lua"] = "return { up = function(db)\n  db:exec('ALTER TABLE people ADD COLUMN age int')\n"
        .. "  db:exec('UPDATE people SET age = $1', 42)\nend }\n",
      ["migrations/003_idx.sql"] = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY people_name ON people (name);\n",
    })
    H.run_ok({ "up", "--to", "1", "--url", url }, "applied 001", { cwd = dir })
    local function dump()
      local d = H.sh(("%s/pg_dump %s"):format(BIN, H.q(name)), {})
      assert.are.equal(0, d.code, d.err)
      return d.out:gsub("\\restrict [^\n]*", ""):gsub("\\unrestrict [^\n]*", "")
    end
    local before = dump()
    local r = H.run_ok({ "up", "--dry-run", "--url", url }, "would apply 002 more", { cwd = dir })
    assert.matches("sql: UPDATE people SET age = %$1\n%s+%$1 = 42", r.out)
    assert.matches("then: insert version 2 in public%.moonshift_migrations", r.out)
    assert.matches("003_idx%.sql:2\n%s+CREATE INDEX CONCURRENTLY", r.out)
    r = H.run_ok({ "down", "--dry-run", "--url", url }, "would roll back 001 people", { cwd = dir })
    assert.are.equal(before, dump())
  end)
end)

describe("embedding", function()
  it("the Lua module: moonshift.open{...}:up(), :status(), :check(), :down(n) return plain tables", function()
    local url = H.new_db()
    local dir = project({
      ["001_a.sql"] = "-- migrate:up\nCREATE TABLE a (id int);\n-- migrate:down\nDROP TABLE a;\n",
      ["002_b.lua"] = "return { up = function(db) db:exec('CREATE TABLE b (id int)') end,\n"
        .. "down = function(db) db:exec('DROP TABLE b') end }\n",
    })
    local script = H.tmpdir() .. "/embed.lua"
    H.write(script, ([[
package.cpath = %q .. "/build/?.so;" .. package.cpath
local moonshift = require "moonshift"
local m = moonshift.open{ url = %q, dir = %q }
local c = m:check()
assert(not c.ok and c.exit_code == 5, "check before: " .. tostring(c.exit_code))
local r = m:up()
assert(r.ok and #r.migrations == 2 and r.version == 2, r.error)
local s = m:status()
assert(s.applied == 2 and s.migrations[2].state == "applied" and s.migrations[2].kind == "lua")
assert(m:check().ok)
local d = m:down(2)
assert(d.ok and d.version == 0 and d.migrations[1].direction == "down")
print("embedded ok")
m:close()
]]):format(H.root, url, dir))
    H.run_ok({ script }, "embedded ok", { program = "lua5.4" })
    assert.are.same({}, tracking(url))
    assert.is_nil(H.scalar(url, "SELECT to_regclass('a')"))
  end)

  it("the C API: a program linking libmoonshift.a checks, migrates and reads the JSON result", function()
    local url = H.new_db()
    local dir = project({ ["001_a.sql"] = "CREATE TABLE a (id int);\n" })
    local src = H.tmpdir()
    H.write(src .. "/app.c", [[
#include <stdio.h>
#include <string.h>
#include "moonshift.h"
int main(int argc, char **argv) {
  moonshift_options o = { argv[1], argv[2], NULL, 0, 0 };
  moonshift *m = moonshift_open(&o);
  if (!m) return 99;
  int before = moonshift_check(m);
  int up = moonshift_up(m);
  int after = moonshift_check(m);
  printf("before=%d up=%d after=%d json_ok=%d\n", before, up, after,
         strstr(moonshift_json(m), "\"ok\": true") != NULL);
  moonshift_close(m);
  return after;
}
]])
    local cc = H.sh(("cc -std=c11 -I%s/src/embed %s/app.c %s/build/libmoonshift.a $(pkg-config --libs lua5.4 libpq libcrypto jansson) -lm -o %s/app")
      :format(H.q(H.root), H.q(src), H.q(H.root), H.q(src)), {})
    assert.are.equal(0, cc.code, cc.err)
    H.run_ok({ url, dir }, "before=5 up=0 after=0 json_ok=1", { program = src .. "/app" })
    assert.are.same({ { "1" } }, tracking(url))
  end)
end)
