-- SQL migrations through the CLI: up, down, redo, status and version, the
-- tracking rows they leave, transaction:false sections, and a failure in the
-- middle of a run (atomic per migration, reported at file:line:col).
package.cpath = "./build/?.so;" .. package.cpath
local H = require("spec_helper")
local cmd, exists, versions = H.cmd, H.exists, H.versions
local ms = require("moonshift")


-- The checksum moonshift records for a migration's files (an up file and
-- its down file in that order): "sha256-v1:" and the SHA-256 of their bytes,
-- each with a leading BOM left out and CRLF read as LF.
local function checksum(...)
  local parts = {}
  for i, text in ipairs({ ... }) do
    parts[i] = (text:gsub("^\239\187\191", ""):gsub("\r\n", "\n"))
  end
  return "sha256-v1:" .. ms.sha256(table.concat(parts))
end



-- The source line and caret under column col that a SQL error report shows,
-- as a pattern.
local function caret(line, text, col)
  return ("\n%5d | %s\n      | %s%%^\n"):format(line, (text:gsub("%p", "%%%0")), (" "):rep(col - 1))
end

local function table_migration(name)
  return ("-- migrate:up\ncreate table %s (id int);\n\n-- migrate:down\ndrop table %s;\n"):format(name, name)
end

local function three()
  return H.migrations({
    ["001_users.sql"] = table_migration("users"),
    ["002_posts.sql"] = table_migration("posts"),
    ["003_tags.sql"] = table_migration("tags"),
  })
end

describe("moonshift up", function()
  it("applies every migration and records version, name, kind, checksum, duration and user", function()
    local url = H.new_db()
    local dir = three()
    local res = H.run_ok(cmd("up", url, dir))
    assert.matches("^applied 001 users %(%d+ ms%)\napplied 002 posts %(%d+ ms%)\napplied 003 tags %(%d+ ms%)\n"
      .. "3 migrations applied; the database is at version 003\n$", res.out)
    assert.are.equal("", res.err)
    for _, t in ipairs({ "users", "posts", "tags" }) do assert.is_true(exists(url, t)) end
    local rows = H.sql(url, [[
      select version::text, name, kind, checksum, (duration_ms >= 0)::text, (applied_by = current_user)::text,
             (applied_at <= now())::text
        from moonshift_migrations order by version]])
    local function row(v, name, file)
      return { v, name, "sql", checksum(H.read(dir .. "/" .. file)), "true", "true", "true" }
    end
    assert.are.same({ row("1", "users", "001_users.sql"), row("2", "posts", "002_posts.sql"),
                      row("3", "tags", "003_tags.sql") }, rows)
    assert.are.equal(os.getenv("PGUSER"), H.scalar(url, "select applied_by from moonshift_migrations where version = 1"))
  end)

  it("records a checksum of the file bytes, a BOM and CR LF line ends aside", function()
    local url = H.new_db()
    local lf = "-- migrate:up\ncreate table bytes (t text default 'caf\195\169');  \n\n"
    local crlf = "\239\187\191" .. lf:gsub("\n", "\r\n")
    local dir = H.migrations({ ["1_bytes.sql"] = crlf, ["2_plain.sql"] = lf:gsub("bytes", "plain") })
    H.run_ok(cmd("up", url, dir))
    local sums = H.sql(url, "select checksum from moonshift_migrations order by version")
    assert.are.equal(checksum(crlf), sums[1][1])
    assert.are.equal("sha256-v1:" .. ms.sha256(lf), sums[1][1])
    local out = H.sh("sha256sum " .. H.q(dir .. "/2_plain.sql")).out
    assert.are.equal("sha256-v1:" .. out:match("^(%x+)"), sums[2][1])
  end)

  it("is a no-op when nothing is pending", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    local before = H.sql(url, "select version, applied_at from moonshift_migrations order by version")
    local res = H.run_ok(cmd("up", url, dir), "^nothing to apply; the database is at version 003\n$")
    assert.are.equal("", res.err)
    assert.are.same(before, H.sql(url, "select version, applied_at from moonshift_migrations order by version"))
  end)

  it("stops after --to VERSION, and the next up applies the rest", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir, "--to", "2"),
      "^applied 001 users %(%d+ ms%)\napplied 002 posts %(%d+ ms%)\n2 migrations applied; the database is at version 002\n$")
    assert.are.same({ "1", "2" }, versions(url))
    assert.is_false(exists(url, "tags"))
    H.run_ok(cmd("up", url, dir), "^applied 003 tags %(%d+ ms%)\n1 migration applied; the database is at version 003\n$")
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)

  it("applies a file whose sections hold several statements, comments and dollar quotes", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_many.sql"] = [[
-- migrate:up
create table items (id serial primary key, note text); -- trailing comment
insert into items (note) values ('a;b'), ($$c;d$$);
/* a block comment; with a semicolon */
create function items_count() returns bigint language sql as $body$
  select count(*) from items;
$body$;

-- migrate:down
drop function items_count();
drop table items;
]] })
    H.run_ok(cmd("up", url, dir), "^applied 1 many")
    assert.are.equal("2", H.scalar(url, "select items_count()"))
    assert.are.same({ { "a;b" }, { "c;d" } }, H.sql(url, "select note from items order by id"))
    H.run_ok(cmd("down", url, dir), "^reverted 1 many")
    assert.is_false(exists(url, "items"))
    assert.are.equal("0", H.scalar(url, "select count(*) from pg_proc where proname = 'items_count'"))
  end)
