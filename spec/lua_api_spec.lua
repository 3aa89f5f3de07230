-- The db API of Lua migrations through the binary, against a real server:
-- parameters and conversions, converters, cursors in constant memory,
-- quoting, savepoints, per-batch transactions, catalog helpers, log and
-- progress, server notices, and require from lib/.
local H = require("spec_helper")
local count = H.count

local function up(url, dir, extra)
  return H.run({ "up", "--url", url, "--dir", dir, table.unpack(extra or {}) })
end


-- Prepended to migrations: out(key, value) logs "key = <value shown>", one line
-- per value, numbers with their subtype and tables with sorted keys.
local SHOW = [[
local function show(v)
  local t = type(v)
  if t == "string" then return (("%q"):format(v):gsub("\\\n", "\\n")) end
  if t == "number" then
    if v ~= v then return "nan" end
    if math.type(v) == "integer" then return "int:" .. v end
    return "float:" .. ("%.17g"):format(v)
  end
  if t ~= "table" then return tostring(v) end
  local n = math.type(v.n) == "integer" and v.n or #v
  local parts = {}
  for i = 1, n do parts[#parts + 1] = show(v[i]) end
  local keys = {}
  for k in pairs(v) do
    if not (k == "n" and n == v.n) and not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = tostring(k) end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
local function out(k, v) log.info("%s = %s", k, show(v)) end
]]
local SHOW_LINES = select(2, SHOW:gsub("\n", "\n"))

-- The "key = value" lines a migration wrote with out().
local function outputs(err)
  local t = {}
  for k, v in err:gmatch("%[[%w_]+%] ([^\n]-) = ([^\n]*)") do t[k] = v end
  return t
end

-- Runs one Lua migration (SHOW prepended) on a fresh database, or on url.
local function run_lua(body, url, name)
  url = url or H.new_db()
  local dir = H.migrations({ [name or "001_t.lua"] = SHOW .. body })
  return up(url, dir), url, dir
end

local function expect(got, want)
  for k, v in pairs(want) do
    assert.are.equal(v, got[k], "for " .. k)
  end
end

describe("db:exec, db:query, db:query_one, db:scalar", function()
  it("return affected rows, rows with their field order, one row, one value", function()
    local r, url = run_lua([[
return { up = function(db)
  out("create", db:exec("CREATE TABLE t (id int PRIMARY KEY, name text); CREATE TABLE u (x int)"))
  out("insert", db:exec("INSERT INTO t VALUES ($1, $2), ($3, $4), (3, 'c')", 1, "a", 2, "b"))
  out("update", db:exec("UPDATE t SET name = upper(name) WHERE id >= $1", 2))
  local rows, fields = db:query("SELECT id, name FROM t ORDER BY id")
  out("rows", rows)
  out("fields", fields)
  out("one", db:query_one("SELECT name FROM t WHERE id = $1", 2))
  out("none", db:query_one("SELECT name FROM t WHERE id = $1", 99))
  out("scalar first column", db:scalar("SELECT 'z' AS z, 'a' AS a"))
  out("scalar none", db:scalar("SELECT 1 WHERE false"))
  out("table form", db:query{ sql = "SELECT $1::int + $2 AS s", args = { 40, 2 } })
  out("table form nil arg", db:scalar{ sql = "SELECT $1::int = 1 AND $2::int IS NULL", args = { n = 2, 1, nil } })
  out("exec table form", db:exec{ sql = "DELETE FROM t WHERE id = $1", args = { 3 } })
end }
]])
    assert.are.equal(0, r.code, r.err)
    expect(outputs(r.err), {
      create = "int:0",
      insert = "int:3",
      update = "int:2",
      rows = '{{id=int:1,name="a"},{id=int:2,name="B"},{id=int:3,name="C"}}',
      fields = '{"id","name"}',
      one = '{name="B"}',
      none = "nil",
      ["scalar first column"] = '"z"',
      ["scalar none"] = "nil",
      ["table form"] = "{{s=int:42}}",
      ["table form nil arg"] = "true",
      ["exec table form"] = "int:1",
    })
    assert.are.same({ { "1", "a" }, { "2", "B" } }, H.sql(url, "SELECT id, name FROM t ORDER BY id"))
  end)

  it("send $1..$n apart from the SQL text, so a value is never read as SQL", function()
    local url, name = H.new_db()
    H.sql(H.url(), ("ALTER DATABASE %q SET log_statement = 'all'"):format(name))
    local evil = "x'); DROP TABLE p; --"
    local mark = H.log_mark()
    local r = run_lua(([[
return { up = function(db)
  db:exec("CREATE TABLE p (v text)")
  db:exec("INSERT INTO p VALUES ($1)", %q)
end }
]]):format(evil), url)
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(evil, H.scalar(url, "SELECT v FROM p"))
    local log = H.log_since(mark)
    assert.truthy(log:find("INSERT INTO p VALUES ($1)", 1, true), log)
    assert.truthy(log:find("$1 = 'x''); DROP TABLE p; --'", 1, true), log)
  end)
end)

describe("conversions", function()
  it("round-trip nil, booleans, int2/int4/int8/oid exactly, floats and text", function()
    local r = run_lua([==[
return { up = function(db)
  out("ints", db:query_one([=[SELECT $1::int8 AS max, $2::int8 AS min,
    9223372036854775807::int8 AS lit_max, (-9223372036854775807 - 1)::int8 AS lit_min,
    (-32768)::int2 AS i2, 2147483647::int4 AS i4, 4294967295::oid AS o]=], math.maxinteger, math.mininteger))
  out("int8 max back", db:scalar("SELECT $1::int8 = 9223372036854775807", math.maxinteger))
  out("int8 min back", db:scalar("SELECT $1::int8 = -9223372036854775808", math.mininteger))
  out("nulls", db:query_one("SELECT $1::text AS a, $2::int AS b, NULL::bool AS c, 1 AS d", nil, nil))
  out("null sent", db:scalar("SELECT $1::text IS NULL", nil))
  out("bools", db:query_one("SELECT $1::bool AS t, $2::bool AS f, $1::bool::text AS tt", true, false))
  local f = db:query_one([=[SELECT $1::float8 AS a, $2::float8 AS b, $3::float8 AS c, $4::float8 AS inf,
    $5::float8 AS ninf, $6::float8 AS nan, 1.5::float4 AS f4, 0.1::float8 AS lit]=],
    0.1, 1e300, -2.5, math.huge, -math.huge, 0 / 0)
  out("floats exact", f.a == 0.1 and f.b == 1e300 and f.c == -2.5 and f.lit == 0.1)
  out("floats", f)
  out("inf sent", db:scalar("SELECT $1::float8 = 'Infinity' AND $2::float8 = '-Infinity' AND $3::float8 = 'NaN'",
    math.huge, -math.huge, 0 / 0))
  out("float into int column", db:scalar("SELECT $1::int", 3.0))
  out("text", db:query_one("SELECT $1::text AS u, $2::text AS e, length($1) AS len", "é😀\n'\"\\", ""))
  out("strings", db:query_one([=[SELECT 12345678901234567890.123::numeric AS n, '{"a": 1}'::jsonb AS j,
    ARRAY[1, 2] AS a, '2024-03-01 16:52:48'::timestamp AS ts, '\x00ff'::bytea AS b, 'ok'::varchar(5) AS v]=]))
  local ok, err = pcall(db.exec, db, "SELECT $1", {})
  out("table param", err)
end }
]==])
    assert.are.equal(0, r.code, r.err)
    expect(outputs(r.err), {
      ints = "{i2=int:-32768,i4=int:2147483647,lit_max=int:9223372036854775807,lit_min=int:-9223372036854775808,"
        .. "max=int:9223372036854775807,min=int:-9223372036854775808,o=int:4294967295}",
      ["int8 max back"] = "true",
      ["int8 min back"] = "true",
      nulls = "{d=int:1}",
      ["null sent"] = "true",
      bools = '{f=false,t=true,tt="true"}',
      ["floats exact"] = "true",
      ["inf sent"] = "true",
      ["float into int column"] = "int:3",
      text = '{e="",len=int:6,u="é😀\\n\'\\"\\\\"}',
      strings = '{a="{1,2}",b="\\\\x00ff",j="{\\"a\\": 1}",n="12345678901234567890.123",ts="2024-03-01 16:52:48",v="ok"}',
    })
    local floats = outputs(r.err).floats
    assert.matches("inf=float:inf", floats, 1, true)
    assert.matches("ninf=float:%-inf", floats)
    assert.matches("nan=nan", floats, 1, true)
    assert.matches("f4=float:1.5", floats, 1, true)
    assert.matches('table param = "[^"]*001_t%.lua:%d+: parameter %$1: cannot send a table', r.err)
  end)

  it("apply converters asked for by column: json, array, number, integer or a function", function()
    local r = run_lua([[
return { up = function(db)
  local rows = db:query{
    sql = [=[SELECT '{"a": [1, null, 2.5, "x\u00e9\"", 9007199254740993], "b": {"c": true, "d": {}}, "e": []}'::jsonb AS j,
                  ARRAY['a', NULL, 'b,c', 'd"e', ''] AS a, '{{1,2},{3,4}}'::int[] AS m,
                  12345.5::numeric AS num, 'NaN'::numeric AS nn, 42::numeric AS i, NULL::jsonb AS nj,
                  now()::date AS d, $1::text AS same]=],
    args = { "kept" },
    convert = { j = "json", a = "array", m = "array", num = "number", nn = "number", i = "integer", nj = "json",
                d = function(v, col) return col .. ":" .. type(v) end },
  }
  out("converted", rows[1])
  local ok, err = pcall(db.query, db, { sql = "SELECT 1.5::numeric AS x", convert = { x = "integer" } })
  out("bad integer", err)
  ok, err = pcall(db.query, db, { sql = "SELECT 1 AS x", convert = { x = "yaml" } })
  out("unknown converter", err)
  out("scalar converted", db:scalar{ sql = "SELECT '[1,2]'::json AS x", convert = { x = "json" } })
end }
]])
    assert.are.equal(0, r.code, r.err)
    expect(outputs(r.err), {
      converted = '{a={"a",nil,"b,c","d\\"e",""},d="d:string",i=int:42,'
        .. 'j={a={int:1,nil,float:2.5,"xé\\"",int:9007199254740993},b={c=true,d={}},e={}},'
        .. 'm={{"1","2"},{"3","4"}},nn=nan,num=float:12345.5,same="kept"}',
      ["scalar converted"] = "{int:1,int:2}",
    })
    assert.matches('bad integer = "converting column x: not an integer within 64 bits: \\"1.5\\""', r.err, 1, true)
    assert.matches('unknown converter = "[^\n]*convert.x: unknown converter \\"yaml\\"', r.err)
  end)
end)

describe("db:quote_ident and db:quote_literal", function()
  it("quote nasty strings so the server reads them back unchanged", function()
    local r, url = run_lua([[
local nasty = { "plain", "MixedCase", 'a"b', "x'); DROP TABLE victim; --", "back\\slash\\", "é 😀 tab\tnl\n",
                "select", " lead and trail ", "$$dollar$$", "''" }
return { up = function(db)
  db:exec("CREATE TABLE victim (id int)")
  local same = 0
  for i, s in ipairs(nasty) do
    if db:scalar("SELECT " .. db:quote_literal(s)) == s then same = same + 1 end
    db:exec("CREATE TABLE " .. db:quote_ident(s) .. " (" .. db:quote_ident(s .. "_col") .. " int)")
    if db:scalar("SELECT relname FROM pg_class WHERE oid = to_regclass($1)", db:quote_ident(s)) == s then
      same = same + 1
    end
  end
  out("same", same)
  out("ident plain", db:quote_ident("plain"))
  out("ident quote", db:quote_ident('a"b'))
  out("literal quote", db:quote_literal("it's"))
  out("literal backslash", db:quote_literal("a\\b"))
  out("literal nil", db:quote_literal(nil))
  local ok, err = pcall(db.quote_literal, db, "bad\0zero")
  out("zero byte", err)
  ok, err = pcall(db.quote_ident, db, "bad\xff")
  out("invalid utf8", err)
end }
]])
    assert.are.equal(0, r.code, r.err)
    local o = outputs(r.err)
    expect(o, {
      same = "int:20",
      ["ident plain"] = '"\\"plain\\""',
      ["ident quote"] = '"\\"a\\"\\"b\\""',
      ["literal quote"] = '"\'it\'\'s\'"',
      ["literal backslash"] = '" E\'a\\\\\\\\b\'"',
      ["literal nil"] = '"NULL"',
    })
    assert.matches("zero byte", o["zero byte"], 1, true)
    assert.matches("invalid", o["invalid utf8"], 1, true)
    assert.are.equal("11", H.scalar(url, "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname NOT LIKE 'moonshift%'"))
    assert.is_not_nil(H.scalar(url, "SELECT to_regclass('victim')"))
  end)
end)

describe("SQL errors", function()
  it("are tables with sqlstate, condition, message, detail, hint, context, position and where", function()
    local r = run_lua([[
return { up = function(db)
  db:exec("CREATE TABLE e (id int PRIMARY KEY)")
  db:exec("INSERT INTO e VALUES (1)")
  local ok, err = pcall(db.savepoint, db, function() db:exec("INSERT INTO e VALUES ($1)", 1) end)
  out("unique", { ok = ok, sqlstate = err.sqlstate, condition = err.condition, message = err.message,
                  detail = err.detail, where = err.where, text = tostring(err) })
  ok, err = pcall(db.savepoint, db, function() db:query("SELECT * FROM nowhere") end)
  out("position", err.position)
  ok, err = pcall(db.savepoint, db, function()
    db:exec("DO $$ BEGIN RAISE EXCEPTION 'custom' USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0042'; END $$")
  end)
  out("raised", { sqlstate = err.sqlstate, detail = err.detail, hint = err.hint, context = err.context })
end }
]])
    assert.are.equal(0, r.code, r.err)
    local o = outputs(r.err)
    assert.are.equal('{condition="unique_violation",detail="Key (id)=(1) already exists.",'
      .. 'message="duplicate key value violates unique constraint \\"e_pkey\\"",ok=false,sqlstate="23505",'
      .. ('text="001_t.lua:%d: ERROR 23505 unique_violation: duplicate key value violates unique constraint \\"e_pkey\\"",'
      .. 'where="001_t.lua:%d:"}'):format(SHOW_LINES + 4, SHOW_LINES + 4), (o.unique:gsub('"[^"]*/001_t', '"001_t')))
    assert.are.equal("int:15", o.position)
    assert.are.equal('{context="PL/pgSQL function inline_code_block line 1 at RAISE",detail="the detail",'
      .. 'hint="the hint",sqlstate="P0042"}', o.raised)
  end)

  it("fail the migration with DETAIL, HINT and the Lua location when not caught", function()
    local r, url = run_lua([[
return { up = function(db)
  db:exec("CREATE TABLE e (id int PRIMARY KEY)")
  db:exec("INSERT INTO e VALUES (1), (1)")
end }
]])
    assert.are.equal(1, r.code)
    assert.matches(("001_t%%.lua:%d: ERROR 23505 unique_violation"):format(SHOW_LINES + 3), r.err)
    assert.matches("DETAIL: Key %(id%)=%(1%) already exists%.", r.err)
    assert.is_nil(H.scalar(url, "SELECT to_regclass('e')"))
  end)
end)

describe("db:savepoint", function()
  it("rolls back to the savepoint when fn raises, so the migration continues and commits", function()
    local r, url = run_lua([[
return { up = function(db)
  db:exec("CREATE TABLE sp (id int PRIMARY KEY)")
  db:exec("INSERT INTO sp VALUES (1)")
  local ok, err = pcall(db.savepoint, db, function(db)
    db:exec("INSERT INTO sp VALUES (2)")
    db:exec("INSERT INTO sp VALUES (1)")
  end)
  out("caught", { ok = ok, sqlstate = err.sqlstate })
  local a, b = db:savepoint(function(db)
    db:exec("INSERT INTO sp VALUES (3)")
    local ok2, err2 = pcall(db.savepoint, db, function(db)
      db:exec("INSERT INTO sp VALUES (4)")
      error("inner failure")
    end)
    out("inner", err2)
    return "kept", 3
  end)
  out("returned", { a, b })
  db:exec("INSERT INTO sp VALUES (5)")
end }
]])
    assert.are.equal(0, r.code, r.err)
    local o = outputs(r.err)
    assert.are.equal('{ok=false,sqlstate="23505"}', o.caught)
    assert.matches('001_t%.lua:%d+: inner failure"$', o.inner)
    assert.are.equal('{"kept",int:3}', o.returned)
    assert.are.same({ { "1" }, { "3" }, { "5" } }, H.sql(url, "SELECT id FROM sp ORDER BY id"))
    assert.are.same({ { "1" } }, H.sql(url, "SELECT version FROM moonshift_migrations"))
    assert.matches("applied 001 t", r.out)
  end)

  it("is needed: an error caught with pcall alone leaves the transaction aborted and fails the migration", function()
    local r, url = run_lua([[
return { up = function(db)
  db:exec("CREATE TABLE sp (id int)")
  pcall(db.exec, db, "SELECT 1/0")
end }
]])
    assert.are.equal(1, r.code)
    assert.matches("wrap the statement in db:savepoint", r.err)
    assert.is_nil(H.scalar(url, "SELECT to_regclass('sp')"))
  end)

  it("refuses to run outside a transaction", function()
    local r = run_lua([[
return { transaction = false, up = function(db) db:savepoint(function() end) end }
]])
    assert.are.equal(1, r.code)
    assert.matches("001_t%.lua:%d+: db:savepoint needs a transaction", r.err)
  end)
end)

describe("db:transaction in a migration with transaction = false", function()
  local setup = [[
CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL, done bool NOT NULL DEFAULT false);
INSERT INTO big (id, v) SELECT g, 'row ' || g FROM generate_series(1, 200000) g;
CREATE TABLE batches (n int, xid bigint, rows int);
]]
  local backfill = [==[
return { transaction = false, up = function(db)
  local total = db:scalar("SELECT count(*) FROM big")
  local last_id, done, batch = 0, 0, 0
  while true do
    batch = batch + 1
    local n, max_id = db:transaction(function(db)
      local row = db:query_one([=[
        WITH b AS (SELECT id FROM big WHERE id > $1 ORDER BY id LIMIT $2),
             u AS (UPDATE big SET done = true, v = upper(big.v) FROM b WHERE big.id = b.id RETURNING big.id)
        SELECT count(*) AS n, max(id) AS max_id FROM u]=], last_id, 10000)
      db:exec("INSERT INTO batches VALUES ($1, txid_current(), $2)", batch, row.n)
      if batch == FAIL_AT then error("boom in batch " .. batch) end
      return row.n, row.max_id
    end)
    if n == 0 then break end
    last_id, done = max_id, done + n
    progress(done, total)
    db:sleep(0.001)
  end
  log.info("updated %d rows in %d batches", done, batch - 1)
end }
]==]

  it("commits batch by batch: 200k rows in 20 transactions of 10k", function()
    local url = H.new_db()
    H.sql(url, setup)
    local r = run_lua("local FAIL_AT = -1\n" .. backfill, url, "002_backfill.lua")
    assert.are.equal(0, r.code, r.err)
    assert.matches("%[002_backfill%] updated 200000 rows in 20 batches", r.err)
    assert.matches("%[002_backfill%] progress 200000/200000 %(100%.0%%%)", r.err)
    assert.are.equal(200000, count(url, "SELECT count(*) FROM big WHERE done AND v LIKE 'ROW %'"))
    -- 21 transactions (the last one finds nothing), each its own xid
    assert.are.same({ { "21", "21", "200000" } },
      H.sql(url, "SELECT count(*), count(DISTINCT xid), sum(rows) FROM batches"))
    assert.are.same({ { "2", "applied" } }, H.sql(url, "SELECT version, coalesce(failed_op, 'applied') FROM moonshift_migrations"))
  end)

  it("keeps the batches committed before an error, and rolls back the failing one", function()
    local url = H.new_db()
    H.sql(url, setup)
    local r = run_lua("local FAIL_AT = 5\n" .. backfill, url, "002_backfill.lua")
    assert.are.equal(1, r.code)
    assert.matches("002_backfill%.lua:%d+: boom in batch 5", r.err)
    assert.matches("what it did before the error stays", r.err)
    assert.are.equal(40000, count(url, "SELECT count(*) FROM big WHERE done"))
    assert.are.equal(40000, count(url, "SELECT max(id) FROM big WHERE done"))
    assert.are.same({ { "1" }, { "2" }, { "3" }, { "4" } }, H.sql(url, "SELECT n FROM batches ORDER BY n"))
    assert.are.same({ { "2", "up" } }, H.sql(url, "SELECT version, failed_op FROM moonshift_migrations"))
  end)

  it("is refused inside a transaction, and rolls back when an SQL error was caught in it", function()
    local r = run_lua([[
return { up = function(db) db:transaction(function() end) end }
]])
    assert.are.equal(1, r.code)
    assert.matches("001_t%.lua:%d+: db:transaction: already inside a transaction", r.err)
    local r2, url = run_lua([[
return { transaction = false, up = function(db)
  db:exec("CREATE TABLE c (id int)")
  local ok, err = pcall(db.transaction, db, function(db)
    db:exec("INSERT INTO c VALUES (1)")
    pcall(db.exec, db, "SELECT 1/0")
  end)
  out("caught", err)
  out("status", db:transaction_status())
  out("returns", { db:transaction(function(db) db:exec("INSERT INTO c VALUES (2)") return "a", "b" end) })
end }
]])
    assert.are.equal(0, r2.code, r2.err)
    local o = outputs(r2.err)
    assert.matches("an SQL error was caught inside the transaction, so it was rolled back", o.caught, 1, true)
    assert.are.equal('"idle"', o.status)
    assert.are.equal('{"a","b"}', o.returns)
    assert.are.same({ { "2" } }, H.sql(url, "SELECT id FROM c"))
  end)
end)

