-- moonshift.sandbox: the fresh global environment each Lua migration runs in.
-- Reads fall through to the standard globals; writes stay in the migration's
-- own table, and the standard library tables are the migration's own copies,
-- so nothing leaks from one migration into the next. Adds
-- `migration` ({ path, version, name }), `print`, `log.info` / `log.warn`,
-- `progress(done, total)` and a `require` that loads the project's shared
-- helpers (lib/?.lua beside the migrations) once per migration, each module
-- in an environment of its own.
local M = {}

-- isatty/now/report from src/ldb.c; plain stand-ins where the host has none
-- (the moonshift.so module loaded by specs): report(kind, text) hands a
-- line ("log") or terminal drawing ("draw") to the run's reporter, which
-- shows it on stderr (text) or in the --json document's log.
local have_sys, sys = pcall(require, "moonshift.sys")
if not have_sys then
  sys = { isatty = function() return false end, now = os.time }
end

local LOADING = setmetatable({}, { __name = "loading" })
local PERIOD = 2        -- seconds between progress lines when not on a terminal
local REDRAW = 0.1      -- seconds between redraws of the bar on a terminal
local BAR_WIDTH = 30

local function no_exit()
  error("os.exit is not allowed in a migration: raise an error to stop it", 2)
end

local function dir_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- The module search path used when none is given: lib/ in the folder of the
-- migration file ("DIR/lib/?.lua;DIR/lib/?/init.lua").
function M.default_path(info)
  local dir = dir_of(info.path or "")
  return dir .. "/lib/?.lua;" .. dir .. "/lib/?/init.lua"
end

local function label_of(info)
  local base = ((info.path or ""):match("([^/]*)$") or ""):gsub("%.lua$", "")
  if base == "" then base = ("%s_%s"):format(tostring(info.version), tostring(info.name)) end
  return base
end

local function num(x)
  if math.type(x) == "integer" then return tostring(x) end
  local i = math.tointeger(x)
  return i and tostring(i) or ("%.1f"):format(x)
end

-- One line of the migration's output, "[label] " before each of its lines.
-- The reporter adds the label itself (the --json log keeps the bare text).
local function emit_line(state, kind, msg)
  state.clear_bar()
  if state.report then state.report("log", kind .. msg) return end
  local prefix = "[" .. state.label .. "] "
  state.out:write(prefix, kind, (msg:gsub("\n", "\n" .. prefix)), "\n")
end

-- print(...): like Lua's, to the run's reporter instead of stdout
local function new_print(state)
  return function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    emit_line(state, "", table.concat(parts, "\t", 1, parts.n))
  end
end

local function new_log(state)
  local function emit(kind, fmt, ...)
    local msg
    if select("#", ...) > 0 then msg = string.format(fmt, ...) else msg = tostring(fmt) end
    emit_line(state, kind, msg)
  end
  return {
    -- log.info(fmt, ...): a line on stderr, string.format'ed when given arguments
    info = function(fmt, ...) emit("", fmt, ...) end,
    -- log.warn(fmt, ...): the same, marked "warning: "
    warn = function(fmt, ...) emit("warning: ", fmt, ...) end,
  }
end

-- "~N s left" from the pace so far, while done is between 0 and total.
local function estimate(done, total, elapsed)
  if not total or total <= 0 or done <= 0 or done >= total then return "" end
  return (", ~%.1f s left"):format(elapsed / done * (total - done))
end

-- progress(done, total): a bar redrawn in place on a terminal; otherwise a
-- line at the first call, then at most every PERIOD seconds, and at 100%.
-- Both show the time elapsed and, with a total, an estimate of the rest.
local function new_progress(state)
  local started, last, finished
  return function(done, total)
    if type(done) ~= "number" then error("progress(done, total): done must be a number", 2) end
    if total ~= nil and type(total) ~= "number" then error("progress(done, total): total must be a number", 2) end
    local now = sys.now()
    local complete = total ~= nil and total > 0 and done >= total
    if complete and finished == done then return end
    if not complete then finished = nil end
    if started == nil then started, last = now, nil end
    local frac = total ~= nil and total > 0 and math.min(done / total, 1) or nil
    local out = state.out
    if state.tty then
      if not complete and last and now - last < REDRAW then return end
      local fill = frac and math.floor(frac * BAR_WIDTH + 0.5) or 0
      local bar = frac and ("[%s%s] %3d%% "):format(("#"):rep(fill), ("."):rep(BAR_WIDTH - fill), math.floor(frac * 100))
        or ""
      out:write("\r\27[K[" .. state.label .. "] " .. bar .. num(done) .. (total and ("/" .. num(total)) or "")
        .. (", %.1f s"):format(now - started) .. estimate(done, total, now - started) .. (complete and "\n" or ""))
      state.bar = not complete
    else
      if not complete and last and now - last < PERIOD then return end
      local pct = frac and (" (%.1f%%)"):format(frac * 100) or ""
      out:write(("[%s] progress %s%s%s, %.1f s%s\n"):format(state.label, num(done), total and ("/" .. num(total)) or "",
        pct, now - started, estimate(done, total, now - started)))
    end
    last = now
    if complete then finished, started = done, nil end
  end
end

local new_env