end)

describe("moonshift status and version", function()
  it("list every migration with its state, and the current version", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("version", url, dir), "^0\n$")
    local st = H.run_ok(cmd("status", url, dir))
    assert.matches("^version +name +kind +state +applied_at\n", st.out)
    assert.matches("\n002 +posts +sql +pending +%-\n", st.out)
    assert.matches("\n0 applied, 3 pending %(tracking table public%.moonshift_migrations, advisory lock key %-?%d+%)\n$", st.out)
    assert.is_nil(versions(url), "status and version must not create the tracking table")

    H.run_ok(cmd("up", url, dir, "--to", "2"))
    H.run_ok(cmd("version", url, dir), "^002\n$")
    st = H.run_ok(cmd("status", url, dir))
    assert.matches("\n001 +users +sql +applied +%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ\n", st.out)
    assert.matches("\n002 +posts +sql +applied +%d%d%d%d%-", st.out)
    assert.matches("\n003 +tags +sql +pending +%-\n", st.out)
    assert.matches("\n2 applied, 1 pending %(tracking table public%.moonshift_migrations", st.out)
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("status shows an applied migration whose file is gone", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    os.remove(dir .. "/003_tags.sql")
    local st = H.run_ok(cmd("status", url, dir))
    assert.matches("\n3 +tags +sql +applied, file missing", st.out)
    assert.matches("3 applied, 0 pending, [^(]*missing", st.out)
    local res = H.run_fails(cmd("down", url, dir), "cannot roll back: applied migrations have no file", 2)
    assert.matches("version 3 tags", res.err)
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.is_true(exists(url, "tags"))
  end)
end)

