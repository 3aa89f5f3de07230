-- SQL files run the way `psql -f` runs them: statements cut by PostgreSQL's
-- lexical rules, non-transactional sections sent one statement at a time,
-- COPY data streamed, pg_dump output usable as a first migration, errors
-- pinned to file:line:col, and failed non-transactional runs recorded.
local H = require("spec_helper")
local count = H.count
local BIN = os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin"

local function up(url, dir, extra)
  return H.run({ "up", "--url", url, "--dir", dir, table.unpack(extra or {}) })
end


local function tracking(url)
  return H.sql(url, "SELECT version, name, coalesce(failed_op, 'applied') FROM moonshift_migrations ORDER BY version")
end

describe("statement splitting against a real server", function()
  -- Every lexical rule in one non-transactional section: each statement is
  -- sent alone, so the server log shows exactly where moonshift cut.
  local body = table.concat({
    "CREATE TABLE lex (id int, t text);",
    "INSERT INTO lex VALUES (1, 'it''s; here');",
    "INSERT INTO lex VALUES (2, E'back\\\\slash \\' quote; semi');",
    "INSERT INTO lex VALUES (3, U&'d\\0061t\\+000061;');",
    "INSERT INTO lex VALUES (4, \"t\") -- not a column: fails? no, see below\n  ;",
    "CREATE FUNCTION f1() RETURNS text LANGUAGE plpgsql AS $fn$ BEGIN RETURN $x$;$x$; END; $fn$;",
    "CREATE FUNCTION f2(i int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT i + 1; SELECT i + 2; END;",
    "/* outer /* nested; */ still comment; */ INSERT INTO lex VALUES (5, (SELECT ';'));",
    "SELECT 1",
  }, "\n")
  -- statement 5 references column t as "t": valid (quoted identifier = t)
  body = body:gsub('VALUES %(4, "t"%)', "VALUES (4, (SELECT \"t\" FROM (SELECT 'dq;' AS t) s))")

  it("sends each statement whole, with nothing cut inside quotes, comments or bodies", function()
    local url, name = H.new_db()
    H.sql(H.url(), ("ALTER DATABASE %q SET log_statement = 'all'"):format(name))
    local dir = H.migrations({ ["001_lex.sql"] = "-- migrate:up transaction:false\n" .. body .. "\n" })
    local mark = H.log_mark()
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    local log = H.log_since(mark)
    local seen = {}
    -- each statement is its own message: "statement:" (simple protocol) or
    -- "execute <unnamed>:" (extended protocol, one statement per message)
    for stmt in log:gmatch("LOG:%s+[%w <>]-: (.-)\n[^\t]") do seen[#seen + 1] = stmt end
    local joined = table.concat(seen, "\n---\n")
    assert.truthy(joined:find("INSERT INTO lex VALUES (1, 'it''s; here');", 1, true), joined)
    assert.truthy(joined:find("$fn$ BEGIN RETURN $x$;$x$; END; $fn$;", 1, true), joined)
    assert.truthy(joined:find("BEGIN ATOMIC SELECT i + 1; SELECT i + 2; END;", 1, true), joined)
    -- the nested comment is not cut at its inner ';' (it leads the statement)
    assert.truthy(joined:find("\n---\nINSERT INTO lex VALUES (5, (SELECT ';'));\n---\n", 1, true), joined)
    assert.is_nil(joined:find("still comment", 1, true), joined)
    assert.are.equal(5, count(url, "SELECT count(*) FROM lex"))
    assert.are.equal("it's; here", H.scalar(url, "SELECT t FROM lex WHERE id = 1"))
    assert.are.equal("back\\slash ' quote; semi", H.scalar(url, "SELECT t FROM lex WHERE id = 2"))
    assert.are.equal("data;", H.scalar(url, "SELECT t FROM lex WHERE id = 3"))
    assert.are.equal("dq;", H.scalar(url, "SELECT t FROM lex WHERE id = 4"))
    assert.are.equal(";", H.scalar(url, "SELECT t FROM lex WHERE id = 5"))
    assert.are.equal("3", H.scalar(url, "SELECT f2(1)"))
  end)

  it("gives the same result sent in a transaction (pipelined) as one by one", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_lex.sql"] = "-- migrate:up\n" .. body .. "\n" })
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(5, count(url, "SELECT count(*) FROM lex"))
    assert.are.equal("data;", H.scalar(url, "SELECT t FROM lex WHERE id = 3"))
    assert.are.same({ { "1", "lex", "applied" } }, tracking(url))
  end)

  it("honours goose StatementBegin/StatementEnd blocks", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_goose.sql"] = [[
-- migrate:up transaction:false
-- +goose StatementBegin
CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS '
BEGIN
  RETURN 7;
END;
';
-- +goose StatementEnd
SELECT g();
]] })
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("7", H.scalar(url, "SELECT g()"))
  end)