-- A view of a shared table that reads through and refuses writes.
local function read_only(t, name)
  if type(t) ~= "table" then return t end
  return setmetatable({}, {
    __index = t,
    __newindex = function()
      error(("module '%s' is shared by every migration: it cannot be changed"):format(name), 2)
    end,
    __pairs = function() return next, t, nil end,
    __len = function() return #t end,
    __metatable = false,
  })
end

local function new_require(state)
  return function(name)
    if type(name) ~= "string" then error("require takes a module name", 2) end
    local cached = state.loaded[name] or state.libs[name]
    if cached == LOADING then error(("require '%s': the module requires itself (a loop in lib/)"):format(name), 2) end
    if cached ~= nil then return cached end
    local fname = name:gsub("%.", "/")
    local tried = {}
    for template in state.path:gmatch("[^;]+") do
      local file = template:gsub("%?", fname)
      local f = io.open(file, "rb")
      if f then
        f:close()
        local chunk, err = loadfile(file, "t", new_env(state))
        if not chunk then error(err, 0) end
        state.loaded[name] = LOADING
        -- forget the module when it raises, so the error is not hidden by a
        -- "loop" the next time
        local _ <close> = setmetatable({}, { __close = function()
          if state.loaded[name] == LOADING then state.loaded[name] = nil end
        end })
        local res = chunk(name, file)
        if res == nil then res = true end
        state.loaded[name] = res
        return res, file
      end
      tried[#tried + 1] = "\n\tno file '" .. file .. "'"
    end
    -- not a project helper: the modules of the host (standard and installed),
    -- shared by every migration, so seen through a read-only view
    local ok, res = pcall(require, name)
    if ok then return read_only(res, name) end
    if type(res) == "string" and res:find("module '" .. name .. "' not found:", 1, true) == 1 then
      error(("module '%s' not found:%s%s"):format(name, table.concat(tried), res:sub(#name + 21)), 2)
    end
    error(res, 0)
  end
end

-- Standard library tables a migration may patch (string.trim = ...): each
-- migration gets copies, shared with its lib/ modules, so a patch does not
-- reach the next migration (nor moonshift's own code).
local COPIED = { "string", "table", "math", "utf8", "coroutine", "io", "os" }

local function copy_libs()
  local libs = {}
  for _, name in ipairs(COPIED) do
    local t = {}
    for k, v in pairs(_G[name]) do t[k] = v end
    libs[name] = t
  end
  libs.os.exit = no_exit
  return libs
end

-- Lua's base functions a migration may use. Left out: debug (it reaches
-- everything), package (require is the migration's own), and load,
-- loadfile and dofile, which come back text-only: a binary chunk could
-- crash the host.
local BASE = { "assert", "collectgarbage", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
  "rawequal", "rawget", "rawlen", "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "xpcall" }

local function text_only(what, mode)
  if mode ~= nil and mode ~= "t" then
    error(what .. ": binary chunks are not allowed in a migration (mode must be \"t\")", 3)
  end
end

local function loaders(env)
  local function l_load(chunk, name, mode, e)
    text_only("load", mode)
    return load(chunk, name, "t", e or env)
  end
  local function l_loadfile(file, mode, e)
    text_only("loadfile", mode)
    return loadfile(file, "t", e or env)
  end
  local function l_dofile(file)
    local f = assert(loadfile(file, "t", env))
    return f()
  end
  return l_load, l_loadfile, l_dofile
end

-- Every string's metatable is shared; getmetatable("") gives a name instead
-- of the real string table, so no migration can patch it for the next.
do
  local mt = getmetatable("")
  if mt and mt.__metatable == nil then mt.__metatable = "string" end
end

function new_env(state)
  local env = {
    migration = state.info,
    print = state.print,
    log = state.log,
    progress = state.progress,
    require = state.require,
    _VERSION = _VERSION,
  }
  for _, name in ipairs(BASE) do env[name] = _G[name] end
  for name, t in pairs(state.libs) do env[name] = t end
  env.load, env.loadfile, env.dofile = loaders(env)
  env._G = env
  return env
end

-- Returns a new environment for the migration described by info
-- ({ path = ..., version = ..., name = ... }). opts (optional):
--   path     module search path for require, "?"-templates separated by ";"
--   lib_dir  or a folder of helpers, searched as DIR/?.lua;DIR/?/init.lua
--            (default: lib/ beside the migration, M.default_path(info))
--   out      stream for log and progress (default: the run's reporter when
--            the host has one, else io.stderr)
--   tty      draw progress as a bar (default: whether stderr is a terminal)
function M.env(info, opts)
  opts = opts or {}
  local state = {
    info = info,
    label = label_of(info),
    path = opts.path or (opts.lib_dir and (opts.lib_dir .. "/?.lua;" .. opts.lib_dir .. "/?/init.lua"))
      or M.default_path(info),
    out = opts.out or (sys.report and { write = function(_, text) sys.report("draw", text) end }) or io.stderr,
    report = not opts.out and sys.report or nil,
    loaded = {},
    libs = copy_libs(),
    bar = false,
  }
  if opts.tty ~= nil then state.tty = opts.tty else state.tty = sys.isatty(2) end
  function state.clear_bar()
    if state.bar then
      state.out:write("\r\27[K")
      state.bar = false
    end
  end
  state.log = new_log(state)
  state.print = new_print(state)
  state.progress = new_progress(state)
  state.require = new_require(state)
  return new_env(state)
end

return M
