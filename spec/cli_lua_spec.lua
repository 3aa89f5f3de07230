-- Lua migrations through the CLI: up/down, the db object (parameters,
-- result conversions, catalog helpers, SQL errors as tables), the fresh
-- environment of each file, and files that are not valid migrations.
-- Migrations report what they see by writing rows into a `seen` table, so
-- the specs read the Lua side's values back from the database.
package.cpath = "./build/?.so;" .. package.cpath
local H = require("spec_helper")
local cmd, exists, versions = H.cmd, H.exists, H.versions
local ms = require("moonshift")




-- The `seen` table as { key = value }.
local function seen(url)
  local out = {}
  for _, r in ipairs(H.sql(url, "select k, v from seen")) do out[r[1]] = r[2] end
  return out
end

-- SQL creating `seen`, and a Lua `see(db, key, value)` recording a value as
-- "type:value" ("integer:1", "float:1.5", "string:x"), nil as "nil".
local SEEN = "create table seen (k text primary key, v text);\n"
local SEE = [[
local function see(db, k, v)
  db:exec("insert into seen (k, v) values ($1, $2)", k, v == nil and "nil" or (math.type(v) or type(v)) .. ":" .. tostring(v))
end
]]

describe("Lua migrations", function()
  it("apply and roll back, recorded as kind lua with the file's checksum", function()
    local url = H.new_db()
    local text = [[
return {
  up = function(db)
    db:exec("create table accounts (id bigserial primary key, name text not null)")
  end,
  down = function(db)
    db:exec("drop table accounts")
  end,
}
]]
    local dir = H.migrations({ ["001_accounts.lua"] = text })
    local res = H.run_ok(cmd("up", url, dir), "^applied 001 accounts %(%d+ ms%)\n1 migration applied; the database is at version 001\n$")
    assert.are.equal("", res.err)
    assert.is_true(exists(url, "accounts"))
    assert.are.same({ { "1", "accounts", "lua", "sha256-v1:" .. ms.sha256(text) } },
      H.sql(url, "select version::text, name, kind, checksum from moonshift_migrations"))
    H.run_ok(cmd("down", url, dir), "^reverted 001 accounts %(%d+ ms%)\n1 migration rolled back; the database is at version 0\n$")
    assert.is_false(exists(url, "accounts"))
    assert.are.same({}, versions(url))
  end)

  it("mix with SQL migrations in version order", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_t.sql"] = "create table t (id int);\n",
      ["2_fill.lua"] = 'return { up = function(db) db:exec("insert into t select generate_series(1, 3)") end }',
      ["3_more.sql"] = "insert into t values (4);\n",
    })
    H.run_ok(cmd("up", url, dir), "^applied 1 t .*\napplied 2 fill .*\napplied 3 more ")
    assert.are.equal("4", H.scalar(url, "select count(*) from t"))
    assert.are.same({ { "1", "sql" }, { "2", "lua" }, { "3", "sql" } },
      H.sql(url, "select version::text, kind from moonshift_migrations order by version"))
  end)

  it("add a column only when it is missing", function()
    local migration = SEE .. [[
return { up = function(db)
  if db:column_exists("users", "email") then
    see(db, "email", "already there")
  else
    db:exec("alter table users add column email text")
    see(db, "email", "added")
  end
end }
]]
    local without = H.new_db()
    H.run_ok(cmd("up", without, H.migrations({
      ["1_users.sql"] = SEEN .. "create table users (id int);\n", ["2_email.lua"] = migration })))
    assert.are.same({ email = "string:added" }, seen(without))

    local with = H.new_db()
    H.run_ok(cmd("up", with, H.migrations({
      ["1_users.sql"] = SEEN .. "create table users (id int, email text);\n", ["2_email.lua"] = migration })))
    assert.are.same({ email = "string:already there" }, seen(with))

    for _, url in ipairs({ without, with }) do
      assert.are.equal("1", H.scalar(url, "select count(*) from pg_attribute where attrelid = 'users'::regclass and attname = 'email'"))
      assert.are.same({ "1", "2" }, versions(url))
    end
  end)

  it("send $1..$n parameters apart from the SQL text, never interpolated", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN .. "create table victim (id int);\n",
      ["2_params.lua"] = SEE .. [=[
return { up = function(db)
  db:exec("create table notes (id int primary key, body text, flag boolean, n bigint, f float8)")
  local evil = [[it's "quoted" \ '; DROP TABLE victim; --]]
  see(db, "inserted", db:exec("insert into notes values ($1, $2, $3, $4, $5), (2, $6, null, null, null)",
    1, evil, true, 9007199254740993, 0.25, "plain"))
  see(db, "same", db:scalar("select body = $1 from notes where id = $2", evil, 1))
  see(db, "null param", db:scalar("select $1::text is null", nil))
  see(db, "updated", db:exec("update notes set body = body || $1 where id > $2", "!", 0))
  see(db, "none", db:exec("delete from notes where id = $1", 42))
  see(db, "ddl", db:exec("create table ddl_count (id int)"))
end }
]=],
    })
    H.run_ok(cmd("up", url, dir))
    assert.is_true(exists(url, "victim"))
    assert.are.same({ { "1", [[it's "quoted" \ '; DROP TABLE victim; --!]], "true", "9007199254740993", "0.25" },
                      { "2", "plain!" } },
      H.sql(url, "select id::text, body, flag::text, n::text, f::text from notes order by id"))
    assert.are.same({ inserted = "integer:2", same = "boolean:true", ["null param"] = "boolean:true",
                      updated = "integer:2", none = "integer:0", ddl = "integer:0" }, seen(url))
  end)

  it("convert results: integers, booleans, floats, NULL as nil, other types as text", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["2_types.lua"] = SEE .. [[
return { up = function(db)
  local r = db:query_one([=[
    select 9223372036854775807::int8 as int8_max, (-9223372036854775807 - 1)::int8 as int8_min,
           32767::int2 as int2, -7::int4 as int4, true as yes, false as no, null::int as nothing,
           1.5::float8 as float8, 0.25::float4 as float4, 1.50::numeric as numeric,
           12345678901234567890.5::numeric as big_numeric, 'text'::text as text,
           '2024-01-02'::date as date]=])
  for _, k in ipairs({ "int8_max", "int8_min", "int2", "int4", "yes", "no", "nothing", "float8", "float4",
                       "numeric", "big_numeric", "text", "date" }) do
    see(db, k, r[k])
  end
  local rows = db:query("select g as n from generate_series(1, 3) g order by g")
  see(db, "rows", #rows)
  see(db, "row 3", rows[3].n)
  see(db, "no rows", #db:query("select 1 as x where false"))
  see(db, "query_one none", db:query_one("select 1 as x where false"))
  see(db, "scalar", db:scalar("select 'one' as only"))
  see(db, "scalar none", db:scalar("select 1 where false"))
end }
]],
    })
    H.run_ok(cmd("up", url, dir))
    local got = seen(url)
    assert.are.same({
      int8_max = "integer:9223372036854775807", int8_min = "integer:-9223372036854775808",
      int2 = "integer:32767", int4 = "integer:-7", yes = "boolean:true", no = "boolean:false",
      nothing = "nil", float8 = "float:1.5", float4 = "float:0.25", numeric = "string:1.50",
      big_numeric = "string:12345678901234567890.5", text = "string:text", date = "string:2024-01-02",
      rows = "integer:3", ["row 3"] = "integer:3", ["no rows"] = "integer:0",
      ["query_one none"] = "nil", scalar = "string:one", ["scalar none"] = "nil",
    }, got)
  end)

  it("inspect the catalog: tables, columns, indexes, constraints, schema-qualified and quoted names", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_setup.sql"] = SEEN .. [[
create schema app;
create table app."MixedCase" (id int constraint "Positive" check (id > 0), "Label" text);
create index "MixedIdx" on app."MixedCase" (id);
create table plain (id int constraint plain_pk primary key);
create view plain_view as select * from plain;
]],
      ["2_look.lua"] = SEE .. [[
return { up = function(db)
  local checks = {
    { "table plain", db:table_exists("plain") },
    { "table public.plain", db:table_exists("public.plain") },
    { "table app.plain", db:table_exists("app.plain") },
    { "table MixedCase quoted", db:table_exists('app."MixedCase"') },
    { "table MixedCase unquoted", db:table_exists("app.MixedCase") },
    { "table MixedCase unqualified", db:table_exists('"MixedCase"') },
    { "table view", db:table_exists("plain_view") },
    { "table missing", db:table_exists("nope") },
    { "column id", db:column_exists('app."MixedCase"', "id") },
    { "column Label", db:column_exists('app."MixedCase"', "Label") },
    { "column label", db:column_exists('app."MixedCase"', "label") },
    { "column ctid", db:column_exists("plain", "ctid") },
    { "column of missing table", db:column_exists("nope", "id") },
    { "index MixedIdx", db:index_exists('app."MixedIdx"') },
    { "index plain_pk", db:index_exists("plain_pk") },
    { "index is not a table", db:table_exists("plain_pk") },
    { "table is not an index", db:index_exists("plain") },
    { "constraint Positive", db:constraint_exists('app."MixedCase"', "Positive") },
    { "constraint positive", db:constraint_exists('app."MixedCase"', "positive") },
    { "constraint plain_pk", db:constraint_exists("public.plain", "plain_pk") },
    { "constraint on other table", db:constraint_exists("plain", "Positive") },
  }
  for _, c in ipairs(checks) do see(db, c[1], c[2]) end
end }
]],
    })
    H.run_ok(cmd("up", url, dir))
    local t, f = "boolean:true", "boolean:false"
    assert.are.same({
      ["table plain"] = t, ["table public.plain"] = t, ["table app.plain"] = f,
      ["table MixedCase quoted"] = t, ["table MixedCase unquoted"] = f, ["table MixedCase unqualified"] = f,
      ["table view"] = f, ["table missing"] = f,
      ["column id"] = t, ["column Label"] = t, ["column label"] = f, ["column ctid"] = f,
      ["column of missing table"] = f,
      ["index MixedIdx"] = t, ["index plain_pk"] = t, ["index is not a table"] = f, ["table is not an index"] = f,
      ["constraint Positive"] = t, ["constraint positive"] = f, ["constraint plain_pk"] = t,
      ["constraint on other table"] = f,
    }, seen(url))
  end)

  it("see their own version, name and path in `migration`", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["0002_who_am_i.lua"] = SEE .. [[
return { up = function(db)
  see(db, "version", migration.version)
  see(db, "name", migration.name)
  see(db, "path ends", migration.path:match("[^/]*$"))
end }
]],
    })
    H.run_ok(cmd("up", url, dir))
    assert.are.same({ version = "integer:2", name = "string:who_am_i", ["path ends"] = "string:0002_who_am_i.lua" },
      seen(url))
  end)

  it("run outside a transaction with transaction = false (CREATE INDEX CONCURRENTLY)", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_t.sql"] = "create table t (id int);\n",
      ["2_idx.lua"] = [[
return {
  transaction = false,
  up = function(db) db:exec("create index concurrently t_id on t (id)") end,
  down = function(db) db:exec("drop index concurrently t_id") end,
}
]],
    })
    H.run_ok(cmd("up", url, dir), "applied 2 idx")
    assert.are.equal("true", H.scalar(url, "select indisvalid::text from pg_index where indexrelid = 't_id'::regclass"))
    assert.are.same({ "1", "2" }, versions(url))
    H.run_ok(cmd("down", url, dir), "reverted 2 idx")
    assert.is_false(exists(url, "t_id"))
  end)

  it("exit 2 on down when the migration has no down function, changing nothing", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_a.lua"] = 'return { up = function(db) db:exec("create table a (id int)") end }' })
    H.run_ok(cmd("up", url, dir))
    local res = H.run_fails(cmd("down", url, dir), "/1_a%.lua: has no down function, so it cannot be rolled back", 2)
    assert.are.equal("", res.out)
    assert.is_true(exists(url, "a"))
    assert.are.same({ "1" }, versions(url))
  end)