end)

describe("sections outside a transaction", function()
  it("run CREATE INDEX CONCURRENTLY, ALTER TYPE ADD VALUE and VACUUM among other statements", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_base.sql"] = "CREATE TYPE color AS ENUM ('red');\nCREATE TABLE items (id int, c color);\n",
      ["002_online.sql"] = [[
-- migrate:up transaction:false
ALTER TYPE color ADD VALUE 'green';
INSERT INTO items VALUES (1, 'green');
CREATE INDEX CONCURRENTLY items_id ON items (id);
VACUUM items;
-- migrate:down transaction:false
DROP INDEX CONCURRENTLY items_id;
]],
    })
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("t", H.scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_id'::regclass"))
    assert.are.equal("green", H.scalar(url, "SELECT c FROM items"))
    assert.are.equal(0, H.run({ "down", "--url", url, "--dir", dir }).code)
    assert.is_nil(H.scalar(url, "SELECT to_regclass('items_id')"))
  end)

  it("are recorded as failed part way, then resumed at the failed statement", function()
    local url = H.new_db()
    local files = {
      ["001_part.sql"] = "-- migrate:up transaction:false\nCREATE TABLE p1 (id int);\nCREATE TABLE p2 (id int);\nINSERT INTO p1 VALUES ('x');\n",
      ["002_next.sql"] = "CREATE TABLE nxt (id int);\n",
    }
    local dir = H.migrations(files)
    local r = up(url, dir)
    assert.are.equal(1, r.code)
    assert.matches("001_part%.sql:4:%d+: ERROR 22P02 invalid_text_representation", r.err)
    assert.matches("statement 3 of 3 failed and the 2 before it stay applied", r.err)
    assert.are.same({ { "1", "part", "up" } }, tracking(url))
    assert.are.equal("3", H.scalar(url, "SELECT statements_done + 1 FROM moonshift_migrations"))
    assert.are.equal("2", H.scalar(url, "SELECT cardinality(statement_hashes) FROM moonshift_migrations"))
    assert.is_not_nil(H.scalar(url, "SELECT to_regclass('p2')"))
    assert.is_nil(H.scalar(url, "SELECT to_regclass('nxt')"))
    H.run_ok({ "status", "--url", url, "--dir", dir }, "failed up at 3/3")
    -- down refuses while the attempt is unresolved
    H.run_fails({ "down", "--url", url, "--dir", dir }, "moonshift repair 001", 1)
    -- a statement that already ran was edited: no resume
    H.write(dir .. "/001_part.sql", "-- migrate:up transaction:false\nCREATE TABLE p1 (id bigint);\nCREATE TABLE p2 (id int);\nINSERT INTO p1 VALUES (1);\n")
    H.run_fails({ "up", "--url", url, "--dir", dir }, "001_part%.sql:2: statement 1 changed", 2)
    -- the failing statement is fixed: up resumes there, without rerunning 1 and 2
    H.write(dir .. "/001_part.sql", "-- migrate:up transaction:false\nCREATE TABLE p1 (id int);\nCREATE TABLE p2 (id int);\nINSERT INTO p1 VALUES (1);\n")
    r = H.run_ok({ "up", "--url", url, "--dir", dir }, "applied 002 next")
    assert.matches("resuming [^\n]*001_part%.sql at statement 3 of 3", r.err)
    assert.are.same({ { "1", "part", "applied" }, { "2", "next", "applied" } }, tracking(url))
    assert.are.equal(1, count(url, "SELECT count(*) FROM p1"))
  end)

  it("are started over after repair", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_part.sql"] = "-- migrate:up transaction:false\nCREATE TABLE r1 (id int);\nSELECT 1/0;\n" })
    assert.are.equal(1, up(url, dir).code)
    H.sql(url, "DROP TABLE r1")
    H.write(dir .. "/001_part.sql", "-- migrate:up transaction:false\nCREATE TABLE r1 (id int);\nSELECT 1;\n")
    H.run_ok({ "repair", "001", "--url", url, "--dir", dir }, "repaired 001 part")
    assert.are.same({}, tracking(url))
    H.run_ok({ "up", "--url", url, "--dir", dir }, "applied 001 part")
    assert.are.same({ { "1", "part", "applied" } }, tracking(url))
  end)

  it("resume a failed CREATE INDEX CONCURRENTLY after dropping the INVALID index it left", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_cic.sql"] = "-- migrate:up transaction:false\nCREATE TABLE u (id int, email text);\nINSERT INTO u VALUES (1, 'a'), (2, 'a');\nCREATE UNIQUE INDEX CONCURRENTLY u_email ON u (email);\n" })
    local r = up(url, dir)
    assert.are.equal(1, r.code)
    assert.matches("23505 unique_violation", r.err)
    assert.are.equal("f", H.scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'u_email'::regclass"))
    H.run_fails({ "check", "--url", url, "--dir", dir }, "1 failed", 8)
    H.sql(url, "DELETE FROM u WHERE id = 2")
    r = H.run_ok({ "up", "--url", url, "--dir", dir }, "applied 001 cic")
    assert.matches("dropping the INVALID index public%.u_email", r.err)
    assert.are.equal("t", H.scalar(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'u_email'::regclass"))
    assert.are.equal(1, count(url, "SELECT count(*) FROM u"))
  end)

  it("can be forced to applied", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_part.sql"] = "-- migrate:up transaction:false\nCREATE TABLE f1 (id int);\nSELECT 1/0;\n" })
    assert.are.equal(1, up(url, dir).code)
    assert.are.equal(1, up(url, dir).code) -- resumed, fails again at its statement
    H.run_fails({ "repair", "7", "--url", url, "--dir", dir }, "no failed attempt", 2)
    H.run_ok({ "force", "1", "--url", url, "--dir", dir }, "forced 001 part: recorded as applied")
    assert.are.same({ { "1", "part", "applied" } }, tracking(url))
    H.run_ok({ "up", "--url", url, "--dir", dir }, "nothing to apply")
  end)
end)

describe("COPY FROM stdin", function()
  local data = {}
  for i = 1, 2000 do data[#data + 1] = ("%d\trow %d with a tab\\there"):format(i, i) end
  local copy = "COPY nums (id, label) FROM stdin;\n" .. table.concat(data, "\n") .. "\n\\.\n"

  it("streams inline data inside a transaction", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_copy.sql"] = "CREATE TABLE nums (id int PRIMARY KEY, label text);\n" .. copy .. "INSERT INTO nums VALUES (0, 'after');\n" })
    local r = up(url, dir)
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(2001, count(url, "SELECT count(*) FROM nums"))
    assert.are.equal("row 7 with a tab\there", H.scalar(url, "SELECT label FROM nums WHERE id = 7"))
  end)

  it("streams inline data outside a transaction, and a bad row fails at its statement", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_copy.sql"] = "-- migrate:up transaction:false\nCREATE TABLE nums (id int PRIMARY KEY, label text);\n" .. copy })
    assert.are.equal(0, up(url, dir).code)
    assert.are.equal(2000, count(url, "SELECT count(*) FROM nums"))
    local url2 = H.new_db()
    local dir2 = H.migrations({ ["001_copy.sql"] = "CREATE TABLE nums (id int PRIMARY KEY, label text);\nCOPY nums FROM stdin;\n1\ta\nnot-a-number\tb\n\\.\n" })
    local r = up(url2, dir2)
    assert.are.equal(1, r.code)
    assert.matches("001_copy%.sql:2:.-22P02", r.err)
    assert.is_nil(H.scalar(url2, "SELECT to_regclass('nums')"))
  end)
end)

describe("pg_dump output as a first migration", function()
  it("rebuilds a database whose own dump is identical to the source's", function()
    local src_url, src = H.new_db()
    local dst_url, dst = H.new_db()
    local r = H.sh(("%s/pgbench -q -i -s 1 %s"):format(BIN, H.q(src)), {})
    assert.are.equal(0, r.code, r.err)
    H.sql(src_url, [[
      CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
      CREATE TABLE people (id serial PRIMARY KEY, name text, m mood, note text);
      COMMENT ON TABLE people IS 'people with ''quotes'', $$dollars$$ and ; semicolons';
      INSERT INTO people (name, m, note) VALUES
        ('O''Brien', 'ok', E'tab\there\nnewline \\ backslash'), ('ünï', 'happy', NULL);
      CREATE FUNCTION add1(i int) RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN i + 1; END; $fn$;
      CREATE FUNCTION add2(i int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT i + 1; SELECT i + 2; END;
      CREATE VIEW v_people AS SELECT id, upper(name) AS n FROM people WHERE note <> ';';
    ]])
    local dir = H.tmpdir()
    r = H.sh(("%s/pg_dump %s > %s/001_baseline.sql"):format(BIN, H.q(src), H.q(dir)), {})
    assert.are.equal(0, r.code, r.err)
    assert.truthy(H.read(dir .. "/001_baseline.sql"):find("\n\\restrict ", 1, true), "pg_dump writes \\restrict")
    r = H.run({ "up", "--url", dst_url, "--dir", dir, "--table", "meta.moonshift_migrations" })
    assert.are.equal(0, r.code, r.err)
    local function dump(db)
      local d = H.sh(("%s/pg_dump --exclude-schema=meta %s | grep -v '^\\\\\\(un\\)\\?restrict '"):format(BIN, H.q(db)), {})
      assert.are.equal(0, d.code, d.err)
      return d.out
    end
    local a, b = dump(src), dump(dst)
    assert.truthy(#a > 1000000)
    assert.are.equal(a, b)
    assert.are.equal("100000", H.scalar(dst_url, "SELECT count(*) FROM pgbench_accounts"))
  end)

  it("is adopted on an existing database with baseline", function()
    local url = H.new_db()
    H.sql(url, "CREATE TABLE existing (id int)")
    local dir = H.migrations({
      ["001_schema.sql"] = "CREATE TABLE existing (id int);\n",
      ["002_more.sql"] = "CREATE TABLE more (id int);\n",
    })
    H.run_ok({ "baseline", "1", "--url", url, "--dir", dir }, "baselined 001 schema")
    assert.are.same({ { "1", "schema", "applied" } }, tracking(url))
    H.run_ok({ "up", "--url", url, "--dir", dir }, "applied 002 more")
    assert.are.equal(2, count(url, "SELECT count(*) FROM moonshift_migrations"))
  end)
end)

describe("psql meta-commands", function()
  it("skips \\restrict and \\unrestrict", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_r.sql"] = "\\restrict abc123\nCREATE TABLE r (id int);\n\\unrestrict abc123\n" })
    H.run_ok({ "up", "--url", url, "--dir", dir }, "applied 001 r")
    assert.is_not_nil(H.scalar(url, "SELECT to_regclass('r')"))
  end)

  it("refuses any other meta-command with its file:line before running anything", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_ok.sql"] = "CREATE TABLE ok1 (id int);\n",
      ["002_meta.sql"] = "CREATE TABLE m (id int);\n\\set x 1\nSELECT 1;\n",
    })
    local r = H.run_fails({ "up", "--url", url, "--dir", dir }, "002_meta%.sql:2: .*\\set", 2)
    assert.is_nil(r.err:find("\n.*\n.*\n.*\n"), "one short message: " .. r.err)
    assert.is_nil(H.scalar(url, "SELECT to_regclass('ok1')"))
  end)
end)

describe("--dry-run and -v", function()
  it("prints numbered statements with file:line and changes nothing", function()
    local url = H.new_db()
    local dir = H.migrations({
      ["001_a.sql"] = "-- migrate:up\nCREATE TABLE a (id int);\n\nINSERT INTO a VALUES (1);\n",
      ["002_b.lua"] = "return { up = function(db) db:exec('INSERT INTO a VALUES ($1)', 2) end }",
      ["003_c.sql"] = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
    })
    local r = H.run_ok({ "up", "--dry-run", "--url", url, "--dir", dir })
    assert.matches("%[1%] [^\n]*001_a%.sql:2\n%s+CREATE TABLE a", r.out)
    assert.matches("%[2%] [^\n]*001_a%.sql:4\n%s+INSERT INTO a VALUES %(1%);", r.out)
    assert.matches("sql: INSERT INTO a VALUES %(%$1%)\n%s+%$1 = 2", r.out)
    assert.matches("listed, not rehearsed", r.out)
    assert.matches("003_c%.sql:2\n%s+CREATE INDEX CONCURRENTLY", r.out)
    assert.matches("nothing changed", r.out)
    assert.is_nil(H.scalar(url, "SELECT to_regclass('a')"))
    assert.is_nil(H.scalar(url, "SELECT to_regclass('moonshift_migrations')"))
  end)

  it("-v prints each statement's duration", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_a.sql"] = "CREATE TABLE a (id int);\nSELECT pg_sleep(0.05);\n" })
    local r = H.run_ok({ "up", "-v", "--url", url, "--dir", dir })
    assert.matches("001_a%.sql:1: [%d.]+ ms", r.err)
    local ms = tonumber(r.err:match("001_a%.sql:2: ([%d.]+) ms"))
    assert.truthy(ms and ms >= 50, r.err)
  end)
end)

describe("error reports", function()
  it("show CONTEXT for errors raised inside functions, with the condition name", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_f.sql"] = [[
CREATE FUNCTION boom() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'kaboom' USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0001';
END $$;
SELECT boom();
]] })
    local r = H.run_fails({ "up", "--url", url, "--dir", dir }, "001_f%.sql:5: ERROR P0001 raise_exception: kaboom", 1)
    assert.matches("\nDETAIL: the detail", r.err)
    assert.matches("\nHINT: the hint", r.err)
    assert.matches("\nCONTEXT: PL/pgSQL function boom%(%) line 3 at RAISE", r.err)
    assert.is_nil(H.scalar(url, "SELECT to_regproc('boom')"))
  end)

  it("point a caret at the column, counting characters", function()
    local url = H.new_db()
    local dir = H.migrations({ ["001_u.sql"] = "-- migrate:up\nSELECT 'ünïcödé' AS a,\n       nosuch AS b;\n" })
    local r = H.run_fails({ "up", "--url", url, "--dir", dir }, "001_u%.sql:3:8: ERROR 42703 undefined_column", 1)
    assert.matches("\n%s+3 |        nosuch AS b;\n%s+|        %^", r.err)
  end)
end)
