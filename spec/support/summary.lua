-- summary.lua: busted output handler for moonshift's specs.
--
-- Prints one character per test as it ends ('.' passed, 'F' failed, 'E' error,
-- 'P' pending), a line per spec file, then every failure and error with its
-- test name, location, message and traceback (busted's own frames left out),
-- the pending tests, and last a line CI reads, alone on its line:
--
--   N passed, N failed            or   N passed, N failed, N skipped
--
-- Errors (in a test, a hook or while loading a file) count as failed; pending
-- tests count as skipped. With MS_SUMMARY_FILE set, the three numbers are also
-- written there ("passed failed skipped"), for run-specs.sh to add up passes.

local pretty = require("pl.pretty")

return function(options)
  local busted = require("busted")
  local handler = require("busted.outputHandlers.base")()
  local out = io.stdout
  local column = 0

  local function write(s)
    out:write(s)
    out:flush()
  end

  local function mark(ch)
    if column >= 72 then
      write("\n  ")
      column = 0
    end
    write(ch)
    column = column + 1
  end

  local function message_of(m)
    if type(m) == "string" then return m end
    if m == nil then return "(no message)" end
    return pretty.write(m)
  end

  -- Drops the frames of busted and its libraries, which every traceback ends with.
  local function trim_traceback(tb)
    if type(tb) ~= "string" then return nil end
    local kept = {}
    for line in tb:gmatch("[^\n]+") do
      local internal = line:find("/busted/", 1, true) or line:find("/luassert/", 1, true)
        or line:find("/pl/", 1, true) or line:find("/system/", 1, true)
        or line:find("^%s*%[C%]: in function 'xpcall'")
        or line:find("^%s*%[C%]: in %?$") or line:find("^%s*%(%.%.%.tail calls%.%.%.%)$")
      if not internal and not line:find("^stack traceback:") then
        kept[#kept + 1] = line
      end
    end
    if #kept == 0 then return nil end
    return "stack traceback:\n" .. table.concat(kept, "\n")
  end

  local function where(item)
    local trace = item.element and item.element.trace or item.trace
    if trace and trace.short_src then
      return trace.short_src .. ":" .. tostring(trace.currentline)
    end
    return nil
  end

  local function report(kind, item, index)
    write(("\n%d) %s: %s\n"):format(index, kind, item.name or "(unnamed)"))
    local loc = where(item)
    if loc then write("   at " .. loc .. "\n") end
    write(message_of(item.message):gsub("\n*$", "") .. "\n")
    local tb = trim_traceback(item.trace and item.trace.traceback)
    if tb then write(tb .. "\n") end
  end

  handler.fileStart = function(file)
    if column > 0 then write("\n") end
    write(file.name .. " ")
    column = 0
    return nil, true
  end

  handler.testEnd = function(element, parent, status)
    local ch = "."
    if status == "failure" then ch = "F"
    elseif status == "error" then ch = "E"
    elseif status == "pending" then ch = "P" end
    mark(ch)
    return nil, true
  end

  handler.errorOutsideTest = function(element)
    if element.descriptor ~= "it" then mark("E") end
    return nil, true
  end

  handler.suiteEnd = function()
    write("\n")
    local n = 0
    for _, f in ipairs(handler.failures) do
      n = n + 1
      report("FAILED", f, n)
    end
    for _, e in ipairs(handler.errors) do
      n = n + 1
      report("ERROR", e, n)
    end
    for _, p in ipairs(handler.pendings) do
      local why = p.message and (" (" .. message_of(p.message) .. ")") or ""
      write(("\npending: %s%s\n"):format(p.name, why))
    end
    local failed = handler.failuresCount + handler.errorsCount
    local line = ("%d passed, %d failed"):format(handler.successesCount, failed)
    if handler.pendingsCount > 0 then
      line = line .. (", %d skipped"):format(handler.pendingsCount)
    end
    write(("\nfinished in %.2f s\n%s\n"):format(handler.getDuration(), line))
    local counts = os.getenv("MS_SUMMARY_FILE")
    if counts and counts ~= "" then
      local f = assert(io.open(counts, "w"))
      f:write(("%d %d %d\n"):format(handler.successesCount, failed, handler.pendingsCount))
      f:close()
    end
    return nil, true
  end

  busted.subscribe({ "file", "start" }, handler.fileStart)
  busted.subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ "error" }, handler.errorOutsideTest)
  busted.subscribe({ "failure" }, handler.errorOutsideTest)
  busted.subscribe({ "suite", "end" }, handler.suiteEnd)

  return handler
end
