-- --json for every command, in success and in failure: stdout holds exactly
-- one JSON object with command, ok, exit_code (the process's) and error
-- (null, or an object with exit_code and message); a command that connected
-- names its database (host, port, dbname, user), never a password. The
-- schema is docs/json.md.
local H = require("spec_helper")
local cmd, exists, versions = H.cmd, H.exists, H.versions

local json, json_name
for _, name in ipairs({ "dkjson", "cjson" }) do
  local ok, lib = pcall(require, name)
  if ok then json, json_name = lib, name break end
end
local NULL = json and json.null

local PASSWORD = "pw-json-doc-31"
local REFUSED = "postgres://nobody:" .. PASSWORD .. "@127.0.0.1:1/x"

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

-- A fresh database and its URL with a password (the test server trusts
-- local connections, so it is taken and never checked).
local function new_db()
  local _, name = H.new_db()
  return ("postgres://%s:%s@127.0.0.1:%s/%s"):format(os.getenv("PGUSER"), PASSWORD, os.getenv("PGPORT"), name), name
end

local function describe_res(res)
  return ("`%s` exited %s\nstdout:\n%s\nstderr:\n%s"):format(res.cmd, tostring(res.code), res.out, res.err)
end

-- Runs args with --json and checks the document every command gives: one
-- JSON object for `command` whose ok and exit_code agree with the exit code,
-- error null on success and an object otherwise. expect.code is the exit
-- code wanted (0 when nil); expect.dbname, when given, the database the
-- document must name. Returns the result and the document.
local function json_run(command, args, expect, opts)
  local res = H.run(args, opts)
  local doc, why = decode_one(res.out)
  assert(doc ~= nil, "stdout is not one JSON document (" .. tostring(why) .. "): " .. describe_res(res))
  assert(type(doc) == "table" and (getmetatable(doc) or {}).__jsontype ~= "array",
    "the document is not an object: " .. describe_res(res))
  assert.are.equal(expect.code or 0, res.code, describe_res(res))
  assert.are.equal(command, doc.command, describe_res(res))
  assert.are.equal(res.code == 0, doc.ok, describe_res(res))
  assert.are.equal(res.code, doc.exit_code, describe_res(res))
  if res.code == 0 then
    assert.are.equal(NULL, doc.error, describe_res(res))
  else
    assert(type(doc.error) == "table", "error is not an object: " .. describe_res(res))
    assert.are.equal(res.code, doc.error.exit_code, describe_res(res))
    assert.are.equal("string", type(doc.error.message), describe_res(res))
  end
  if expect.dbname then
    local db = doc.database
    assert(type(db) == "table", "the document names no database: " .. describe_res(res))
    assert.are.equal("127.0.0.1", db.host)
    assert.are.equal(os.getenv("PGPORT"), tostring(math.tointeger(db.port) or db.port))
    assert.are.equal(expect.dbname, db.dbname)
    assert.are.equal(os.getenv("PGUSER"), db.user)
  end
  if type(doc.database) == "table" then assert.is_nil(doc.database.password, describe_res(res)) end
  assert.is_nil(res.out:find(PASSWORD, 1, true), "the password is on stdout: " .. describe_res(res))
  assert.is_nil(res.err:find(PASSWORD, 1, true), "the password is on stderr: " .. describe_res(res))
  return res, doc
end

local function table_migration(name)
  return ("-- migrate:up\ncreate table %s (id int);\n\n-- migrate:down\ndrop table %s;\n"):format(name, name)
end

local function two()
  return H.migrations({ ["001_users.sql"] = table_migration("users"), ["002_posts.sql"] = table_migration("posts") })
end

local function need_json()
  if not json then pending("no JSON decoder for Lua (lua-dkjson or lua-cjson) is installed") end
  return json ~= nil
end

describe("--json", function()

  it("up: one document when it applies, and when a migration fails", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    json_run("up", cmd("up", url, dir, "--json"), { dbname = name })
    assert.are.same({ "1", "2" }, versions(url))

    local url2, name2 = new_db()
    local bad = H.migrations({ ["001_bad.sql"] = "create table ok (id int);\n\nINSERT INTO missing_table VALUES (1);\n" })
    local _, doc = json_run("up", cmd("up", url2, bad, "--json"), { code = 1, dbname = name2 })
    assert.are.equal(bad .. "/001_bad.sql", doc.error.file)
    assert.are.equal(3, doc.error.line)
    assert.are.equal("number", type(doc.error.column))
    assert.are.equal("42P01", doc.error.sqlstate)
    assert.is_false(exists(url2, "ok"))
  end)

  it("down: one document when it rolls back, and when the down section fails", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = H.migrations({
      ["001_users.sql"] = table_migration("users"),
      ["002_posts.sql"] = "-- migrate:up\ncreate table posts (id int);\n\n-- migrate:down\ndrop table nope;\n",
    })
    H.run_ok(cmd("up", url, dir, "--to", "1"))
    json_run("down", cmd("down", url, dir, "--json"), { dbname = name })
    assert.are.same({}, versions(url))

    H.run_ok(cmd("up", url, dir))
    local _, doc = json_run("down", cmd("down", url, dir, "--json"), { code = 1, dbname = name })
    assert.are.equal(dir .. "/002_posts.sql", doc.error.file)
    assert.are.equal("42P01", doc.error.sqlstate)
    assert.are.same({ "1", "2" }, versions(url))
    assert.is_true(exists(url, "posts"))
  end)

  it("redo: one document when it redoes, and when nothing is applied", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    json_run("redo", cmd("redo", url, dir, "--json"), { code = 2, dbname = name })
    H.run_ok(cmd("up", url, dir))
    json_run("redo", cmd("redo", url, dir, "--json"), { dbname = name })
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("status: one document, and one when the server cannot be reached", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    H.run_ok(cmd("up", url, dir, "--to", "1"))
    local _, doc = json_run("status", cmd("status", url, dir, "--json"), { dbname = name })
    assert.are.equal(1, doc.applied)
    assert.are.equal(1, doc.pending)
    json_run("status", cmd("status", REFUSED, dir, "--json"), { code = 3 })
  end)

  it("check: one document at the newest version, and one when a migration is pending", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    H.run_ok(cmd("up", url, dir))
    json_run("check", cmd("check", url, dir, "--json"), { dbname = name })
    H.write(dir .. "/003_tags.sql", table_migration("tags"))
    json_run("check", cmd("check", url, dir, "--json"), { code = 5, dbname = name })
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("log: one document, and one when the server cannot be reached", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    H.run_ok(cmd("up", url, dir))
    local _, doc = json_run("log", cmd("log", url, dir, "--json"), { dbname = name })
    assert.are.equal(2, #doc.events)
    json_run("log", cmd("log", REFUSED, dir, "--json"), { code = 3 })
  end)

  it("version: one document, and one when the server cannot be reached", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    H.run_ok(cmd("up", url, dir))
    json_run("version", cmd("version", url, dir, "--json"), { dbname = name })
    json_run("version", cmd("version", REFUSED, dir, "--json"), { code = 3 })
  end)

  it("new: one document when it creates the file, and when no name is given", function()
    if not need_json() then return end
    local dir = H.tmpdir()
    json_run("new", { "new", "add_users", "--dir", dir, "--json" }, {})
    assert.matches("^%d+_add_users%.sql\n$", H.sh("ls " .. H.q(dir)).out)
    json_run("new", { "new", "--dir", dir, "--json" }, { code = 2 })
    assert.matches("^%d+_add_users%.sql\n$", H.sh("ls " .. H.q(dir)).out)
  end)

  it("accept: one document when it records the new checksum, and for a version not applied", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    H.run_ok(cmd("up", url, dir))
    local before = H.scalar(url, "select checksum from moonshift_migrations where version = 1")
    H.write(dir .. "/001_users.sql", table_migration("users") .. "-- reviewed\n")
    json_run("accept", cmd("accept", url, dir, "1", "--json"), { dbname = name })
    assert.are_not.equal(before, H.scalar(url, "select checksum from moonshift_migrations where version = 1"))
    json_run("accept", cmd("accept", url, dir, "9", "--json"), { code = 2, dbname = name })
  end)

  it("repair: one document when it forgets a failed attempt, and when there is none", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = H.migrations({
      ["001_a.sql"] = "create table a (id int);\n",
      ["002_b.sql"] = "-- migrate:up transaction:false\ncreate table b (id int);\ninsert into nope values (1);\n",
    })
    H.run_fails(cmd("up", url, dir), "nope", 1)
    json_run("repair", cmd("repair", url, dir, "1", "--json"), { code = 2, dbname = name })
    json_run("repair", cmd("repair", url, dir, "2", "--json"), { dbname = name })
    assert.are.same({ "1" }, versions(url))
  end)

  it("force: one document when it records a version, and when it is already applied", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    json_run("force", cmd("force", url, dir, "1", "--json"), { dbname = name })
    assert.are.same({ "1" }, versions(url))
    assert.is_false(exists(url, "users"))
    json_run("force", cmd("force", url, dir, "1", "--json"), { code = 2, dbname = name })
    assert.are.same({ "1" }, versions(url))
  end)

  it("baseline: one document when it records versions, and for a version that is not a number", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    json_run("baseline", cmd("baseline", url, dir, "2", "--json"), { dbname = name })
    assert.are.same({ "1", "2" }, versions(url))
    json_run("baseline", cmd("baseline", url, dir, "x", "--json"), { code = 2 })
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("unlock --lock=table: one document when no lease is held, and when the server cannot be reached", function()
    if not need_json() then return end
    local url, name = new_db()
    local dir = two()
    json_run("unlock", cmd("unlock", url, dir, "--lock=table", "--json"), { dbname = name })
    json_run("unlock", cmd("unlock", REFUSED, dir, "--lock=table", "--json"), { code = 3 })
  end)

  it("a command of moonshift.lua: one document when it runs, and when it raises", function()
    if not need_json() then return end
    local url, name = new_db()
    local project = H.tmpdir()
    H.write(project .. "/migrations/001_a.sql", "create table a (id int);\n")
    H.write(project .. "/moonshift.lua", ([[
return {
  url = %q,
  commands = {
    hello = function(ctx, db, args) print("hi") end,
    boom = function(ctx, db, args) error("boom went the command") end,
  },
}
]]):format(url))
    local opts = { cwd = project, env = { DATABASE_URL = false, MOONSHIFT_DIR = false } }
    local res, doc = json_run("hello", { "hello", "--json" }, { dbname = name }, opts)
    local said = res.err:find("hi", 1, true) ~= nil
    for _, entry in ipairs(type(doc.log) == "table" and doc.log or {}) do
      if entry.text == "hi" then said = true end
    end
    assert.is_true(said, "what the command printed is lost: " .. describe_res(res))

    _, doc = json_run("boom", { "boom", "--json" }, { code = 1 }, opts)
    assert.matches("boom went the command", doc.error.message)
  end)
end)