describe("db:each and db:rows", function()
  local function peak_kb(url, dir)
    local file = H.tmpdir() .. "/rss"
    local r = H.run({ "-f", "%M", "-o", file, H.bin, "up", "--url", url, "--dir", dir }, { program = "/usr/bin/time" })
    return r, tonumber((H.read(file) or ""):match("(%d+)%s*$"))
  end

  it("walk 200k rows in constant memory through a cursor", function()
    local url = H.new_db()
    H.sql(url, "CREATE TABLE wide AS SELECT g AS id, repeat(md5(g::text), 10) AS payload FROM generate_series(1, 200000) g")
    local dir = H.migrations({ ["001_walk.lua"] = [[
return { up = function(db)
  local n, bytes = 0, 0
  local seen = db:each("SELECT id, payload FROM wide WHERE id > $1 ORDER BY id", 0, function(row)
    n = n + 1
    bytes = bytes + #row.payload
  end)
  log.info("each saw %d rows, %d bytes", seen, bytes)
  local sum = 0
  for row in db:rows{ sql = "SELECT id FROM wide", batch = 5000 } do sum = sum + row.id end
  log.info("rows sum %d", sum)
end }
]] })
    local r, kb
    if os.getenv("MS_BIN") and os.getenv("MS_BIN") ~= "" then
      r = up(url, dir)  -- sanitizer and valgrind builds: no meaningful RSS
    else
      r, kb = peak_kb(url, dir)
    end
    assert.are.equal(0, r.code, r.err)
    assert.matches("each saw 200000 rows, 64000000 bytes", r.err, 1, true)
    assert.matches("rows sum 20000100000", r.err, 1, true)
    if kb then assert.is_true(kb < 64 * 1024, ("peak RSS %d kB while walking 64 MB of rows"):format(kb)) end
  end)

  it("close the cursor when the loop breaks or raises, inside and outside a transaction", function()
    local r = run_lua([[
local function open_cursors(db) return db:scalar("SELECT count(*) FROM pg_cursors") end
return { transaction = false, up = function(db)
  db:exec("CREATE TABLE src AS SELECT g AS id FROM generate_series(1, 5000) g")
  db:exec("CREATE TABLE dst (id int)")
  -- outside a transaction: WITH HOLD, so the body can commit its own transactions
  local k = 0
  for row in db:rows("SELECT id FROM src ORDER BY id") do
    if row.id % 1000 == 0 then
      db:transaction(function(db) db:exec("INSERT INTO dst VALUES ($1)", row.id) end)
    end
    k = k + 1
  end
  out("hold walked", k)
  for row in db:rows("SELECT id FROM src") do break end
  out("after break", open_cursors(db))
  local ok, err = pcall(function()
    for row in db:rows("SELECT id FROM src") do error("stop here") end
  end)
  out("after error", open_cursors(db))
  out("each stopped", db:each({ sql = "SELECT id FROM src ORDER BY id", batch = 7 }, function(row)
    if row.id == 10 then return false end
  end))
  out("after each", open_cursors(db))
  db:transaction(function(db)
    for row in db:rows("SELECT id FROM src") do
      out("in transaction", open_cursors(db))
      break
    end
    out("in transaction after break", open_cursors(db))
    local ok2 = pcall(db.savepoint, db, function()
      db:each("SELECT id FROM src", function() db:exec("SELECT 1/0") end)
    end)
    out("after failed savepoint", open_cursors(db))
    out("status", db:transaction_status())
  end)
  out("empty", db:each("SELECT 1 WHERE false", function() error("never") end))
  local ok3, err3 = pcall(db.each, db, "SELECT 1")
  out("no function", err3)
end }
]])
    assert.are.equal(0, r.code, r.err)
    local o = outputs(r.err)
    expect(o, {
      ["hold walked"] = "int:5000",
      ["after break"] = "int:0",
      ["after error"] = "int:0",
      ["each stopped"] = "int:10",
      ["after each"] = "int:0",
      ["in transaction"] = "int:1",
      ["in transaction after break"] = "int:0",
      ["after failed savepoint"] = "int:0",
      status = '"intrans"',
      empty = "int:0",
    })
    assert.matches("the last argument must be a function", o["no function"], 1, true)
  end)
end)

