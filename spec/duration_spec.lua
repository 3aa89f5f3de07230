-- Durations and sizes: one reading for the command line and moonshift.lua.
-- A bare number is seconds on both paths (lock_lease = "30" is a 30 s
-- lease), both take the same spellings and refuse the same junk, and both
-- apply the same limits (a lease of at least 500ms, Lua memory of at least
-- 1MB). The lease length is read from the lease row itself, by a migration
-- that runs while the lease is held.
local H = require("spec_helper")

-- Copies the lease row's length into a table of the migrated database.
local SEEN = "CREATE TABLE seen AS SELECT lease::text AS lease FROM moonshift_lock;\n"

local function project(files)
  local dir = H.tmpdir()
  for name, text in pairs(files) do H.write(dir .. "/" .. name, text) end
  return dir
end

-- The project folder with `config` as moonshift.lua (none when nil) and the
-- given migrations.
local function with_config(config, migrations)
  local files = {}
  for name, text in pairs(migrations) do files["migrations/" .. name] = text end
  if config then files["moonshift.lua"] = config end
  return project(files)
end

-- Runs `up --lock=table` in dir with extra flags; returns the lease length
-- the migration saw, after checking the run and what it left behind.
local function lease_seen(dir, ...)
  local url = H.new_db()
  local args = { "up", "--lock=table", "--url", url, ... }
  H.run_ok(args, "applied 001 seen", { cwd = dir })
  assert.are.same({ "1" }, H.versions(url))
  assert.are.equal(0, H.count(url, "SELECT count(*) FROM moonshift_lock"))  -- released
  return H.scalar(url, "SELECT lease FROM seen")
end

-- Nothing was created in url: no tracking table, no lease table.
local function untouched(url)
  assert.is_nil(H.versions(url))
  assert.is_false(H.exists(url, "public.moonshift_lock"))
end

