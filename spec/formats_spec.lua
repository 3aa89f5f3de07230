-- Other tools' migration folders, run with no flag and no edit: goose,
-- dbmate, golang-migrate, node-pg-migrate, tern and diesel, each from a
-- fixture folder under spec/fixtures/formats/<tool>/ that exercises its
-- markers and options. Each folder is applied with `moonshift up` and
-- compared (pg_dump --schema-only and row counts) with the same SQL applied
-- by psql the way that tool runs it, read here by a small reader of that
-- tool's own rules; then rolled back to empty. Also: no down part ever runs
-- during up, what every tool's file reads as (moonshift.read_sql), the
-- files and folders moonshift refuses with exit 2 before anything runs,
-- and what the runner does with them (goose blocks, ENVSUB, empty sections,
-- diesel's run_in_transaction).
local H = require("spec_helper")
local ms = require("moonshift")
local BIN = os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
local FIXTURES = H.root .. "/spec/fixtures/formats/"

-- Sorted entries of a folder (files and sub-folders), without dot files
-- and READMEs.
local function entries(dir)
  local out = {}
  local p = assert(io.popen("ls " .. H.q(dir)))
  for name in p:lines() do
    if not name:match("^%.") and not name:match("^README") then out[#out + 1] = name end
  end
  p:close()
  table.sort(out)
  return out
end

local function lines(text)
  local out = {}
  for l in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

-- goose's ENVSUB as the envsub fixture uses it: ${V}, ${V:-d}, ${V-d}.
local function envsub(line, env)
  return (line:gsub("%${([%a_][%w_]*)([:%-]?%-?)([^}]*)}", function(name, op, word)
    local v = env[name]
    if op == ":-" then return (v == nil or v == "") and word or v end
    if op == "-" then return v == nil and word or v end
    return v or ""
  end))
end

-- Readers of each tool's files, by the tool's rules (not moonshift's):
-- each returns { sql = up text, tx = runs in a transaction }.
local readers = {}

function readers.goose(path, env)
  local text, up, state, notx, on = H.read(path), {}, "start", false, false
  for _, l in ipairs(lines(text)) do
    local ann = l:match("^%-%-%s*%+goose%s+(.-)%s*$")
    ann = ann and ann:lower()
    if ann == "up" then state = "up"
    elseif ann == "down" then state = "down"
    elseif ann == "no transaction" then notx = true
    elseif ann == "envsub on" then on = true
    elseif ann == "envsub off" then on = false
    elseif state == "up" then up[#up + 1] = on and envsub(l, env or {}) or l end
  end
  return { sql = table.concat(up, "\n"), tx = not notx }
end

function readers.dbmate(path)
  local up, state, tx = {}, "start", true
  for _, l in ipairs(lines(H.read(path))) do
    local dir, opts = l:match("^%-%-%s*migrate:(%a+)(.*)$")
    if dir == "up" then state = "up"; tx = not opts:find("transaction:false", 1, true)
    elseif dir == "down" then state = "down"
    elseif state == "up" then up[#up + 1] = l end
  end
  return { sql = table.concat(up, "\n"), tx = tx }
end

-- golang-migrate sends the up file as one Exec: one implicit transaction.
readers["golang-migrate"] = function(path)
  return { sql = H.read(path), tx = true }
end

-- node-pg-migrate: the first match of each marker regex; up runs from its
-- marker to the down marker (or the end), in the run's transaction.
readers["node-pg-migrate"] = function(path)
  local text = H.read(path)
  local function find(word)
    local pos = 1
    for _, l in ipairs(lines(text)) do
      if l:lower():match("^%s*%-%-[%s%-]*" .. word .. "%s+migration") then return pos end
      pos = pos + #l + 1
    end
  end
  local u, d = find("up"), find("down")
  return { sql = text:sub(u, (d and d > u) and d - 1 or #text), tx = true }
end

-- tern: split at the marker string; disable-tx is a whole line.
function readers.tern(path)
  local text = H.read(path)
  local at = text:find("---- create above / drop below ----", 1, true)
  local up = at and text:sub(1, at - 1) or text
  local notx = ("\n" .. up):find("\n%-%-%-%- tern: disable%-tx %-%-%-%-\n") ~= nil
  return { sql = up, tx = not notx }
end

-- diesel: up.sql in a transaction unless metadata.toml says otherwise.
function readers.diesel(path)
  local meta = H.read(path .. "/metadata.toml")
  local tx = not meta or meta:match("run_in_transaction%s*=%s*true") ~= nil
  return { sql = H.read(path .. "/up.sql"), tx = tx }
end

-- The up files of a folder, in order, as paths the tool's reader takes.
local function up_files(tool, dir)
  local out = {}
  for _, name in ipairs(entries(dir)) do
    if tool == "diesel" or not name:match("%.down%.sql$") then out[#out + 1] = dir .. "/" .. name end
  end
  return out
end

-- Applies a folder with psql the tool's way: each migration alone, in one
-- transaction, or statement by statement in autocommit where it uses none.
local function apply_reference(url, tool, dir, env)
  for _, path in ipairs(up_files(tool, dir)) do
    local m = readers[tool](path, env)
    H.sql(url, m.tx and ("BEGIN;\n" .. m.sql .. "\n;COMMIT;\n") or m.sql)
  end
end

-- The schema as pg_dump shows it, without moonshift's own tables.
local function schema(url)
  local r = H.sh(("%s/pg_dump --schema-only --no-owner --no-privileges --exclude-table=%s %s")
    :format(BIN, H.q("public.moonshift*"), H.q(url)))
  assert.are.equal(0, r.code, r.err)
  local keep = {}
  for _, l in ipairs(lines(r.out)) do
    if not l:match("^\\restrict") and not l:match("^\\unrestrict") then keep[#keep + 1] = l end
  end
  return table.concat(keep, "\n")
end

-- Row counts of every table but moonshift's, as { table = count }.
local function row_counts(url)
  local out = {}
  for _, r in ipairs(H.sql(url, "select relname from pg_class where relkind = 'r' and "
      .. "relnamespace = 'public'::regnamespace and relname not like 'moonshift%'")) do
    out[r[1]] = H.count(url, ("select count(*) from %q"):format(r[1]))
  end
  return out
end

local function up(url, dir, env)
  return H.run({ "up", "--url", url, "--dir", dir }, { env = env })
end

-- Each format's fixture: how many migrations, and a query that returns
-- 0 unless a down part ran during up.
local formats = {
  { "goose", 5, "select count(*) from users where id = 99" },
  { "dbmate", 4, "select count(*) from accounts where id = 99" },
  { "golang-migrate", 2, "select count(*) from items where id = 99" },
  { "node-pg-migrate", 3, "select count(*) from notes where body = 'the down section ran'" },
  { "tern", 3, "select count(*) from people where id = 99" },
  { "diesel", 3, "select count(*) from users where name = 'the down file ran'" },
}

for _, f in ipairs(formats) do
  local tool, n, guard = f[1], f[2], f[3]
  local dir = FIXTURES .. tool
  describe(tool .. " folder", function()
    it("applies as psql applies it the way " .. tool .. " runs it", function()
      local url, ref = H.new_db(), H.new_db()
      local r = up(url, dir)
      assert.are.equal(0, r.code, r.err)
      assert.matches(n .. " migrations? applied", r.out)
      apply_reference(ref, tool, dir)
      assert.are.equal(schema(ref), schema(url))
      assert.are.same(row_counts(ref), row_counts(url))
      assert.are.equal(n, #H.versions(url))
    end)

    it("runs no down part during up", function()
      local url = H.new_db()
      local r = up(url, dir)
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(0, H.count(url, guard))
      assert.is_true(H.exists(url, "audit"))
    end)

    it("rolls back to an empty database", function()
      local url, empty = H.new_db(), H.new_db()
      assert.are.equal(0, up(url, dir).code)
      local r = H.run({ "down", tostring(n), "--url", url, "--dir", dir })
      assert.are.equal(0, r.code, r.err)
      assert.matches(n .. " migrations? rolled back", r.out)
      assert.are.equal(schema(empty), schema(url))
      assert.are.same({}, H.versions(url))
    end)
  end)
end

describe("what each tool's file reads as", function()
  local function read(tool, file, as_down, env)
    local path = FIXTURES .. tool .. "/" .. file
    return assert(ms.read_sql(assert(H.read(path)), path, as_down, env))
  end

  it("goose: Up and Down in any case, NO TRANSACTION for the whole file, a missing Down as a no-op", function()
    local s = read("goose", "00001_create_users.sql")
    assert.are.equal("goose", s.format)
    assert.are.same({ 3, 15, true, true }, { s.up.marker_line, s.down.marker_line, s.up.transaction, s.down.transaction })
    s = read("goose", "00002_posts.sql")
    assert.are.same({ 1, 7 }, { s.up.marker_line, s.down.marker_line })
    assert.is_true(s.up.envsub)
    s = read("goose", "00003_no_transaction.sql")
    assert.are.same({ false, false }, { s.up.transaction, s.down.transaction })
    s = read("goose", "00004_without_down.sql")
    assert.are.same({ true, 0, "" }, { s.down.empty, s.down.marker_line, s.down.sql })
  end)

  it("goose: a StatementBegin block is one piece, flagged block", function()
    local s = read("goose-blocks", "00001_blocks.sql")
    local pieces = assert(ms.split(s.up.text))
    assert.are.same({ "sql", "sql" }, { pieces[1].class, pieces[2].class })
    assert.is_nil(pieces[1].block)
    assert.is_true(pieces[2].block)
    assert.matches("^INSERT INTO counters VALUES %('a', 1%);\nINSERT.*UPDATE counters SET n = n %+ 10;$", pieces[2].text)
  end)

  it("goose: ENVSUB ON substitutes ${VAR}, ${VAR:-default} and ${VAR-default} until ENVSUB OFF", function()
    local s = read("goose-envsub", "00001_envsub.sql", false, { MS_FMT_TABLE = "regions", MS_FMT_REGION = "" })
    assert.matches("CREATE TABLE regions %(id int, region text DEFAULT 'eu', tag text DEFAULT 'none'%);", s.up.text)
    assert.truthy(s.up.text:find("AS $$ SELECT '${kept}' $$;", 1, true), s.up.text)
    assert.matches("DROP TABLE regions;", s.down.text)
    -- the lines keep their number, so error lines point into the file
    assert.are.equal(select(2, s.up.sql:gsub("\n", "")), select(2, s.up.text:gsub("\n", "")))
    local bad, err = ms.read_sql("-- +goose Up\n-- +goose ENVSUB ON\nselect '${NEED?set it}';\n", "m/1_x.sql", false, {})
    assert.is_nil(bad)
    assert.matches("^m/1_x%.sql:3: ENVSUB: NEED is not set: set it$", err)
  end)

  it("dbmate: options after the marker", function()
    local s = read("dbmate", "003_options.sql")
    assert.are.equal("dbmate", s.format)
    assert.is_true(s.up.out_of_order)
    assert.is_false(read("dbmate", "002_concurrent_index.sql").up.transaction)
  end)

  it("node-pg-migrate: either order, any case, an indented marker", function()
    local s = read("node-pg-migrate", "1700000000001_down_first.sql")
    assert.are.equal("node-pg-migrate", s.format)
    assert.are.same({ 4, 1 }, { s.up.marker_line, s.down.marker_line })
    assert.matches("^ALTER TABLE notes ADD COLUMN", s.up.sql)
    assert.are.equal(1, read("node-pg-migrate", "1700000000002_down_guard.sql").up.marker_line)
  end)

  it("tern: up above the marker, down below, disable-tx for the part it is in", function()
    local s = read("tern", "002_disable_tx.sql")
    assert.are.equal("tern", s.format)
    assert.are.same({ false, false, 0, 4 }, { s.up.transaction, s.down.transaction, s.up.marker_line, s.down.marker_line })
    s = read("tern", "001_create_people.sql")
    assert.are.same({ true, true }, { s.up.transaction, s.down.transaction })
    assert.matches("^CREATE TABLE people", s.up.sql)
  end)

  it("diesel: folders as migrations, versions without dashes, version 0 included", function()
    local got = assert(ms.scan(FIXTURES .. "diesel"))
    assert.are.same({ 0, 20190226002946, 20190301101010 }, { got[1].version, got[2].version, got[3].version })
    assert.are.same({ "diesel_initial_setup", "create_users", "down_guard" }, { got[1].name, got[2].name, got[3].name })
    assert.matches("/00000000000000_diesel_initial_setup/up%.sql$", got[1].path)
    assert.matches("/00000000000000_diesel_initial_setup/down%.sql$", got[1].down_path)
    assert.is_true(got[1].folder)
    assert.is_nil(got[2].no_transaction)
    assert.is_true(assert(ms.scan(FIXTURES .. "diesel-notx"))[1].no_transaction)
  end)

  it("flags a section of blank lines and comments as empty, in every format", function()
    for _, name in ipairs({ "001_dbmate.sql", "002_goose.sql", "003_npm.sql", "004_tern.sql", "005_plain.up.sql" }) do
      local s = read("empty", name)
      assert.is_true(s.up.empty, name)
      if s.down then assert.is_true(s.down.empty, name) end
      for _, p in ipairs(assert(ms.split(s.up.text))) do assert.are.equal("empty", p.class, name) end
    end
  end)
end)

describe("files moonshift refuses before anything runs", function()
  local cases = {
    { "an unknown goose annotation", "-- +goose Up\nselect 1;\n-- +goose Frobnicate\n",
      ":3: unknown goose annotation '%+goose Frobnicate'" },
    { "an indented goose annotation", "-- +goose Up\nselect 1;\n  -- +goose Down\nselect 2;\n",
      ":3: '%-%- %+goose Down' is an indented goose annotation" },
    { "a goose annotation in upper case", "-- +goose Up\nselect 1;\n-- +GOOSE Down\nselect 2;\n",
      ":3: '%-%- %+GOOSE Down' is not a goose annotation as goose reads it" },
    { "goose annotations without Up", "-- +goose NO TRANSACTION\nselect 1;\n",
      ":1: %-%- %+goose NO TRANSACTION without %-%- %+goose Up" },
    { "goose Down before Up", "-- +goose Down\nselect 1;\n-- +goose Up\n", ":1: %-%- %+goose Down before %-%- %+goose Up" },
    { "a second goose Up", "-- +goose Up\nselect 1;\n-- +goose Up\n", ":3: a second %-%- %+goose Up marker %(the first is on line 1%)" },
    { "SQL before goose Up", "select 0;\n-- +goose Up\nselect 1;\n", ":1: SQL before the first %-%- %+goose Up marker" },
    { "a goose block without its end", "-- +goose Up\n-- +goose StatementBegin\nselect 1;\n",
      ":2: %-%- %+goose StatementBegin has no %-%- %+goose StatementEnd" },
    { "a goose StatementEnd without its begin", "-- +goose Up\nselect 1;\n-- +goose StatementEnd\n",
      ":3: %-%- %+goose StatementEnd without %-%- %+goose StatementBegin" },
    { "a goose Down inside a block", "-- +goose Up\n-- +goose StatementBegin\nselect 1;\n-- +goose Down\n",
      ":4: %-%- %+goose Down inside the %-%- %+goose StatementBegin block of line 2" },
    { "goose ENVSUB text goose fails on", "-- +goose Up\n-- +goose ENVSUB ON\nselect $1;\n",
      ":3: ENVSUB: '%$1;' is not a variable" },
    { "a dollar-quote tag under goose ENVSUB", "-- +goose Up\n-- +goose ENVSUB ON\nselect $q$x$q$;\n",
      ":3: ENVSUB: '%$q%$x%$q%$;' reads as a dollar%-quote tag" },
    { "an indented dbmate marker", "-- migrate:up\nselect 1;\n -- migrate:down\nselect 2;\n",
      ":3: '%-%- migrate:down' is not a marker" },
    { "a dbmate marker in upper case", "-- migrate:up\nselect 1;\n-- MIGRATE:DOWN\nselect 2;\n",
      ":3: '%-%- MIGRATE:DOWN' is not a marker" },
    { "a dbmate marker after a tab", "-- migrate:up\nselect 1;\n\t-- migrate:down\nselect 2;\n",
      ":3: '%-%- migrate:down' is not a marker" },
    { "the markers of two tools", "-- migrate:up\nselect 1;\n-- +goose Down\nselect 2;\n",
      ":3: %-%- %+goose Down is a goose marker, but line 1 %(%-%- migrate:up%) made this a dbmate file" },
    { "node-pg-migrate's down marker without its up marker", "-- Down Migration\nselect 1;\n",
      ":1: %-%- Down Migration without %-%- Up Migration" },
    { "a node-pg-migrate look-alike", "-- Up Migration\nselect 1;\n-- down-migration\nselect 2;\n",
      ":3: '%-%- down%-migration' is not node%-pg%-migrate's marker" },
    { "a tern template", "create table {{ .table }} (id int);\n---- create above / drop below ----\n",
      ":1: tern templates are not supported" },
    { "a tern marker not on a line of its own", "select 1;\n-- ---- create above / drop below ----\n",
      ":2: '.*' is not tern's marker" },
    { "tern's disable-tx with trailing blanks", "---- tern: disable-tx ---- \nselect 1;\n",
      ":1: '.*' is not tern's disable%-tx marker" },
    { "Liquibase formatted SQL", "--liquibase formatted sql\n--changeset ada:1\ncreate table t (id int);\n",
      ":1: '%-%-liquibase formatted sql': Liquibase formatted SQL" },
    { "an Atlas directive", "-- atlas:txmode none\ncreate table t (id int);\n", ":1: '.*' is an Atlas directive" },
  }
  for _, c in ipairs(cases) do
    it("refuses " .. c[1] .. " with exit 2 and file:line", function()
      local url = H.new_db()
      local dir = H.migrations({ ["1_ok.sql"] = "create table ok (id int);\n", ["2_bad.sql"] = c[2] })
      local r = H.run_fails({ "up", "--url", url, "--dir", dir }, "/2_bad%.sql" .. c[3], 2)
      assert.are.equal("", r.out)
      assert.is_false(H.exists(url, "ok"))
      assert.is_nil(H.versions(url))
    end)
  end

  local folders = {
    { "a Sqitch project", { ["sqitch.plan"] = "%syntax-version=1.0.0\n%project=flipr\nusers 2013-12-30T23:49:00Z M <m@x> # users\n",
      ["deploy/users.sql"] = "BEGIN; create table users (id int); COMMIT;\n" }, "is a Sqitch project %(sqitch%.plan%)" },
    { "a Flyway folder", { ["V1__init.sql"] = "create table t (id int);\n", ["V1.1__more.sql"] = "select 1;\n",
      ["R__views.sql"] = "select 1;\n" }, "holds Flyway migrations %(V<version>__<name>%.sql.*%(%S+__%S+%.sql%)" },
    { "Flyway files among moonshift's", { ["1_ok.sql"] = "create table ok (id int);\n", ["U2__undo.sql"] = "select 1;\n" },
      "holds Flyway migrations" },
    { "a Liquibase changelog", { ["db.changelog-master.yaml"] = "databaseChangeLog: []\n",
      ["1_ok.sql"] = "create table ok (id int);\n" }, "holds a Liquibase changelog: .*%(db%.changelog%-master%.yaml%)" },
    { "a manifest-ordered (Kong-style) folder", { ["init.lua"] = "return { '000_base', '001_next' }\n",
      ["000_base.lua"] = "return { postgres = { up = [[create table ok (id int)]] } }\n" }, "is ordered by a manifest %(init%.lua" },
  }
  for _, c in ipairs(folders) do
    it("refuses " .. c[1] .. " with one line naming the tool", function()
      local url = H.new_db()
      local r = H.run_fails({ "up", "--url", url, "--dir", H.migrations(c[2]) }, c[3], 2)
      assert.matches("^moonshift: migrations folder %S+ .*; nothing was run\n$", r.err)
      assert.is_false(H.exists(url, "ok"))
      assert.is_nil(H.versions(url))
    end)
  end

  it("refuses a diesel folder without up.sql, and a metadata.toml it cannot read", function()
    local url = H.new_db()
    local r = H.run_fails({ "up", "--url", url, "--dir", H.migrations({
      ["2019-01-01-000000_no_up/down.sql"] = "select 1;\n",
      ["2019-01-02-000000_bad_meta/up.sql"] = "create table ok (id int);\n",
      ["2019-01-02-000000_bad_meta/metadata.toml"] = "run_in_transaction = \"no\"\n",
    }) }, "has problems; nothing was run", 2)
    assert.matches("/2019%-01%-01%-000000_no_up: a folder named like a migration holds no up%.sql", r.err)
    assert.matches("/metadata%.toml:1: run_in_transaction must be true or false", r.err)
    assert.is_false(H.exists(url, "ok"))
  end)

  it("refuses diesel folders whose versions diesel would run in another order", function()
    local r = H.run_fails({ "up", "--url", H.new_db(), "--dir", H.migrations({
      ["9_nine/up.sql"] = "select 9;\n", ["10_ten/up.sql"] = "select 10;\n",
    }) }, "diesel runs these in the other order", 2)
    assert.matches("/9_nine/up%.sql and .*/10_ten/up%.sql", r.err)
  end)
end)

describe("what waits on the runner", function()
  it("runs a goose StatementBegin block of several statements in a transaction as one query", function()
    local url, ref, dir = H.new_db(), H.new_db(), FIXTURES .. "goose-blocks"
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    apply_reference(ref, "goose", dir)
    assert.are.equal(schema(ref), schema(url))
    assert.are.same({ { "a", "11" }, { "b", "12" } }, H.sql(url, "select name, n from counters order by name"))
    assert.are.equal(0, H.run({ "down", "--url", url, "--dir", dir }).code)
    assert.is_false(H.exists(url, "counters"))
  end)

  it("substitutes goose ENVSUB variables from the environment", function()
    local env = { MS_FMT_TABLE = "regions", MS_FMT_REGION = "" }  -- MS_FMT_UNSET stays unset
    local url, ref, dir = H.new_db(), H.new_db(), FIXTURES .. "goose-envsub"
    local r = up(url, dir, env)
    assert.are.equal(0, r.code, r.err)
    apply_reference(ref, "goose", dir, { MS_FMT_TABLE = "regions", MS_FMT_REGION = "" })
    assert.are.equal(schema(ref), schema(url))
    assert.are.equal("${kept}", H.scalar(url, "select kept_f()"))
    assert.are.equal(0, H.run({ "down", "--url", url, "--dir", dir }, { env = env }).code)
    assert.is_false(H.exists(url, "regions"))
  end)

  it("applies and rolls back empty sections as no-ops, in every format", function()
    local url, empty, dir = H.new_db(), H.new_db(), FIXTURES .. "empty"
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    assert.matches("6 migrations applied", r.out)
    assert.are.equal(schema(empty), schema(url))
    r = H.run({ "down", "6", "--url", url, "--dir", dir })
    assert.are.equal(0, r.code, r.err)
    assert.are.same({}, H.versions(url))
  end)

  it("runs a diesel migration outside a transaction when metadata.toml says so", function()
    local url, ref, dir = H.new_db(), H.new_db(), FIXTURES .. "diesel-notx"
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    apply_reference(ref, "diesel", dir)
    assert.are.equal(schema(ref), schema(url))
    assert.are.equal(0, H.run({ "down", "--url", url, "--dir", dir }).code)
    assert.is_false(H.exists(url, "big"))
  end)
end)