describe("moonshift down", function()
  it("rolls back one migration by default", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    local res = H.run_ok(cmd("down", url, dir),
      "^reverted 003 tags %(%d+ ms%)\n1 migration rolled back; the database is at version 002\n$")
    assert.are.equal("", res.err)
    assert.is_false(exists(url, "tags"))
    assert.is_true(exists(url, "posts"))
    assert.are.same({ "1", "2" }, versions(url))
  end)

  it("rolls back N, newest first", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    H.run_ok(cmd("down", url, dir, "2"),
      "^reverted 003 tags %(%d+ ms%)\nreverted 002 posts %(%d+ ms%)\n2 migrations rolled back; the database is at version 001\n$")
    assert.is_true(exists(url, "users"))
    assert.is_false(exists(url, "posts"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("rolls back all there is when N is larger", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir, "--to", "2"))
    H.run_ok(cmd("down", url, dir, "5"),
      "^reverted 002 posts %(%d+ ms%)\nreverted 001 users %(%d+ ms%)\n2 migrations rolled back; the database is at version 0\n$")
    assert.are.same({}, versions(url))
    assert.is_false(exists(url, "users"))
  end)

  it("rolls back everything above --to VERSION, and all of it with --to 0", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    H.run_ok(cmd("down", url, dir, "--to", "1"), "^reverted 003 tags.*\nreverted 002 posts.*\n2 migrations rolled back; the database is at version 001\n$")
    assert.are.same({ "1" }, versions(url))
    H.run_ok(cmd("up", url, dir))
    H.run_ok(cmd("down", url, dir, "--to", "0"),
      "^reverted 003 tags.*\nreverted 002 posts.*\nreverted 001 users.*\n3 migrations rolled back; the database is at version 0\n$")
    assert.are.same({}, versions(url))
    for _, t in ipairs({ "users", "posts", "tags" }) do assert.is_false(exists(url, t)) end
    H.run_ok(cmd("down", url, dir), "^nothing to roll back; the database is at version 0\n$")
  end)

  it("refuses a version 0 file, since --to 0 means before every migration", function()
    local url = H.new_db()
    local dir = H.migrations({ ["0_zero.sql"] = table_migration("zero"), ["1_one.sql"] = table_migration("one") })
    local res = H.run(cmd("up", url, dir))
    if res.code == 2 then
      assert.matches("0_zero%.sql", res.err)
      assert.is_nil(versions(url))
      return
    end
    assert.are.equal(0, res.code, res.err)
    assert.are.same({ "0", "1" }, versions(url))
    H.run_ok(cmd("down", url, dir, "--to", "0"), "the database is at version 0\n$")
    assert.is_false(exists(url, "zero"))
    assert.are.same({}, versions(url))
  end)

  it("rolls back in reverse order of application after an out-of-order up", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_a.sql"] = table_migration("a"), ["3_c.sql"] = table_migration("c") })
    H.run_ok(cmd("up", url, dir))
    H.write(dir .. "/2_b.sql", table_migration("b"))
    local res = H.run_fails(cmd("up", url, dir), "pending migrations are older than the newest applied one", 2)
    assert.matches("/2_b%.sql %(version 3 is already applied%)", res.err)
    assert.matches("%-%-allow%-out%-of%-order", res.err)
    assert.is_false(exists(url, "b"))
    assert.are.same({ "1", "3" }, versions(url))
    H.run_ok(cmd("up", url, dir, "--allow-out-of-order"), "^applied 2 b .*the database is at version 3\n$")
    assert.are.same({ "1", "2", "3" }, versions(url))
    H.run_ok(cmd("down", url, dir), "^reverted 2 b ")
    assert.is_false(exists(url, "b"))
    assert.is_true(exists(url, "c"))
    assert.are.same({ "1", "3" }, versions(url))
  end)

  it("exits 2 and changes nothing when a migration to roll back has no down section", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_a.sql"] = table_migration("a"),
      ["2_b.sql"] = "create table b (id int);\n",
      ["3_c.sql"] = table_migration("c"),
    })
    H.run_ok(cmd("up", url, dir))
    local res = H.run_fails(cmd("down", url, dir, "2"), "/2_b%.sql: has no %-%- migrate:down section, so it cannot be rolled back", 2)
    assert.are.equal("", res.out)
    assert.is_true(exists(url, "c"), "the down before it must not run either")
    assert.is_true(exists(url, "b"))
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)

  it("rejects a step count that is not a positive number", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    H.run_fails(cmd("down", url, dir, "0"), "down takes a number of steps", 2)
    H.run_fails(cmd("down", url, dir, "two"), "down takes a number of steps", 2)
    H.run_fails(cmd("down", url, dir, "--to", "-1"), "%-%-to takes a version", 2)
    assert.are.same({ "1", "2", "3" }, versions(url))
  end)
end)