end)

describe("SQL errors in Lua migrations", function()
  it("fail the migration with file:line, SQLSTATE, condition, DETAIL and a traceback; nothing of it stays", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_ok.sql"] = "create table ok (id int);\n",
      ["2_bad.lua"] = [[
return { up = function(db)
  db:exec("create table bad (n int check (n > 0))")
  db:exec("insert into bad values ($1)", -1)
end }
]],
      ["3_after.sql"] = "create table after (id int);\n",
    })
    local res = H.run(cmd("up", url, dir))
    assert.are.equal(1, res.code)
    assert.matches("^applied 1 ok %(%d+ ms%)\n$", res.out)
    assert.matches("^moonshift: [^\n]*/2_bad%.lua:3: ERROR 23514 check_violation: new row for relation \"bad\" violates check constraint \"bad_n_check\"\n", res.err)
    assert.matches("\nDETAIL: Failing row contains %(%-1%)%.\n", res.err)
    assert.matches("\nstack traceback:\n", res.err)
    assert.matches("/2_bad%.lua:3: in ", res.err)
    assert.matches("\nmigration 2 bad failed[^\n]*\n$", res.err)
    assert.is_true(exists(url, "ok"))
    assert.is_false(exists(url, "bad"))
    assert.is_false(exists(url, "after"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("are tables that pcall catches; the aborted transaction then fails the migration, pointing at db:savepoint", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["2_caught.lua"] = [[
return { up = function(db)
  db:exec("create table caught (n int check (n > 0))")
  local ok, e = pcall(db.exec, db, "insert into caught values (0)")
  print("ok=" .. tostring(ok))
  print("sqlstate=" .. e.sqlstate)
  print("condition=" .. tostring(e.condition))
  print("message=" .. e.message)
  print("detail=" .. e.detail)
  print("hint=" .. tostring(e.hint))
  print("where=" .. e.where)
  print("tostring=" .. tostring(e))
  local ok2, e2 = pcall(db.exec, db, "select nosuch_function()")
  print("hint2=" .. tostring(e2.hint))
end }
]],
    })
    local res = H.run(cmd("up", url, dir))
    assert.are.equal(1, res.code)
    assert.matches("%] sqlstate=23514\n", res.err)
    assert.matches("%] condition=check_violation\n", res.err)
    assert.matches("%] message=new row for relation \"caught\" violates check constraint \"caught_n_check\"\n", res.err)
    assert.matches("%] detail=Failing row contains %(0%)%.\n", res.err)
    assert.matches("%] hint=nil\n", res.err)
    assert.matches("%] where=[^\n]*/2_caught%.lua:3:\n", res.err)
    assert.matches("%] tostring=[^\n]*/2_caught%.lua:3: ERROR 23514 check_violation: new row for relation \"caught\"", res.err)
    assert.matches("/2_caught%.lua: an SQL error was caught inside the migration, but it left the transaction aborted", res.err)
    assert.matches("db:savepoint", res.err)
    assert.is_nil(res.out:find("applied 2", 1, true))
    assert.is_false(exists(url, "caught"))
    assert.are.same({}, versions(url))
  end)

  it("carry the server's HINT", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_hint.lua"] = [[
return { up = function(db)
  local ok, e = pcall(db.exec, db, "select nosuch_function(1)")
  print("hint=" .. tostring(e.hint))
  error("stop here")
end }
]],
    })
    local res = H.run(cmd("up", url, dir))
    assert.are.equal(1, res.code)
    assert.matches("%] hint=No function matches the given name and argument types%.", res.err)
    assert.matches("/1_hint%.lua:4: stop here", res.err)
    assert.are.same({}, versions(url))
  end)

  it("can be recovered from with db:savepoint", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["2_recover.lua"] = SEE .. [[
return { up = function(db)
  db:exec("create table recovered (n int check (n > 0))")
  local ok, e = pcall(db.savepoint, db, function(db)
    db:exec("insert into recovered values (1)")
    db:exec("insert into recovered values (-1)")
  end)
  see(db, "ok", ok)
  see(db, "sqlstate", type(e) == "table" and e.sqlstate or tostring(e))
  db:exec("insert into recovered values (2)")
end }
]],
    })
    H.run_ok(cmd("up", url, dir), "applied 2 recover")
    assert.are.same({ { "2" } }, H.sql(url, "select n::text from recovered"))
    assert.are.same({ ok = "boolean:false", sqlstate = "string:23514" }, seen(url))
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("caught outside a transaction (transaction = false) let the migration go on", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["2_notx.lua"] = SEE .. [[
return { transaction = false, up = function(db)
  db:exec("create table notx (n int check (n > 0))")
  local ok, e = pcall(db.exec, db, "insert into notx values (-1)")
  see(db, "ok", ok)
  see(db, "sqlstate", e.sqlstate)
  db:exec("insert into notx values (3)")
end }
]],
    })
    H.run_ok(cmd("up", url, dir), "applied 2 notx")
    assert.are.same({ { "3" } }, H.sql(url, "select n::text from notx"))
    assert.are.same({ ok = "boolean:false", sqlstate = "string:23514" }, seen(url))
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("a Lua error fails the migration with file:line and a traceback", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_boom.lua"] = [[
local function helper(db)
  db:exec("create table boom (id int)")
  error("boom went the migration")
end

return { up = function(db)
  helper(db)
end }
]],
    })
    local res = H.run(cmd("up", url, dir))
    assert.are.equal(1, res.code)
    assert.matches("^moonshift: [^\n]*/1_boom%.lua:3: boom went the migration\nstack traceback:\n", res.err)
    assert.matches("/1_boom%.lua:7: in ", res.err)
    assert.is_false(exists(url, "boom"))
    assert.are.same({}, versions(url))
  end)
