-- bench/lib.lua: small helpers for bench/bench.lua: running commands (timed
-- through bench/timeit), statistics, formatting, and writing files.
local M = {}

-- bench/run.sh sets these; the defaults serve BENCH_REPLAY and bench/profile.sh.
M.bin = os.getenv("BENCH_BIN") or "build/bench"
M.pg_bindir = os.getenv("MS_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
M.psql = M.pg_bindir .. "/psql"
M.work = os.getenv("BENCH_WORK") or "build/bench"

-- Quotes one word for sh.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Joins an argv table into a sh command line.
function M.cmdline(argv)
  local t = {}
  for i, a in ipairs(argv) do t[i] = M.q(a) end
  return table.concat(t, " ")
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  f:close()
end

local function tail(s, n)
  s = s or ""
  if #s > n then s = "..." .. s:sub(-n) end
  return s
end

-- Runs a sh command line; returns its stdout, or raises an error that shows
-- the end of its stderr.
function M.sh(cmd)
  local errf = M.work .. "/sh.err"
  local p = assert(io.popen(cmd .. " 2>" .. M.q(errf), "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then
    error(string.format("command failed (%s): %s\n%s", tostring(code), tail(cmd, 300),
                        tail(M.read(errf), 1500)), 0)
  end
  return out
end

-- Runs argv under timeit. opts.out / opts.input: files for stdout / stdin.
-- Returns { wall = s, rss = KiB, cpu = s }; raises an error when the command
-- exits non-zero.
function M.timed(argv, opts)
  opts = opts or {}
  local errf = M.work .. "/timed.err"
  local t = { M.bin .. "/timeit", "-e", errf }
  if opts.out then t[#t + 1] = "-o"; t[#t + 1] = opts.out end
  if opts.input then t[#t + 1] = "-i"; t[#t + 1] = opts.input end
  t[#t + 1] = "--"
  for _, a in ipairs(argv) do t[#t + 1] = a end
  local line = M.sh(M.cmdline(t))
  local wall, rss, code, cpu = line:match("^(%S+) (%d+) (%d+) (%S+)")
  if not wall then error("timeit printed: " .. line, 0) end
  if tonumber(code) ~= 0 then
    error(string.format("exit %s: %s\n%s", code, tail(M.cmdline(argv), 300),
                        tail(M.read(errf), 1500)), 0)
  end
  return { wall = tonumber(wall), rss = tonumber(rss), cpu = tonumber(cpu) }
end

-- psql for setup work, not timed: runs sql (a string) in database db.
function M.psql_c(db, sql)
  return M.sh(M.cmdline({ M.psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql }))
end

function M.psql_f(db, file)
  return M.sh(M.cmdline({ M.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", file }) ..
              " >/dev/null")
end

-- A fresh, empty database, with dirty buffers flushed so that each timed
-- run starts from the same server state.
function M.fresh_db(db)
  M.psql_c("postgres", "DROP DATABASE IF EXISTS " .. db .. " WITH (FORCE)")
  M.psql_c("postgres", "CREATE DATABASE " .. db)
  M.checkpoint()
end

function M.drop_db(db)
  M.psql_c("postgres", "DROP DATABASE IF EXISTS " .. db .. " WITH (FORCE)")
end

function M.checkpoint()
  M.psql_c("postgres", "CHECKPOINT")
end

---------------------------------------------------------------------------
-- statistics

-- { median, min, max, n } of a list of numbers.
function M.stats(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return { median = med, min = s[1], max = s[n], n = n }
end

-- Element-wise a[i] / b[i] (paired ratios of runs taken side by side).
function M.ratios(a, b)
  local r = {}
  if not a or not b then return r end
  for i = 1, math.min(#a, #b) do r[i] = a[i] / b[i] end
  return r
end

function M.field(samples, key)
  local t = {}
  for i, s in ipairs(samples) do t[i] = s[key] end
  return t
end

---------------------------------------------------------------------------
-- formatting

-- Three significant digits, thousands kept whole: 0.0123 -> "0.0123",
-- 12.34 -> "12.3", 1234.5 -> "1,235".
function M.num(x)
  if x == nil then return "–" end
  local a = math.abs(x)
  local s
  if x == math.floor(x) and a < 1000 then
    s = string.format("%d", math.floor(x))
  elseif a >= 1000 then
    s = string.format("%.0f", x):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(-?),", "%1")
  elseif a >= 100 then s = string.format("%.0f", x)
  elseif a >= 10 then s = string.format("%.1f", x)
  elseif a >= 1 then s = string.format("%.2f", x)
  else s = string.format("%.3g", x) end
  return s
end

-- "median [min–max]" of st, scaled by k (1000 turns seconds into ms).
function M.range(st, k)
  if not st then return "–" end
  k = k or 1
  if st.n == 1 then return M.num(st.median * k) .. " (1 run)" end
  return string.format("%s [%s–%s]", M.num(st.median * k), M.num(st.min * k), M.num(st.max * k))
end

function M.ratio(st)
  if not st then return "–" end
  if st.n == 1 then return string.format("%.2fx", st.median) end
  return string.format("%.2fx [%.2f–%.2f]", st.median, st.min, st.max)
end

function M.mib(kib)
  return kib and string.format("%.1f", kib / 1024) or "–"
end

-- A markdown table from a header list and rows (lists of strings).
function M.md_table(header, rows, align)
  local out = { "| " .. table.concat(header, " | ") .. " |" }
  local sep = {}
  for i = 1, #header do sep[i] = (align and align:sub(i, i) == "r") and "---:" or "---" end
  out[#out + 1] = "|" .. table.concat(sep, "|") .. "|"
  for _, r in ipairs(rows) do out[#out + 1] = "| " .. table.concat(r, " | ") .. " |" end
  return table.concat(out, "\n")
end

-- The same table as plain text columns, for the terminal.
function M.text_table(header, rows)
  local w = {}
  local all = { header }
  for _, r in ipairs(rows) do all[#all + 1] = r end
  for _, r in ipairs(all) do
    for i, c in ipairs(r) do w[i] = math.max(w[i] or 0, utf8.len(c) or #c) end
  end
  local out = {}
  for n, r in ipairs(all) do
    local cells = {}
    for i, c in ipairs(r) do cells[i] = c .. string.rep(" ", w[i] - (utf8.len(c) or #c)) end
    out[#out + 1] = table.concat(cells, "  ")
    if n == 1 then
      local dash = {}
      for i = 1, #w do dash[i] = string.rep("-", w[i]) end
      out[#out + 1] = table.concat(dash, "  ")
    end
  end
  return table.concat(out, "\n")
end

-- A Lua chunk that rebuilds v (tables of numbers, strings and booleans).
function M.serialize(v, indent)
  indent = indent or ""
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t == "number" then
    return math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  end
  if t ~= "table" then return tostring(v) end
  local keys = {}
  for k, x in pairs(v) do
    if type(x) ~= "function" then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  local inner, out = indent .. "  ", {}
  for _, k in ipairs(keys) do
    local key = type(k) == "number" and "[" .. k .. "]" or "[" .. string.format("%q", k) .. "]"
    out[#out + 1] = inner .. key .. " = " .. M.serialize(v[k], inner)
  end
  return "{\n" .. table.concat(out, ",\n") .. "\n" .. indent .. "}"
end

function M.log(fmt, ...)
  io.stderr:write(os.date("!%H:%M:%S "), string.format(fmt, ...), "\n")
end

return M