describe("moonshift redo", function()
  it("rolls back the newest migration and applies it again", function()
    local url = H.new_db()
    local dir = three()
    H.run_ok(cmd("up", url, dir))
    H.sql(url, "insert into tags values (1)")
    local before = H.scalar(url, "select applied_at from moonshift_migrations where version = 3")
    H.run_ok(cmd("redo", url, dir), "^reverted 003 tags %(%d+ ms%)\napplied 003 tags %(%d+ ms%)\nredone; the database is at version 003\n$")
    assert.are.equal("0", H.scalar(url, "select count(*) from tags"), "the table was not recreated")
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.are_not.equal(before, H.scalar(url, "select applied_at from moonshift_migrations where version = 3"))
  end)

  it("exits 2 and changes nothing when the newest migration has no down section", function()
    local url = H.new_db()
    local dir = H.migrations({ ["1_a.sql"] = "create table a (id int);\n" })
    H.run_ok(cmd("up", url, dir))
    H.sql(url, "insert into a values (1)")
    H.run_fails(cmd("redo", url, dir), "/1_a%.sql: has no %-%- migrate:down section", 2)
    assert.are.equal("1", H.scalar(url, "select count(*) from a"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("exits 2 when nothing is applied", function()
    local url = H.new_db()
    H.run_fails(cmd("redo", url, three()), "nothing to redo", 2)
    assert.is_false(exists(url, "users"))
  end)
end)

describe("transaction:false sections", function()
  it("run CREATE INDEX CONCURRENTLY with other statements, and the index is valid", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_table.sql"] = "create table docs (id int, title text);\ninsert into docs select g, 't' || g from generate_series(1, 100) g;\n",
      ["2_index.sql"] = [[
-- migrate:up transaction:false
create index concurrently docs_id on docs (id);
update docs set title = upper(title) where id <= 10;
create index concurrently docs_title on docs (title);

-- migrate:down transaction:false
drop index concurrently docs_title;
drop index concurrently docs_id;
]],
    })
    H.run_ok(cmd("up", url, dir), "applied 2 index %(%d+ ms%)\n2 migrations applied; the database is at version 2\n$")
    assert.are.same({ { "docs_id", "true" }, { "docs_title", "true" } }, H.sql(url, [[
      select c.relname, (i.indisvalid and i.indisready)::text from pg_index i
        join pg_class c on c.oid = i.indexrelid where i.indrelid = 'docs'::regclass order by 1]]))
    assert.are.equal("10", H.scalar(url, "select count(*) from docs where title like 'T%'"))
    assert.are.same({ "1", "2" }, versions(url))
    H.run_ok(cmd("down", url, dir), "^reverted 2 index")
    assert.are.equal("0", H.scalar(url, "select count(*) from pg_index where indrelid = 'docs'::regclass"))
    assert.are.same({ "1" }, versions(url))
  end)

  it("are required for CREATE INDEX CONCURRENTLY: exit 2 with file:line, nothing runs", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["1_table.sql"] = "create table docs (id int);\n",
      ["2_index.sql"] = "-- migrate:up\nselect 1;\n\ncreate index concurrently docs_id on docs (id);\n",
    })
    local res = H.run_fails(cmd("up", url, dir), "/2_index%.sql:4: 'create index concurrently docs_id on doc[^']*' cannot run inside a transaction", 2)
    assert.matches("transaction:false", res.err)
    assert.are.equal("", res.out)
    assert.is_false(exists(url, "docs"))
    assert.is_nil(versions(url))
  end)
end)