end)

describe("the environment of a Lua migration", function()
  it("is fresh for each file: globals set by one are not seen by the next", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["2_sets.lua"] = SEE .. [[
leaked = "from 2"
_G.leaked_g = "from 2"
function leaked_fn() end
return { up = function(db)
  leaked_in_up = "from 2"
  see(db, "2 sees its own", leaked)
end }
]],
      ["3_reads.lua"] = SEE .. [[
return { up = function(db)
  see(db, "leaked", leaked)
  see(db, "leaked_g", leaked_g)
  see(db, "leaked_fn", leaked_fn)
  see(db, "leaked_in_up", leaked_in_up)
  see(db, "string.format still there", type(string.format))
end }
]],
    })
    H.run_ok(cmd("up", url, dir))
    assert.are.same({ ["2 sees its own"] = "string:from 2", leaked = "nil", leaked_g = "nil", leaked_fn = "nil",
                      leaked_in_up = "nil", ["string.format still there"] = "string:function" }, seen(url))
  end)

  it("is fresh for each file: changes to the standard library tables are not seen by the next", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["2_patches.lua"] = [[
string.trim = function(s) return (s:gsub("^%s+", "")) end
math.pi = 3
table.leaked = true
return { up = function(db) end }
]],
      ["3_reads.lua"] = SEE .. [[
return { up = function(db)
  see(db, "string.trim", string.trim)
  see(db, "method", ("x").trim)
  see(db, "math.pi", math.pi)
  see(db, "table.leaked", table.leaked)
end }
]],
    })
    H.run_ok(cmd("up", url, dir))
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.are.same({ ["string.trim"] = "nil", method = "nil", ["math.pi"] = "float:" .. tostring(math.pi),
                      ["table.leaked"] = "nil" }, seen(url))
  end)

  it("refuses os.exit: the migration fails and the runner goes on to report it", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_ok.sql"] = "create table ok (id int);\n",
      ["2_exit.lua"] = [[
return { up = function(db)
  db:exec("create table exiting (id int)")
  os.exit(0)
end }
]],
    })
    local res = H.run(cmd("up", url, dir))
    assert.are.equal(1, res.code)
    assert.matches("^applied 1 ok ", res.out)
    assert.matches("/2_exit%.lua:3: os%.exit is not allowed in a migration", res.err)
    assert.matches("\nmigration 2 exit failed", res.err)
    assert.is_false(exists(url, "exiting"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("refuses os.exit inside pcall too, and the migration goes on", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_seen.sql"] = SEEN,
      ["2_exit.lua"] = SEE .. [[
return { up = function(db)
  local ok = pcall(os.exit, 3)
  see(db, "exit refused", not ok)
  see(db, "os.time still there", type(os.time))
end }
]],
    })
    H.run_ok(cmd("up", url, dir), "applied 2 exit")
    assert.are.same({ ["exit refused"] = "boolean:true", ["os.time still there"] = "string:function" }, seen(url))
  end)