describe("catalog helpers", function()
  local setup = [[
CREATE SCHEMA app;
CREATE SCHEMA "Other";
CREATE TABLE app.items (id bigint GENERATED ALWAYS AS IDENTITY, code text NOT NULL DEFAULT 'x',
  qty int, total int GENERATED ALWAYS AS (qty * 2) STORED, PRIMARY KEY (code, id));
ALTER TABLE app.items ADD CONSTRAINT items_qty_pos CHECK (qty > 0);
CREATE TABLE "Other"."MixedCase" ("Id" int PRIMARY KEY, "Item_code" text, item_id bigint,
  CONSTRAINT "Fk_Item" FOREIGN KEY ("Item_code", item_id) REFERENCES app.items (code, id) ON DELETE CASCADE);
CREATE VIEW app.v AS SELECT id, code FROM app.items;
CREATE MATERIALIZED VIEW app.mv AS SELECT 1 AS x;
CREATE INDEX items_qty ON app.items (qty);
CREATE SEQUENCE app.seq;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok';
CREATE FUNCTION app.f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION app.f(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
CREATE FUNCTION app.trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER items_touch BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION app.trg();
CREATE TABLE app.analyzed AS SELECT g FROM generate_series(1, 500) g;
ANALYZE app.analyzed;
DO $$ BEGIN CREATE ROLE "Ms_Mixed_Role"; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
]]

  it("answer for schema-qualified, quoted mixed-case and search_path names", function()
    local url = H.new_db()
    H.sql(url, setup)
    local r = run_lua([==[
local checks = {
  { "table app.items", "table_exists", "app.items" },
  { "table items", "table_exists", "items" },
  { "table mixed", "table_exists", '"Other"."MixedCase"' },
  { "table folded", "table_exists", '"Other".MixedCase' },
  { "table view", "table_exists", "app.v" },
  { "view", "view_exists", "app.v" },
  { "view mat", "view_exists", "app.mv" },
  { "view table", "view_exists", "app.items" },
  { "column", "column_exists", "app.items", "qty" },
  { "column mixed", "column_exists", '"Other"."MixedCase"', "Item_code" },
  { "column folded", "column_exists", '"Other"."MixedCase"', "item_code" },
  { "column missing table", "column_exists", "app.nope", "qty" },
  { "column code", "column", "app.items", "code" },
  { "column id", "column", "app.items", "id" },
  { "column total", "column", "app.items", "total" },
  { "column none", "column", "app.items", "nope" },
  { "columns mixed", "columns", '"Other"."MixedCase"' },
  { "columns view", "columns", "app.v" },
  { "columns none", "columns", "app.nope" },
  { "index", "index_exists", "app.items_qty" },
  { "index pkey", "index_exists", "app.items_pkey" },
  { "index unqualified", "index_exists", "items_qty" },
  { "index table", "index_exists", "app.items" },
  { "index valid", "index_is_valid", "app.items_qty" },
  { "index valid none", "index_is_valid", "app.nope" },
  { "constraint check", "constraint_exists", "app.items", "items_qty_pos" },
  { "constraint mixed", "constraint_exists", '"Other"."MixedCase"', "Fk_Item" },
  { "constraint none", "constraint_exists", "app.items", "nope" },
  { "primary key", "primary_key", "app.items" },
  { "primary key mixed", "primary_key", '"Other"."MixedCase"' },
  { "primary key none", "primary_key", "app.v" },
  { "fk none", "foreign_keys", "app.items" },
  { "fk missing table", "foreign_keys", "app.nope" },
  { "function overloaded", "function_exists", "app.f" },
  { "function int", "function_exists", "app.f", { "integer" } },
  { "function text", "function_exists", "app.f", "text" },
  { "function bool", "function_exists", "app.f", { "boolean" } },
  { "function unqualified", "function_exists", "f" },
  { "function catalog", "function_exists", "lower" },
  { "function none", "function_exists", "app.nope" },
  { "trigger", "trigger_exists", "app.items", "items_touch" },
  { "trigger none", "trigger_exists", "app.items", "nope" },
  { "type", "type_exists", "app.mood" },
  { "type unqualified", "type_exists", "mood" },
  { "type builtin", "type_exists", "int4" },
  { "type none", "type_exists", "app.nope" },
  { "enum", "enum_values", "app.mood" },
  { "enum not enum", "enum_values", "integer" },
  { "enum none", "enum_values", "app.nope" },
  { "sequence", "sequence_exists", "app.seq" },
  { "sequence table", "sequence_exists", "app.items" },
  { "schema", "schema_exists", "app" },
  { "schema quoted", "schema_exists", '"Other"' },
  { "schema folded", "schema_exists", "Other" },
  { "schema none", "schema_exists", "nope" },
  { "extension", "extension_exists", "plpgsql" },
  { "extension none", "extension_exists", "no_such_extension" },
  { "role exact", "role_exists", "Ms_Mixed_Role" },
  { "role quoted", "role_exists", '"Ms_Mixed_Role"' },
  { "role folded", "role_exists", "ms_mixed_role" },
  { "role none", "role_exists", "no-such-role" },
  { "estimate never analyzed", "row_estimate", "app.items" },
  { "estimate analyzed", "row_estimate", "app.analyzed" },
  { "estimate none", "row_estimate", "app.nope" },
}
return { up = function(db)
  for _, c in ipairs(checks) do out(c[1], db[c[2]](db, table.unpack(c, 3))) end
  local fk = db:foreign_keys('"Other"."MixedCase"')
  out("fk count", #fk)
  out("fk", { name = fk[1].name, columns = fk[1].columns, references = fk[1].references,
              ref_columns = fk[1].ref_columns, on_delete = fk[1].on_delete, on_update = fk[1].on_update,
              valid = fk[1].valid })
  out("fk definition", fk[1].definition)
  db:exec("SET search_path = app, public")
  out("path table", db:table_exists("items"))
  out("path index", db:index_exists("items_qty"))
  out("path function", db:function_exists("f"))
  out("path function args", db:function_exists("f", "int"))
  out("path type", db:type_exists("mood"))
  out("path enum", db:enum_values("mood"))
  out("path fk references", db:foreign_keys('"Other"."MixedCase"')[1].references)
  db:exec("SET search_path = public")
  out("fk references outside path", db:foreign_keys('"Other"."MixedCase"')[1].references)
  local ok, err = pcall(db.savepoint, db, function() return db:table_exists("a.b.c.d") end)
  out("malformed", { ok = ok, sqlstate = err.sqlstate })
end }
]==], url)
    assert.are.equal(0, r.code, r.err)
    expect(outputs(r.err), {
      ["table app.items"] = "true", ["table items"] = "false", ["table mixed"] = "true",
      ["table folded"] = "false", ["table view"] = "false",
      view = "true", ["view mat"] = "true", ["view table"] = "false",
      column = "true", ["column mixed"] = "true", ["column folded"] = "false", ["column missing table"] = "false",
      ["column code"] = "{default=\"'x'::text\",name=\"code\",nullable=false,type=\"text\"}",
      ["column id"] = '{identity="always",name="id",nullable=false,type="bigint"}',
      ["column total"] = '{generated="(qty * 2)",name="total",nullable=true,type="integer"}',
      ["column none"] = "nil",
      ["columns mixed"] = '{{name="Id",nullable=false,type="integer"},{name="Item_code",nullable=true,type="text"},'
        .. '{name="item_id",nullable=true,type="bigint"}}',
      ["columns view"] = '{{name="id",nullable=true,type="bigint"},{name="code",nullable=true,type="text"}}',
      ["columns none"] = "nil",
      index = "true", ["index pkey"] = "true", ["index unqualified"] = "false", ["index table"] = "false",
      ["index valid"] = "true", ["index valid none"] = "nil",
      ["constraint check"] = "true", ["constraint mixed"] = "true", ["constraint none"] = "false",
      ["primary key"] = '{"code","id"}', ["primary key mixed"] = '{"Id"}', ["primary key none"] = "nil",
      ["fk none"] = "{}", ["fk missing table"] = "nil",
      ["fk count"] = "int:1",
      fk = '{columns={"Item_code","item_id"},name="Fk_Item",on_delete="cascade",on_update="no action",'
        .. 'ref_columns={"code","id"},references="app.items",valid=true}',
      ["function overloaded"] = "true", ["function int"] = "true", ["function text"] = "true",
      ["function bool"] = "false", ["function unqualified"] = "false", ["function catalog"] = "true",
      ["function none"] = "false",
      trigger = "true", ["trigger none"] = "false",
      type = "true", ["type unqualified"] = "false", ["type builtin"] = "true", ["type none"] = "false",
      enum = '{"sad","meh","ok","happy"}', ["enum not enum"] = "nil", ["enum none"] = "nil",
      sequence = "true", ["sequence table"] = "false",
      schema = "true", ["schema quoted"] = "true", ["schema folded"] = "false", ["schema none"] = "false",
      extension = "true", ["extension none"] = "false",
      ["role exact"] = "true", ["role quoted"] = "true", ["role folded"] = "false", ["role none"] = "false",
      ["estimate never analyzed"] = "int:-1", ["estimate analyzed"] = "int:500", ["estimate none"] = "nil",
      ["path table"] = "true", ["path index"] = "true", ["path function"] = "true",
      ["path function args"] = "true", ["path type"] = "true", ["path enum"] = '{"sad","meh","ok","happy"}',
      ["path fk references"] = '"items"',
      ["fk references outside path"] = '"app.items"',
      malformed = '{ok=false,sqlstate="42601"}',
    })
    assert.matches('^"FOREIGN KEY %(\\"Item_code\\", item_id%) REFERENCES app%.items%(code, id%) ON DELETE CASCADE"$',
      outputs(r.err)["fk definition"])
  end)

  it("see an INVALID index left by a failed CREATE INDEX CONCURRENTLY, and a migration can rebuild it", function()
    local url = H.new_db()
    H.sql(url, "CREATE TABLE dup (v int); INSERT INTO dup VALUES (1), (1), (2);")
    local ok = pcall(H.sql, url, "CREATE UNIQUE INDEX CONCURRENTLY dup_v ON dup (v)")
    assert.is_false(ok)
    assert.are.equal("f", H.scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'dup_v'::regclass"))
    local r = run_lua([[
return { transaction = false, up = function(db)
  out("exists", db:index_exists("dup_v"))
  out("valid before", db:index_is_valid("dup_v"))
  if db:index_exists("dup_v") and not db:index_is_valid("dup_v") then
    log.warn("dropping invalid index %s", "dup_v")
    db:exec("DROP INDEX CONCURRENTLY dup_v")
  end
  db:exec("DELETE FROM dup a USING dup b WHERE a.v = b.v AND a.ctid > b.ctid")
  db:exec("CREATE UNIQUE INDEX CONCURRENTLY dup_v ON dup (v)")
  out("valid after", db:index_is_valid("dup_v"))
end }
]], url)
    assert.are.equal(0, r.code, r.err)
    expect(outputs(r.err), { exists = "true", ["valid before"] = "false", ["valid after"] = "true" })
    assert.matches("%[001_t%] warning: dropping invalid index dup_v", r.err)
    assert.are.equal("t", H.scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'dup_v'::regclass"))
  end)
end)

describe("log, progress and server notices", function()
  it("write prefixed lines on stderr, progress at most every 2 s and at 100% when not a terminal", function()
    local r = run_lua([[
return { up = function(db)
  log.info("plain %s, 100%% sure", "text")
  log.info("no format 100%")
  log.warn("two\nlines")
  progress(1, 4)
  progress(2, 4)
  db:sleep(2.1)
  progress(3, 4)
  progress(4, 4)
  progress(4, 4)
  progress(7)
  db:exec("DO $$ BEGIN RAISE NOTICE 'notice from %', 'plpgsql'; RAISE WARNING 'careful'; END $$")
end }
]], nil, "003_chatty.lua")
    assert.are.equal(0, r.code, r.err)
    assert.matches("%[003_chatty%] plain text, 100%% sure\n%[003_chatty%] no format 100%%\n"
      .. "%[003_chatty%] warning: two\n%[003_chatty%] lines\n", r.err)
    local lines = {}
    for l in r.err:gmatch("%[003_chatty%] (progress [^\n]*)") do lines[#lines + 1] = l end
    assert.are.equal(4, #lines, r.err)
    assert.matches("^progress 1/4 %(25%.0%%%), 0%.%d s, ~0%.%d s left$", lines[1])
    assert.matches("^progress 3/4 %(75%.0%%%), [23]%.%d s, ~[01]%.%d s left$", lines[2])
    assert.matches("^progress 4/4 %(100%.0%%%), [23]%.%d s$", lines[3])
    assert.matches("^progress 7, 0%.0 s$", lines[4])
    assert.matches("NOTICE:  notice from plpgsql\n", r.err, 1, true)
    assert.matches("WARNING:  careful\n", r.err, 1, true)
    assert.is_nil(r.out:find("003_chatty]", 1, true))
  end)

  it("draw a bar on a terminal", function()
    if os.execute("command -v script >/dev/null 2>&1") ~= true then return end
    local url = H.new_db()
    local dir = H.migrations({ ["001_bar.lua"] = [[
return { up = function(db)
  for i = 1, 50 do progress(i, 50) end
  log.info("done")
end }
]] })
    local cmd = table.concat({ H.q(H.bin), "up", "--url", H.q(url), "--dir", H.q(dir) }, " ")
    local r = H.sh("script -qec " .. H.q(cmd) .. " /dev/null")
    assert.are.equal(0, r.code, r.out)
    assert.truthy(r.out:find("\r\27[K[001_bar] [" .. ("#"):rep(30) .. "] 100% 50/50", 1, true), r.out)
    assert.truthy(r.out:find("\r\27[K[001_bar] [", 1, true), r.out)
    assert.truthy(r.out:find("[001_bar] done", 1, true), r.out)
  end)
end)

describe("require in a migration", function()
  it("loads lib/ modules once per migration, each in an environment of its own", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["lib/counter.lua"] = [[
local n = 0
set_by_lib = "leak?"
return { next = function() n = n + 1 return n end, name = migration.name }
]],
      ["lib/text/case.lua"] = [[
local counter = require "counter"
return { shout = function(s) return s:upper() .. "!" end, counter = counter }
]],
      ["lib/broken.lua"] = "local x = nil\nreturn x.field\n",
      ["001_first.lua"] = SHOW .. [[
local case = require "text.case"
local counter = require "counter"
return { up = function(db)
  out("shout", case.shout("hi"))
  out("same instance", rawequal(case.counter, counter))
  counter.next()
  out("count", counter.next())
  out("name", counter.name)
  out("lib global", set_by_lib)
  out("standard", require("string") == string)
  mine = true
end }
]],
      ["002_second.lua"] = SHOW .. [[
return { up = function(db)
  out("count", require("counter").next())
  out("mine", mine)
  out("broken", select(2, pcall(require, "broken")))
  out("missing", select(2, pcall(require, "nope.deep")))
end }
]],
    })
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    assert.matches('%[001_first%] shout = "HI!"', r.err)
    assert.matches("%[001_first%] same instance = true", r.err)
    assert.matches("%[001_first%] count = int:2", r.err)
    assert.matches('%[001_first%] name = "first"', r.err)
    assert.matches("%[001_first%] lib global = nil", r.err)
    assert.matches("%[001_first%] standard = true", r.err)
    assert.matches("%[002_second%] count = int:1", r.err)
    assert.matches("%[002_second%] mine = nil", r.err)
    assert.matches('%[002_second%] broken = "[^\n]*lib/broken%.lua:2: attempt to index', r.err)
    assert.matches("%[002_second%] missing = \"module 'nope.deep' not found:\\n\\9no file '[^']*/lib/nope/deep%.lua'", r.err)
  end)

  it("fails the migration with the module's file and line when it raises", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["lib/bad.lua"] = "local M = {}\nerror('bad helper')\nreturn M\n",
      ["001_uses.lua"] = "return { up = function(db) require 'bad' end }\n",
    })
    local r = up(url, dir)
    assert.are.equal(1, r.code)
    assert.matches("lib/bad%.lua:2: bad helper", r.err)
  end)
end)

describe("db:sleep and the environment", function()
  it("sleeps, and keeps os.exit out of reach", function()
    local r = run_lua([[
return { up = function(db)
  local t0 = db:scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
  db:sleep(0.3)
  out("slept", db:scalar("SELECT extract(epoch FROM clock_timestamp())::float8") - t0 >= 0.29)
  out("migration", { migration.version, migration.name })
  out("exit", select(2, pcall(os.exit, 0)))
end }
]])
    assert.are.equal(0, r.code, r.err)
    local o = outputs(r.err)
    assert.are.equal("true", o.slept)
    assert.are.equal('{int:1,"t"}', o.migration)
    assert.matches("os.exit is not allowed", o.exit, 1, true)
  end)
end)

describe("moonshift.sandbox.env options", function()
  require("moonshift")
  local sandbox = require("moonshift.sandbox")

  local function capture()
    local buf = {}
    return setmetatable(buf, { __index = {
      write = function(self, ...) for _, s in ipairs({ ... }) do self[#self + 1] = s end return self end,
      text = function(self) return table.concat(self) end,
    } })
  end

  it("take a lib folder, an output stream and the terminal choice from the caller", function()
    local dir = H.tmpdir()
    H.write(dir .. "/shared/helper.lua", "return { answer = 42, seen = migration.name }\n")
    local out = capture()
    local env = sandbox.env({ path = "/nowhere/005_x.lua", version = 5, name = "x" },
      { lib_dir = dir .. "/shared", out = out, tty = true })
    assert.are.equal(42, env.require("helper").answer)
    assert.are.equal("x", env.require("helper").seen)
    assert.are.equal(env.require("helper"), env.require("helper"))
    env.progress(1, 2)
    env.log.info("between")
    env.progress(2, 2)
    assert.are.equal("\r\27[K[005_x] [" .. ("#"):rep(15) .. ("."):rep(15) .. "]  50% 1/2, 0.0 s, ~0.0 s left"
      .. "\r\27[K[005_x] between\n"
      .. "\r\27[K[005_x] [" .. ("#"):rep(30) .. "] 100% 2/2, 0.0 s\n", out:text())
    env.string.patched = true
    assert.is_nil(string.patched)
    assert.is_nil(sandbox.env({ path = "/nowhere/006_y.lua" }, { out = capture() }).string.patched)
  end)

  it("search lib/ beside the migration by default, or the templates given as path", function()
    assert.are.equal("/m/lib/?.lua;/m/lib/?/init.lua", sandbox.default_path({ path = "/m/001_a.lua" }))
    assert.are.equal("./lib/?.lua;./lib/?/init.lua", sandbox.default_path({ path = "001_a.lua" }))
    local dir = H.tmpdir()
    H.write(dir .. "/mods/m_one.lua", "return 'one'\n")
    local env = sandbox.env({ path = "/nowhere/001_a.lua" }, { path = dir .. "/mods/m_?.lua", out = capture() })
    assert.are.equal("one", env.require("one"))
    local ok, err = pcall(env.require, "two")
    assert.is_false(ok)
    assert.matches("no file '[^']*/mods/m_two%.lua'", err)
  end)
end)