describe("durations", function()
  it("read a bare number as seconds in moonshift.lua, as on the command line: lock_lease = \"30\" is a 30 s lease", function()
    local dir = with_config('return { lock_lease = "30" }\n', { ["001_seen.sql"] = SEEN })
    assert.are.equal("00:00:30", lease_seen(dir))
    local plain = with_config(nil, { ["001_seen.sql"] = SEEN })
    assert.are.equal("00:00:30", lease_seen(plain, "--lock-lease", "30"))
  end)

  it("take the same spellings as a flag and in the config (fractions, us/ms/s/m/min/h/d)", function()
    local cases = {
      { "1.5s", "00:00:01.5" }, { "2m", "00:02:00" }, { "500ms", "00:00:00.5" },
      { "0.25min", "00:00:15" }, { "1h", "01:00:00" }, { "1d", "24:00:00" },
      { "750000us", "00:00:00.75" }, { ".5m", "00:00:30" }, { "90", "00:01:30" },
    }
    local plain = with_config(nil, { ["001_seen.sql"] = SEEN })
    for _, case in ipairs(cases) do
      local spelling, interval = case[1], case[2]
      assert.are.equal(interval, lease_seen(plain, "--lock-lease", spelling), "--lock-lease " .. spelling)
      local dir = with_config(('return { lock_lease = %q }\n'):format(spelling), { ["001_seen.sql"] = SEEN })
      assert.are.equal(interval, lease_seen(dir), "lock_lease = " .. spelling)
    end
  end)

  it("refuse a lease under 500ms with exit 2, from the flag and from the config (naming the file), changing nothing", function()
    local url = H.new_db()
    local plain = with_config(nil, { ["001_seen.sql"] = SEEN })
    local r = H.run_fails({ "up", "--lock=table", "--url", url, "--lock-lease", "100ms" },
      "^moonshift: %-%-lock%-lease takes a duration of at least 500ms, such as 30s, not '100ms'\n$", 2, { cwd = plain })
    assert.are.equal("", r.out)
    untouched(url)

    local dir = with_config('return { lock_lease = "100ms" }\n', { ["001_seen.sql"] = SEEN })
    r = H.run_fails({ "up", "--lock=table", "--url", url },
      "^moonshift: moonshift%.lua: lock_lease takes a duration of at least 500ms, such as 30s, not '100ms'\n$", 2,
      { cwd = dir })
    assert.are.equal("", r.out)
    untouched(url)
    -- the file is named as it was given, and a bad value stays refused when a flag overrides it
    H.run_fails({ "up", "--lock=table", "--url", url, "--lock-lease", "30s", "--config", dir .. "/moonshift.lua" },
      "^moonshift: " .. (dir .. "/moonshift.lua"):gsub("%p", "%%%0") .. ": lock_lease takes a duration of at least 500ms",
      2, { cwd = plain })
    untouched(url)
    -- inside the environment chosen
    local envs = with_config('return { environments = { prod = { lock_lease = "0.4s" } } }\n', { ["001_seen.sql"] = SEEN })
    H.run_fails({ "up", "--lock=table", "--url", url, "--env", "prod" },
      "^moonshift: moonshift%.lua: lock_lease takes a duration of at least 500ms, such as 30s, not '0%.4s'\n$", 2,
      { cwd = envs })
    untouched(url)
  end)

  it("refuse the same junk as a flag and in the config, with exit 2 and nothing changed", function()
    local url = H.new_db()
    local loop = { ["001_a.lua"] = "return { up = function(db) db:exec('CREATE TABLE a (id int)') end }\n" }
    local plain = with_config(nil, loop)
    for _, junk in ipairs({ "", "-1s", "+1s", "30sec", "30S", "1e3", " 30", "30 s", "1,5s", "inf", "nan",
                            "0x10", "s", "1.5.2s", "10ms5" }) do
      local q = junk:gsub("%p", "%%%0")
      local r = H.run_fails({ "up", "--url", url, "--lua-timeout", junk },
        "^moonshift: %-%-lua%-timeout takes a duration such as 10min, not '" .. q .. "'\n$", 2, { cwd = plain })
      assert.are.equal("", r.out)
      local dir = with_config(('return { lua_timeout = %q }\n'):format(junk), loop)
      r = H.run_fails({ "up", "--url", url },
        "^moonshift: moonshift%.lua: lua_timeout takes a duration such as 10min, not '" .. q .. "'\n$", 2, { cwd = dir })
      assert.are.equal("", r.out)
    end
    untouched(url)
    assert.is_false(H.exists(url, "public.a"))
  end)

  it("make lua_timeout = \"1\" one second: some hundred ms of work passes, a loop forever stops after about 1 s", function()
    local work = "return { up = function(db)\n  db:exec('SELECT pg_sleep(0.3)')\n"
      .. "  local n = 0\n  for i = 1, 3000000 do n = n + i end\n"
      .. "  db:exec('CREATE TABLE worked (n bigint)')\n  db:exec('INSERT INTO worked VALUES ($1)', n)\nend }\n"
    local forever = "return { up = function(db)\n  db:exec('CREATE TABLE looped (id int)')\n"
      .. "  while true do end\nend }\n"
    for _, how in ipairs({ "config", "flag" }) do
      local config = how == "config" and 'return { lua_timeout = "1" }\n' or nil
      local flags = how == "flag" and { "--lua-timeout", "1" } or {}
      local url = H.new_db()
      local dir = with_config(config, { ["001_work.lua"] = work })
      H.run_ok({ "up", "--url", url, table.unpack(flags) }, "applied 001 work", { cwd = dir })
      assert.are.equal("4500001500000", H.scalar(url, "SELECT n FROM worked"), how)
      assert.are.same({ "1" }, H.versions(url))

      url = H.new_db()
      dir = with_config(config, { ["001_loop.lua"] = forever })
      local t0 = H.now()
      local r = H.run_fails({ "up", "--url", url, table.unpack(flags) },
        "^moonshift: [^\n]*ran longer than its lua_timeout %(1%.0 s%) and was stopped\n", 1, { cwd = dir })
      local took = H.now() - t0
      assert.matches("001_loop%.lua:3:", r.err)
      assert.is_true(took >= 0.9 and took < 5, ("%s: took %.2f s"):format(how, took))
      assert.is_false(H.exists(url, "public.looped"))
      assert.are.same({}, H.versions(url))
    end
  end)

  it("as --lock-timeout: 500ms, .5s and 0.5 are the same wait for a lease held by another runner (exit 4)", function()
    local url = H.new_db()
    H.sql(url, [[
CREATE TABLE moonshift_lock (id integer PRIMARY KEY CHECK (id = 1), owner text NOT NULL, host text,
  acquired_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, lease interval NOT NULL);
INSERT INTO moonshift_lock VALUES (1, 'elsewhere:1:0', 'elsewhere', now(), now() + interval '1 hour', interval '30 s');
]])
    local dir = with_config(nil, { ["001_seen.sql"] = SEEN })
    for _, spelling in ipairs({ "500ms", ".5s", "0.5" }) do
      local t0 = H.now()
      H.run_fails({ "up", "--lock=table", "--url", url, "--lock-timeout", spelling },
        "^moonshift: could not take the migration lease within 0%.5s", 4, { cwd = dir })
      local took = H.now() - t0
      assert.is_true(took >= 0.4 and took < 5, ("%s: took %.2f s"):format(spelling, took))
    end
    assert.is_false(H.exists(url, "public.seen"))
    assert.are.equal("elsewhere:1:0", H.scalar(url, "SELECT owner FROM moonshift_lock"))
  end)
end)

