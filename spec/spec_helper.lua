-- spec_helper.lua: helpers for moonshift's black-box specs. busted loads it
-- first (see .busted); a spec gets it with `local H = require("spec_helper")`.
-- The specs expect the server of spec/support/run-specs.sh (what `make test`
-- runs), reached through PGHOST/PGPORT/PGUSER and MS_TEST_URL.
--
-- Paths and values
--   H.root, H.bin          absolute repo root and bin/moonshift, or the program
--                          MS_BIN names (relative to the root), e.g. a
--                          sanitizer build or a wrapper that execs one
--   H.psql                 the real psql binary (MS_PG_BINDIR, else Debian's PG 15)
--   H.default_timeout      seconds a command may run (120); opts.timeout overrides
--   H.NULL_MARK            what psql prints for NULL in H.sql (a lone "\1" byte)
--   H.q(s)                 s quoted for sh
--   H.has_bin()            true when bin/moonshift exists and is executable
--
-- Running the binary (args: a string of shell words used as is, or an array
-- of words that are quoted; opts may hold:
--   env = { NAME = "value", OTHER = false }   extra variables; false unsets one
--   cwd = "/path"                               folder to run in
--   stdin = "text"                              standard input (else /dev/null)
--   timeout = seconds | false                   kill after that (code 124)
--   program = "/bin/sh"                         run this instead of H.bin)
--   H.run(args, opts)      -> { code=, out=, err=, err_raw=, target=, cmd=, timed_out= };
--                             code is the exit status, 128+N when killed by signal
--                             N; err is stderr without its first line when that
--                             line names the database (`moonshift: database "db"
--                             on host:port as user`, kept in target); err_raw is
--                             all of stderr
--   H.run_ok(args, pattern, opts)           asserts exit 0 and stdout ~ pattern
--   H.run_fails(args, pattern, code, opts)  asserts exit code (any non-zero when
--                             nil) and stderr ~ pattern; both return the result
--   H.spawn(args, opts)    -> handle started in the background: handle.pid (the
--                             binary's own pid), handle:wait([timeout]) -> result as
--                             H.run (timed_out set and the process killed past the
--                             timeout), handle:kill([signal]), handle:running()
--   H.wait_all(handles)    -> array of results, in order
--   H.sh(script, opts)     -> runs a /bin/sh script, result as H.run
--
-- Databases (the test server is thrown away after the run)
--   H.new_db()             -> url, name: a fresh, empty, uniquely named database,
--                             url = postgres://USER@127.0.0.1:PORT/NAME
--   H.url(name)            TCP URL of database `name` (default postgres)
--   H.socket_url(name)     the same through the unix socket
--   H.conninfo(name)       the same as a key=value conninfo string
--   H.drop_db(name)        drops it, closing its connections
--   H.sql(url, query, opts)-> rows of every statement that returns rows: an array
--                             of arrays of strings, NULL as nil; raises psql's
--                             stderr on failure (ON_ERROR_STOP). url may be a
--                             URL or a conninfo. opts.timeout as above.
--   H.scalar(url, query)   -> first column of the first row, or nil
--   H.log_mark()           -> position in the server log; H.log_since(mark) -> the
--                             log text written after it (with log_statement=all
--                             set per database, e.g. ALTER DATABASE .. SET)
--
-- Shared by the specs
--   H.cmd(command, url, dir, ...) -> { command, "--url", url, "--dir", dir, ... }
--   H.exists(url, relation)  true when to_regclass finds the relation
--   H.versions(url[, table]) versions in the tracking table (default
--                             public.moonshift_migrations) as strings, nil
--                             when the table does not exist
--   H.count(url, sql)        the first column of the first row, as a number
--   H.now(), H.sleep(s)      seconds (with fractions when lua-system is there)
--   H.wait_for(seconds, check) polls check() until true or seconds pass;
--                             returns its last answer
--   H.advisory_locks(name)   advisory locks (held or awaited) in database name
--   H.known_bug(desc, fn)    runs fn; a failure marks the test pending "BUG: desc"
--
-- Files (all removed when the run ends)
--   H.tmpdir()             -> path of a fresh empty folder
--   H.write(path, content) writes a file, creating its folders; H.read(path)
--   H.migrations(files)    -> folder holding { ["001_a.sql"] = "...", ... }

local H = {}

H.default_timeout = 120
H.NULL_MARK = "\1"

local FIELD_SEP = "\31"

function H.q(s)
  s = tostring(s)
  if s:match("^[%w%-%./_=:@,+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local q = H.q

local function words(args)
  if type(args) == "table" then
    local out = {}
    for i, a in ipairs(args) do out[i] = q(a) end
    return table.concat(out, " ")
  end
  return args or ""
end

-- Runs a shell command; returns its stdout and whether it exited 0.
local function capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end

local function must(cmd)
  local out, ok = capture(cmd)
  if not ok then error("command failed: " .. cmd, 2) end
  return (out:gsub("\n$", ""))
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function H.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function H.write(path, content)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then must("mkdir -p " .. q(dir)) end
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

local have_system, system = pcall(require, "system")
local function now()
  if have_system then return system.gettime() end
  return os.time()
end
local function sleep(s)
  if have_system then system.sleep(s) else os.execute("sleep " .. s) end
end

-- Repo root, from this file's own location.
do
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/[^/]*$") or "."
  H.root = must("cd " .. q(dir) .. "/.. && pwd -P")
end
H.bin = os.getenv("MS_BIN") or ""
if H.bin == "" then H.bin = "bin/moonshift" end
if H.bin:sub(1, 1) ~= "/" then H.bin = H.root .. "/" .. H.bin end
H.psql = (os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin") .. "/psql"

function H.has_bin()
  return os.execute("test -x " .. q(H.bin)) == true
end

-- Scratch space: MS_TEST_TMPDIR (owned by run-specs.sh) or a folder of our own.
local scratch, own_scratch
local live = {}  -- spawned handles not waited for yet
local counter = 0

local function scratch_dir()
  if not scratch then
    scratch = os.getenv("MS_TEST_TMPDIR")
    if not scratch or scratch == "" then
      scratch = must("mktemp -d " .. q((os.getenv("TMPDIR") or "/tmp") .. "/moonshift-spec.XXXXXX"))
      own_scratch = true
    end
  end
  return scratch
end

local function cleanup()
  for h in pairs(live) do
    os.execute("kill -KILL " .. h.pid .. " 2>/dev/null")
    live[h] = nil
  end
  if own_scratch and scratch then
    os.execute("rm -rf " .. q(scratch))
    scratch, own_scratch = nil, nil
  end
end
H._finalizer = setmetatable({}, { __gc = cleanup })
do
  local ok, busted = pcall(require, "busted")
  if ok and type(busted) == "table" and busted.subscribe then
    busted.subscribe({ "exit" }, function() cleanup() return nil, true end)
  end
end

function H.tmpdir()
  return must("mktemp -d " .. q(scratch_dir() .. "/d.XXXXXX"))
end

function H.migrations(files)
  local dir = H.tmpdir()
  for name, content in pairs(files) do
    H.write(dir .. "/" .. name, content)
  end
  return dir
end

local function fresh_files()
  counter = counter + 1
  return ("%s/c%d_"):format(scratch_dir(), counter)
end

-- Builds "{ cd DIR && [timeout] env ... PROGRAM ARGS; }" for args and opts;
-- without a timeout the program replaces the shell (exec), keeping its pid.
local function command(args, opts, with_timeout)
  local parts = { "{" }
  if opts.cwd then parts[#parts + 1] = "cd " .. q(opts.cwd) .. " &&" end
  if not with_timeout then parts[#parts + 1] = "exec" end
  local timeout = opts.timeout
  if timeout == nil then timeout = H.default_timeout end
  if with_timeout and timeout then
    -- --foreground keeps it in busted's process group, which run-specs.sh
    -- kills whole when interrupted.
    parts[#parts + 1] = ("timeout --foreground -k 5 %s"):format(timeout)
  end
  parts[#parts + 1] = "env --default-signal"
  local names = {}
  for k in pairs(opts.env or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    assert(k:match("^[%a_][%w_]*$"), "bad variable name: " .. k)
    local v = opts.env[k]
    if v == false then
      parts[#parts + 1] = "-u " .. k
    else
      parts[#parts + 1] = q(k .. "=" .. tostring(v))
    end
  end
  parts[#parts + 1] = q(opts.program or H.bin)
  local w = words(args)
  if w ~= "" then parts[#parts + 1] = w end
  return table.concat(parts, " ") .. "; }"
end

local function display(args, opts)
  return (opts.program or "moonshift") .. " " .. words(args)
end

local function stdin_file(opts, base)
  if opts.stdin == nil then return "/dev/null" end
  return H.write(base .. "in", opts.stdin)
end

local function collect(base, code, cmd, timed_out)
  local res = {
    code = code,
    out = H.read(base .. "out") or "",
    err = H.read(base .. "err") or "",
    cmd = cmd,
    timed_out = timed_out or false,
  }
  -- the line naming the database comes first; specs of other things match
  -- stderr without it (res.target), specs of it read res.err_raw
  res.err_raw = res.err
  local target, rest = res.err:match('^(moonshift: database "[^\n]*" on [^\n]*)\n(.*)$')
  if target then res.target, res.err = target, rest end
  os.execute("rm -f " .. q(base) .. "*")
  return res
end

function H.run(args, opts)
  opts = opts or {}
  local base = fresh_files()
  local cmd = command(args, opts, true) .. " <" .. q(stdin_file(opts, base))
    .. " >" .. q(base .. "out") .. " 2>" .. q(base .. "err")
  local _, how, n = os.execute(cmd)
  if how == "signal" then
    error(("interrupted (signal %d) while running: %s"):format(n, display(args, opts)), 2)
  end
  local timeout = opts.timeout == nil and H.default_timeout or opts.timeout
  return collect(base, n, display(args, opts), timeout and n == 124)
end

function H.sh(script, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.program = "/bin/sh"
  return H.run({ "-c", script }, o)
end

-- Raises a test failure (a busted failure when busted runs us) at the spec line.
local function fail(msg)
  local ok, busted = pcall(require, "busted")
  if ok and type(busted) == "table" and busted.fail then busted.fail(msg, 3) end
  error(msg, 3)
end

local function describe_result(res, what)
  return ("%s\n  command: %s\n  exit code: %s%s\n  stdout: %s\n  stderr: %s"):format(
    what, res.cmd, tostring(res.code), res.timed_out and " (timed out)" or "",
    res.out == "" and "(empty)" or "[[\n" .. res.out .. "]]",
    res.err == "" and "(empty)" or "[[\n" .. res.err .. "]]")
end

function H.run_ok(args, pattern, opts)
  if type(pattern) == "table" then pattern, opts = nil, pattern end
  local res = H.run(args, opts)
  if res.code ~= 0 then
    fail(describe_result(res, "expected exit code 0"))
  elseif pattern and not res.out:find(pattern) then
    fail(describe_result(res, "expected stdout to match " .. ("%q"):format(pattern)))
  end
  return res
end

function H.run_fails(args, pattern, code, opts)
  if type(code) == "table" then code, opts = nil, code end
  local res = H.run(args, opts)
  if code and res.code ~= code then
    fail(describe_result(res, "expected exit code " .. code))
  elseif not code and res.code == 0 then
    fail(describe_result(res, "expected a non-zero exit code"))
  elseif pattern and not res.err:find(pattern) then
    fail(describe_result(res, "expected stderr to match " .. ("%q"):format(pattern)))
  end
  return res
end

function H.spawn(args, opts)
  opts = opts or {}
  local base = fresh_files()
  local inner = command(args, opts, false) .. " <" .. q(stdin_file(opts, base))
    .. " >" .. q(base .. "out") .. " 2>" .. q(base .. "err")
  -- The first background job execs the program, so $! is the program's pid;
  -- the subshell around it waits and writes the exit status.
  local script = ("( %s &\n echo $! >%s.t && mv %s.t %s\n wait $!; echo $? >%s.t && mv %s.t %s ) </dev/null >/dev/null 2>&1 &")
    :format(inner, q(base .. "pid"), q(base .. "pid"), q(base .. "pid"),
            q(base .. "code"), q(base .. "code"), q(base .. "code"))
  assert(os.execute(script), "could not start: " .. display(args, opts))
  local deadline = now() + 10
  while not file_exists(base .. "pid") do
    if now() > deadline then error("no pid for: " .. display(args, opts), 2) end
    sleep(0.01)
  end
  local h = { pid = tonumber(H.read(base .. "pid")), cmd = display(args, opts) }
  local started = now()
  local result

  function h.running()
    return result == nil and not file_exists(base .. "code")
  end

  function h.kill(a, b)
    local sig = a
    if a == h then sig = b end
    os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", h.pid))
  end

  function h.wait(a, b)
    if result then return result end
    local timeout = a
    if a == h then timeout = b end
    if timeout == nil then timeout = opts.timeout == nil and H.default_timeout or opts.timeout end
    local timed_out = false
    while not file_exists(base .. "code") do
      if timeout and now() - started > timeout and not timed_out then
        timed_out = true
        h.kill("KILL")
      end
      sleep(0.01)
    end
    live[h] = nil
    local code = tonumber((H.read(base .. "code") or ""):match("%d+"))
    result = collect(base, code, h.cmd, timed_out)
    return result
  end

  live[h] = true
  return h
end

function H.wait_all(handles)
  local results = {}
  for i, h in ipairs(handles) do results[i] = h.wait() end
  return results
end

-- Databases ---------------------------------------------------------------

local function server()
  local port, user = os.getenv("PGPORT"), os.getenv("PGUSER")
  if not os.getenv("MS_TEST_URL") or not port or not user then
    error("no test server: run the specs with `make test` or `sh spec/support/run-specs.sh`", 3)
  end
  return port, user, os.getenv("PGHOST")
end

function H.url(name)
  local port, user = server()
  return ("postgres://%s@127.0.0.1:%s/%s"):format(user, port, name or "postgres")
end

local function pct(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

function H.socket_url(name)
  local port, user, host = server()
  return ("postgresql://%s@%s:%s/%s"):format(pct(user), pct(host), port, pct(name or "postgres"))
end

local function cq(s)
  return "'" .. s:gsub("[\\']", "\\%0") .. "'"
end

function H.conninfo(name)
  local port, user, host = server()
  return ("host=%s port=%s user=%s dbname=%s"):format(cq(host), port, cq(user), cq(name or "postgres"))
end

local function parse_rows(out)
  local rows = {}
  for record in out:gmatch("(.-)\0") do
    local row, i = {}, 0
    for field in (record .. FIELD_SEP):gmatch("(.-)" .. FIELD_SEP) do
      i = i + 1
      if field ~= H.NULL_MARK then row[i] = field end
    end
    rows[#rows + 1] = row
  end
  return rows
end

function H.sql(url, query, opts)
  opts = opts or {}
  local base = fresh_files()
  H.write(base .. "sql", query)
  local timeout = opts.timeout == nil and 60 or opts.timeout
  local cmd = table.concat({
    timeout and ("timeout --foreground -k 5 " .. timeout) or "",
    "env PGCONNECT_TIMEOUT=10 PGCLIENTENCODING=UTF8",
    q(H.psql), "-X -q -A -t -v ON_ERROR_STOP=1 -0",
    "-F", q(FIELD_SEP), "-P", q("null=" .. H.NULL_MARK),
    "-d", q(url), "-f", q(base .. "sql"),
    "</dev/null >" .. q(base .. "out") .. " 2>" .. q(base .. "err"),
  }, " ")
  local ok, _, code = os.execute(cmd)
  local out, err = H.read(base .. "out") or "", H.read(base .. "err") or ""
  os.execute("rm -f " .. q(base) .. "*")
  if not ok then
    error(("psql failed (exit %s) on %s\n%s\nquery: %s"):format(
      tostring(code), url, err:gsub("\n$", ""), query), 2)
  end
  return parse_rows(out)
end

function H.scalar(url, query)
  local rows = H.sql(url, query)
  return rows[1] and rows[1][1]
end

local function ident(name)
  return '"' .. name:gsub('"', '""') .. '"'
end

local run_tag
function H.new_db()
  server()
  if not run_tag then
    run_tag = must("od -An -N3 -tx1 /dev/urandom | tr -d ' \n'")
  end
  counter = counter + 1
  local name = ("ms_%s_%d"):format(run_tag, counter)
  H.sql(os.getenv("MS_TEST_URL"), "CREATE DATABASE " .. ident(name))
  return H.url(name), name
end

function H.drop_db(name)
  H.sql(os.getenv("MS_TEST_URL"), "DROP DATABASE IF EXISTS " .. ident(name) .. " WITH (FORCE)")
end

-- Server log --------------------------------------------------------------

function H.log_mark()
  local log = os.getenv("MS_PG_LOG")
  local f = log and io.open(log, "rb")
  if not f then return 0 end
  local size = f:seek("end")
  f:close()
  return size
end

function H.log_since(mark)
  local log = os.getenv("MS_PG_LOG")
  local f = log and io.open(log, "rb")
  if not f then return "" end
  f:seek("set", mark or 0)
  local s = f:read("a")
  f:close()
  return s
end

package.loaded.spec_helper = H
-- Helpers the spec files share (see the list at the top).
function H.cmd(command, url, dir, ...)
  return { command, "--url", url, "--dir", dir, ... }
end

function H.exists(url, relation)
  return H.scalar(url, ("select to_regclass('%s') is not null"):format(relation)) == "t"
end

function H.versions(url, tbl)
  tbl = tbl or "public.moonshift_migrations"
  if not H.exists(url, tbl) then return nil end
  local out = {}
  for i, r in ipairs(H.sql(url, "select m.version::text from " .. tbl .. " m order by m.version")) do
    out[i] = r[1]
  end
  return out
end

function H.count(url, sql) return tonumber(H.scalar(url, sql)) end

H.now, H.sleep = now, sleep

function H.wait_for(seconds, check)
  local deadline = now() + seconds
  repeat
    local v = check()
    if v then return v end
    sleep(0.05)
  until now() > deadline
  return check()
end

function H.advisory_locks(name)
  return H.count(H.url(name), ("select count(*) from pg_locks l join pg_database d on d.oid = l.database "
    .. "where l.locktype = 'advisory' and d.datname = '%s'"):format(name))
end

function H.known_bug(description, fn)
  local ok, err = pcall(fn)
  if not ok then pending("BUG: " .. description .. " -- " .. tostring(err):match("^[^\n]*")) end
end

return H