describe("a failure in the middle of a run", function()
  local function failing_run(second)
    local url = H.new_db()
    local dir = H.migrations({
      ["001_first.sql"] = "create table first (id int);\n",
      ["002_second.sql"] = second,
      ["003_third.sql"] = "create table third (id int);\n",
    })
    return url, dir, H.run(cmd("up", url, dir))
  end

  local function assert_stopped_at_second(url, res)
    assert.are.equal(1, res.code)
    assert.matches("^applied 001 first %(%d+ ms%)\n$", res.out)
    assert.matches("\nmigration 002 second failed[^\n]*; 1 before it in this run stay applied\n$", res.err)
    assert.is_true(exists(url, "first"))
    assert.is_false(exists(url, "second"), "the failed migration's first statement must be rolled back")
    assert.is_false(exists(url, "third"))
    assert.are.same({ "1" }, versions(url))
  end

  it("keeps the migrations before it, leaves nothing of the failed one, runs nothing after", function()
    local url, dir, res = failing_run(
      "-- migrate:up\ncreate table second (id int);\ninsert into second values (1);\nselect id, nosuch\n  from second;\n")
    assert_stopped_at_second(url, res)
    assert.matches("^moonshift: [^\n]*/002_second%.sql:4:12: ERROR 42703 undefined_column: column \"nosuch\" does not exist\n", res.err)
    assert.matches(caret(4, "select id, nosuch", 12), res.err)

    H.write(dir .. "/002_second.sql", "-- migrate:up\ncreate table second (id int);\ninsert into second values (1);\nselect id\n  from second;\n")
    H.run_ok(cmd("up", url, dir), "^applied 002 second %(%d+ ms%)\napplied 003 third %(%d+ ms%)\n2 migrations applied; the database is at version 003\n$")
    assert.are.same({ "1", "2", "3" }, versions(url))
    assert.are.equal("1", H.scalar(url, "select count(*) from second"))
    assert.are.equal(checksum(H.read(dir .. "/002_second.sql")),
      H.scalar(url, "select checksum from moonshift_migrations where version = 2"))
  end)

  it("points at the failing statement when several share a line", function()
    local url, _, res = failing_run("create table second (id int); select 1; select * from second where id = any(1);\n")
    assert_stopped_at_second(url, res)
    assert.matches("/002_second%.sql:1:%d+: ERROR 42809 wrong_object_type: ", res.err)
    local col = tonumber(res.err:match("/002_second%.sql:1:(%d+):"))
    assert.is_true(col > 40, "column " .. col .. " is not in the third statement")
  end)

  it("counts the column in characters on a line with non-ASCII text", function()
    local url, _, res = failing_run("create table second (t text);\nselect 'h\195\169llo w\195\182rld', nosuch;\n")
    assert_stopped_at_second(url, res)
    assert.matches("/002_second%.sql:2:23: ERROR 42703 ", res.err)
    assert.matches(caret(2, "select 'h\195\169llo w\195\182rld', nosuch;", 23), res.err)
  end)

  it("shows DETAIL for a check violation", function()
    local url, _, res = failing_run(
      "create table second (n int check (n > 0));\ninsert into second values (1);\ninsert into second values (-5);\n")
    assert_stopped_at_second(url, res)
    assert.matches("/002_second%.sql:3: ERROR 23514 check_violation: new row for relation \"second\" violates check constraint \"second_n_check\"\n", res.err)
    assert.matches("\nDETAIL: Failing row contains %(%-5%)%.\n", res.err)
  end)

  it("shows HINT for an unknown function", function()
    local url, _, res = failing_run("create table second (id int);\nselect no_such_function(1, 'x');\n")
    assert_stopped_at_second(url, res)
    assert.matches("/002_second%.sql:2:8: ERROR 42883 undefined_function: function no_such_function%(integer, unknown%) does not exist\n", res.err)
    assert.matches("\nHINT: No function matches the given name and argument types%.", res.err)
    assert.matches(caret(2, "select no_such_function(1, 'x');", 8), res.err)
  end)

  it("shows CONTEXT for an error raised inside PL/pgSQL", function()
    local url, _, res = failing_run(
      "create table second (id int);\ndo $$\nbegin\n  raise exception 'custom failure %', 42 using detail = 'the detail', hint = 'the hint';\nend\n$$;\n")
    assert_stopped_at_second(url, res)
    assert.matches("/002_second%.sql:2: ERROR P0001 raise_exception: custom failure 42\n", res.err)
    assert.matches("\nDETAIL: the detail\n", res.err)
    assert.matches("\nHINT: the hint\n", res.err)
    assert.matches("\nCONTEXT: PL/pgSQL function inline_code_block line 3 at RAISE", res.err)
  end)
end)
