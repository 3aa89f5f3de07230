-- moonshift.config: checks the table a project's moonshift.lua returns and
-- resolves the environment chosen with --env / MOONSHIFT_ENV. Every problem
-- is raised as one "file:line: what was expected" message.
local M = {}

-- The keys a config (or an environment inside it) may set, with their types.
local SETTINGS = {
  url = "string", dir = "string", table = "string", lock = "string",
  lock_timeout = "string", statement_timeout = "string", lock_lease = "string",
  lib_path = "string", variables = "table", lua_timeout = "string", lua_memory = "string",
}
local TOP_ONLY = { environments = "table", hooks = "table", commands = "table" }
local HOOKS = { before_all = true, after_all = true, before_each = true, after_each = true, on_error = true }

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = tostring(k) end
  table.sort(out)
  return out
end

-- Line of the first `key =` (or ["key"] =) in the source, for messages.
local function line_of(source, key)
  local n = 1
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do
    if line:find("%f[%w_]" .. key:gsub("%p", "%%%0") .. "%s*=") or line:find('%["' .. key .. '"%]%s*=') then
      return n
    end
    n = n + 1
  end
  return nil
end

local function fail(path, source, key, msg)
  local line = key and line_of(source, key)
  error((line and ("%s:%d: "):format(path, line) or (path .. ": ")) .. msg, 0)
end

-- A PostgreSQL duration (lock_timeout and statement_timeout are sent to the
-- server as they are). moonshift's own durations and sizes (lock_lease,
-- lua_timeout, lua_memory) are read by the C core as on the command line.
local function is_pg_duration(s)
  local digits, unit = s:match("^(%d+)(%a*)$")
  if not digits then return false end
  for _, u in ipairs({ "", "us", "ms", "s", "min", "h", "d" }) do
    if unit == u then return true end
  end
  return false
end

-- Checks the settings of t (the top level or one environment).
local function check_settings(t, path, source, where, allowed)
  for k, v in pairs(t) do
    if type(k) ~= "string" then
      fail(path, source, nil, ("%s: keys must be names, not %s"):format(where, type(k)))
    end
    local want = SETTINGS[k] or (allowed and allowed[k])
    if not want then
      local known = {}
      for name in pairs(SETTINGS) do known[#known + 1] = name end
      for name in pairs(allowed or {}) do known[#known + 1] = name end
      table.sort(known)
      fail(path, source, k, ("unknown key '%s' in %s (known: %s)"):format(k, where, table.concat(known, ", ")))
    end
    if k == "lua_memory" and type(v) == "number" then
      fail(path, source, k, ("'lua_memory' in %s must be a string such as \"512MB\", as for --lua-memory "
        .. "(a bare number is bytes), not the number %s"):format(where, tostring(v)))
    end
    if type(v) ~= want then
      fail(path, source, k, ("'%s' in %s must be a %s, not a %s"):format(k, where, want, type(v)))
    end
  end
  for _, k in ipairs({ "lock_timeout", "statement_timeout" }) do
    if t[k] and not is_pg_duration(t[k]) then
      fail(path, source, k, ("'%s' must be a duration such as \"2s\" or \"10min\", not %q"):format(k, t[k]))
    end
  end
  if t.lock and t.lock ~= "advisory" and t.lock ~= "table" then
    fail(path, source, "lock", ("'lock' must be \"advisory\" or \"table\", not %q"):format(t.lock))
  end
end

local function check_functions(t, path, source, what, allowed)
  for k, v in pairs(t) do
    if type(k) ~= "string" then fail(path, source, what, what .. ": keys must be names") end
    if allowed and not allowed[k] then
      fail(path, source, k, ("unknown hook '%s' (known: %s)"):format(k, table.concat(sorted_keys(allowed), ", ")))
    end
    if type(v) ~= "function" then
      fail(path, source, k, ("%s.%s must be a function, not a %s"):format(what, k, type(v)))
    end
  end
end

-- Returns the resolved settings: the top level with the chosen environment's
-- settings laid over it, plus hooks, commands and variables.
function M.resolve(cfg, path, source, env)
  if type(cfg) ~= "table" then
    error(("%s: the config must return a table, not %s"):format(path, cfg == nil and "nothing" or type(cfg)), 0)
  end
  check_settings(cfg, path, source, "the config", TOP_ONLY)
  local out = { env = env, hooks = cfg.hooks or {}, commands = cfg.commands or {} }
  check_functions(out.hooks, path, source, "hooks", HOOKS)
  check_functions(out.commands, path, source, "commands", nil)
  for k in pairs(SETTINGS) do out[k] = cfg[k] end
  local envs = cfg.environments or {}
  for name, e in pairs(envs) do
    if type(e) ~= "table" then
      fail(path, source, tostring(name), ("environment '%s' must be a table, not a %s"):format(tostring(name), type(e)))
    end
    check_settings(e, path, source, ("environment '%s'"):format(tostring(name)))
  end
  if env then
    local e = envs[env]
    if not e then
      local names = sorted_keys(envs)
      error(("%s: no environment '%s' (the config defines: %s)"):format(path, env,
        #names > 0 and table.concat(names, ", ") or "none"), 0)
    end
    for k, v in pairs(e) do
      if k == "variables" then
        local merged = {}
        for vk, vv in pairs(out.variables or {}) do merged[vk] = vv end
        for vk, vv in pairs(v) do merged[vk] = vv end
        out.variables = merged
      else
        out[k] = v
      end
    end
  end
  out.variables = out.variables or {}
  return out
end

-- print(...) of hooks and commands: to the run's reporter (stderr, or the
-- --json document's log) when the host has one.
local have_sys, sys = pcall(require, "moonshift.sys")
local function report_print(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  sys.report("log", table.concat(parts, "\t", 1, parts.n))
end

-- The environment a config file runs in: the standard globals (os.getenv
-- included), without os.exit, with print going to the run's reporter.
function M.env()
  local env_os = setmetatable({
    exit = function() error("os.exit is not allowed in moonshift.lua", 2) end,
  }, { __index = os })
  local env = setmetatable({ os = env_os, print = have_sys and sys.report and report_print or nil },
    { __index = _G })
  env._G = env
  return env
end

return M