describe("sizes", function()
  local hog = "return { up = function(db)\n  db:exec('CREATE TABLE hog (id int)')\n"
    .. "  local t, i = {}, 0\n  while true do i = i + 1; t[i] = string.rep('x', 100) .. i end\nend }\n"

  it("lua_memory in the config takes what --lua-memory takes (32MB, or bare bytes), and Lua stops at it", function()
    local cases = {
      { 'return { lua_memory = "32MB" }\n', {} },
      { 'return { lua_memory = "33554432" }\n', {} },
      { nil, { "--lua-memory", "32MB" } },
      { nil, { "--lua-memory", "33554432" } },
    }
    for _, case in ipairs(cases) do
      local url = H.new_db()
      local dir = with_config(case[1], { ["001_hog.lua"] = hog })
      local r = H.run_fails({ "up", "--url", url, table.unpack(case[2]) },
        "^moonshift: [^\n]*001_hog%.lua[^\n]*ran out of memory %(the limit is 32 MB", 1, { cwd = dir })
      assert.matches("migration 001 hog failed", r.out .. r.err)
      assert.is_false(H.exists(url, "public.hog"))
      assert.are.same({}, H.versions(url))
    end
  end)

  it("refuse under 1MB, junk and a Lua number with exit 2, naming the file or the flag", function()
    local url = H.new_db()
    local plain = with_config(nil, { ["001_hog.lua"] = hog })
    for _, bad in ipairs({ "512", "1048575", "0.5MB", "1kB", "", "-1MB", "1 MB", "1TB", "2gb", "1e9" }) do
      local q = bad:gsub("%p", "%%%0")
      H.run_fails({ "up", "--url", url, "--lua-memory", bad },
        "^moonshift: %-%-lua%-memory takes a size of at least 1MB, such as 512MB or 2GB, not '" .. q .. "'\n$", 2,
        { cwd = plain })
      local dir = with_config(('return { lua_memory = %q }\n'):format(bad), { ["001_hog.lua"] = hog })
      H.run_fails({ "up", "--url", url },
        "^moonshift: moonshift%.lua: lua_memory takes a size of at least 1MB, such as 512MB or 2GB, not '" .. q .. "'\n$",
        2, { cwd = dir })
    end
    -- once a number of megabytes: now refused, pointing at the string form
    local dir = with_config("return {\n  lua_memory = 64,\n}\n", { ["001_hog.lua"] = hog })
    H.run_fails({ "up", "--url", url },
      "^moonshift: moonshift%.lua:2: 'lua_memory' in the config must be a string such as \"512MB\", as for "
      .. "%-%-lua%-memory %(a bare number is bytes%), not the number 64\n$", 2, { cwd = dir })
    untouched(url)
    assert.is_false(H.exists(url, "public.hog"))
  end)
end)