end)

describe("Lua files that are not valid migrations", function()
  local cases = {
    { "returns a string", 'return "up"\n', "/2_bad%.lua: the file returned [%w ]*string instead of a table" },
    { "returns nothing", "local x = 1\n", "/2_bad%.lua: the file returned nothing instead of a table" },
    { "has an up that is not a function", "return { up = 5 }\n", "/2_bad%.lua: 'up' is not a function" },
    { "has no up", "return { down = function() end }\n", "/2_bad%.lua: 'up' is not a function" },
    { "has a down that is not a function", "return { up = function() end, down = 'x' }\n", "/2_bad%.lua: 'down' is not a function" },
    { "has a transaction that is not a boolean", "return { up = function() end, transaction = 'no' }\n",
      "/2_bad%.lua: 'transaction' is not a boolean" },
    { "has a syntax error", "return {\n  up = function(db)\n  end end\n}\n", "/2_bad%.lua:3: " },
    { "raises while loading", "local t = nil\nreturn { up = t.x }\n", "/2_bad%.lua:2: attempt to index" },
  }
  for _, c in ipairs(cases) do
    it("exit 2 when the file " .. c[1] .. ", naming it, and nothing runs", function()
      local url = H.new_db()
      local dir = H.migrations({ ["1_ok.sql"] = "create table ok (id int);\n", ["2_bad.lua"] = c[2] })
      local res = H.run_fails(cmd("up", url, dir), c[3], 2)
      assert.matches("^moonshift: ", res.err)
      assert.are.equal("", res.out)
      assert.is_false(exists(url, "ok"))
      assert.is_nil(versions(url))
    end)
  end
end)
