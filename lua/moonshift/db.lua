-- moonshift.db: the methods of the `db` object that Lua migrations receive,
-- written over the C core's (src/ldb.c) exec, query, quote_ident,
-- quote_literal, transaction_status and sleep: the table form of query with
-- converters, query_one, scalar, server-side cursors (rows, each), savepoint,
-- transaction, and the catalog helpers of moonshift.catalog. See
-- docs/lua-api.md for the user's side.
local catalog = require("moonshift.catalog")

local M = {}

-- JSON ----------------------------------------------------------------------
-- A small decoder for json/jsonb values, which PostgreSQL always sends as
-- valid JSON. null decodes to nil; arrays carry their length in `n` so a
-- null element leaves a hole that can still be counted.

local json_decode
do
  local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local value

  local function fail(s, i, what)
    error(("cannot decode JSON at byte %d: %s"):format(i, what), 0)
  end

  local function skip(s, i)
    return s:find("[^ \t\r\n]", i) or #s + 1
  end

  local function str(s, i)
    local out, j = {}, i + 1
    while true do
      local k = s:find('["\\]', j)
      if not k then fail(s, i, "unterminated string") end
      out[#out + 1] = s:sub(j, k - 1)
      if s:sub(k, k) == '"' then return table.concat(out), k + 1 end
      local e = s:sub(k + 1, k + 1)
      if e == "u" then
        local cp = tonumber(s:sub(k + 2, k + 5), 16) or fail(s, k, "bad \\u escape")
        j = k + 6
        if cp >= 0xD800 and cp <= 0xDBFF and s:sub(j, j + 1) == "\\u" then
          local lo = tonumber(s:sub(j + 2, j + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            j = j + 6
          end
        end
        out[#out + 1] = utf8.char(cp)
      else
        out[#out + 1] = escapes[e] or fail(s, k, "bad escape")
        j = k + 2
      end
    end
  end

  local function num(s, i)
    -- tonumber keeps integers integers and makes 2.0 and 1e3 floats
    local text = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    local n = tonumber(text)
    if not n then fail(s, i, "bad number") end
    return n, i + #text
  end

  function value(s, i)
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == "{" then
      local obj = {}
      i = skip(s, i + 1)
      if s:sub(i, i) == "}" then return obj, i + 1 end
      while true do
        if s:sub(i, i) ~= '"' then fail(s, i, "expected a key") end
        local k, v
        k, i = str(s, i)
        i = skip(s, i)
        if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
        v, i = value(s, i + 1)
        obj[k] = v
        i = skip(s, i)
        c = s:sub(i, i)
        if c == "}" then return obj, i + 1 end
        if c ~= "," then fail(s, i, "expected ',' or '}'") end
        i = skip(s, i + 1)
      end
    elseif c == "[" then
      local arr, n = {}, 0
      i = skip(s, i + 1)
      if s:sub(i, i) == "]" then arr.n = 0 return arr, i + 1 end
      while true do
        n = n + 1
        arr[n], i = value(s, i)
        i = skip(s, i)
        c = s:sub(i, i)
        if c == "]" then arr.n = n return arr, i + 1 end
        if c ~= "," then fail(s, i, "expected ',' or ']'") end
        i = i + 1
      end
    elseif c == '"' then
      return str(s, i)
    elseif s:find("^true", i) then
      return true, i + 4
    elseif s:find("^false", i) then
      return false, i + 5
    elseif s:find("^null", i) then
      return nil, i + 4
    elseif c:find("[-%d]") then
      return num(s, i)
    end
    fail(s, i, "unexpected " .. (c == "" and "end" or ("'" .. c .. "'")))
  end

  function json_decode(s)
    local v, i = value(s, 1)
    if skip(s, i) <= #s then fail(s, i, "trailing characters") end
    return v
  end
end

M.json_decode = json_decode

-- Converters ----------------------------------------------------------------

-- PostgreSQL's text form of an array, { "a", NULL, "b c" }, to a Lua array of
-- strings (nested for more dimensions); NULL elements leave holes counted in
-- `n`. Bounds decorations ([0:1]={...}) are skipped.
local function array_decode(s)
  local i = (s:find("{", 1, true)) or error("not an array: " .. s, 0)
  local function list()
    local arr, n = {}, 0
    i = i + 1
    if s:sub(i, i) == "}" then i = i + 1 arr.n = 0 return arr end
    while true do
      local c = s:sub(i, i)
      local v
      if c == "{" then
        v = list()
      elseif c == '"' then
        local out = {}
        i = i + 1
        while true do
          local k = s:find('["\\]', i) or error("unterminated array element: " .. s, 0)
          out[#out + 1] = s:sub(i, k - 1)
          if s:sub(k, k) == '"' then i = k + 1 break end
          out[#out + 1] = s:sub(k + 1, k + 1)
          i = k + 2
        end
        v = table.concat(out)
      else
        local k = s:find("[,}]", i) or error("unterminated array: " .. s, 0)
        v = s:sub(i, k - 1)
        if v == "NULL" then v = nil end
        i = k
      end
      n = n + 1
      arr[n] = v
      c = s:sub(i, i)
      i = i + 1
      if c == "}" then arr.n = n return arr end
      if c ~= "," then error("malformed array: " .. s, 0) end
    end
  end
  return list()
end

local specials = { NaN = 0 / 0, Infinity = math.huge, ["-Infinity"] = -math.huge }

local converters = {
  json = json_decode,
  array = array_decode,
  number = function(v)
    local n = tonumber(v) or specials[v]
    if n == nil then error(("not a number: %q"):format(v), 0) end
    return n
  end,
  integer = function(v)
    local n = math.tointeger(v)
    if n == nil then error(("not an integer within 64 bits: %q"):format(v), 0) end
    return n
  end,
}

-- Checks convert ({ column = "json" | "array" | "number" | "integer" | fn })
-- and returns { column = fn }, or nil when there is nothing to convert.
local function converter_fns(convert)
  if convert == nil then return nil end
  if type(convert) ~= "table" then error("convert must be a table { column = converter }", 3) end
  local fns = {}
  for col, c in pairs(convert) do
    if type(c) == "string" then
      fns[col] = converters[c] or error(("convert.%s: unknown converter %q (json, array, number, integer, "
        .. "or a function)"):format(col, c), 3)
    elseif type(c) == "function" then
      fns[col] = c
    else
      error(("convert.%s: a converter is a name or a function, not a %s"):format(col, type(c)), 3)
    end
  end
  return fns
end

local function apply(rows, fns)
  if fns == nil then return rows end
  for _, row in ipairs(rows) do
    for col, fn in pairs(fns) do
      local v = row[col]
      if v ~= nil then
        local ok, out = pcall(fn, v, col)
        if not ok then error(("converting column %s: %s"):format(col, tostring(out)), 0) end
        row[col] = out
      end
    end
  end
  return rows
end

-- A query given either as (sql, ...) or as one table { sql =, args =, convert =,
-- batch = }; returns sql, args (packed, with n), converter functions, batch.
local function spec_of(q, ...)
  if type(q) == "table" then
    if select("#", ...) > 0 then error("a query given as a table takes its arguments in args = { ... }", 3) end
    if type(q.sql) ~= "string" then error("the query table needs sql = \"...\"", 3) end
    local args = q.args or {}
    if type(args) ~= "table" then error("args must be an array", 3) end
    local n = args.n or #args
    local batch = q.batch
    if batch ~= nil and (math.type(batch) ~= "integer" or batch < 1) then
      error("batch must be a positive integer", 3)
    end
    return q.sql, table.move(args, 1, n, 1, { n = n }), converter_fns(q.convert), batch
  end
  return q, table.pack(...), nil, nil
end

-- Methods -------------------------------------------------------------------

local cursor_count, savepoint_count = 0, 0

-- Returns the db methods: the C methods of ldb.c (core), wrapped and
-- extended. Called once by ms_ldb_open.
function M.methods(core)
  local methods = {}
  for k, v in pairs(core) do methods[k] = v end
  local raw_query, raw_exec, status = core.query, core.exec, core.transaction_status

  -- db:exec(sql, ...) or db:exec{ sql =, args = } -> rows affected
  function methods.exec(db, q, ...)
    if type(q) ~= "table" then return raw_exec(db, q, ...) end
    local sql, args = spec_of(q, ...)
    return raw_exec(db, sql, table.unpack(args, 1, args.n))
  end

  -- db:query(sql, ...) or db:query{ sql =, args =, convert = } -> rows, fields
  function methods.query(db, q, ...)
    if type(q) ~= "table" then return raw_query(db, q, ...) end
    local sql, args, fns = spec_of(q, ...)
    local rows, fields = raw_query(db, sql, table.unpack(args, 1, args.n))
    return apply(rows, fns), fields
  end
  local query = methods.query

  -- First row, or nil.
  function methods.query_one(db, q, ...)
    return (query(db, q, ...))[1]
  end

  -- First column of the first row, or nil.
  function methods.scalar(db, q, ...)
    local rows, fields = query(db, q, ...)
    local row = rows[1]
    if row == nil or fields[1] == nil then return nil end
    return row[fields[1]]
  end

  -- Rows of a server-side cursor, fetched `batch` (1000) at a time. Inside a
  -- transaction the cursor lives in it; outside one it is declared WITH HOLD
  -- (the server keeps the result when the DECLARE commits), so the loop body
  -- may run its own db:transaction calls. Returns a generic-for iterator whose
  -- fourth value closes the cursor when the loop ends, breaks or raises.
  function methods.rows(db, q, ...)
    local sql, args, fns, batch = spec_of(q, ...)
    batch = batch or 1000
    local st = status(db)
    if st == "inerror" then
      error("db:rows: the transaction is aborted by an earlier error (use db:savepoint to recover)", 2)
    end
    cursor_count = cursor_count + 1
    local name = "moonshift_cursor_" .. cursor_count
    local hold = st == "idle"
    sql = sql:gsub("[%s;]+$", "")
    raw_exec(db, ("DECLARE %s NO SCROLL CURSOR %s FOR %s"):format(name, hold and "WITH HOLD" or "WITHOUT HOLD", sql),
      table.unpack(args, 1, args.n))
    local fetch = ("FETCH FORWARD %d FROM %s"):format(batch, name)
    local open, rows, i = true, {}, 0
    local function close()
      if not open then return end
      open = false
      rows = {}
      -- a cursor without hold goes with its transaction; an aborted one
      -- cannot run CLOSE and will not need it
      local now = status(db)
      if now == "intrans" or (hold and now == "idle") then raw_exec(db, "CLOSE " .. name) end
    end
    local function iter()
      if not open then return nil end
      i = i + 1
      if i > #rows then
        if #rows > 0 and #rows < batch then close() return nil end
        rows = apply(raw_query(db, fetch), fns)
        i = 1
        if #rows == 0 then close() return nil end
      end
      return rows[i]
    end
    local closer = setmetatable({}, { __close = function(_, err)
      if err == nil then close() else pcall(close) end
    end })
    return iter, nil, nil, closer
  end
  local rows_of = methods.rows

  -- db:each(sql, ..., fn) or db:each({ sql =, args =, convert =, batch = }, fn):
  -- calls fn(row) for every row through a cursor (see rows); fn returning
  -- false stops early. Returns the number of rows fn saw.
  function methods.each(db, q, ...)
    local n = select("#", ...)
    local fn = select(n > 0 and n or 1, ...)
    if type(fn) ~= "function" then error("db:each: the last argument must be a function(row)", 2) end
    local count = 0
    for row in rows_of(db, q, table.unpack(table.pack(...), 1, n - 1)) do
      count = count + 1
      if fn(row) == false then break end
    end
    return count
  end

  -- Runs fn(db) inside a SAVEPOINT: released when fn returns (its results are
  -- returned), rolled back to when fn raises, and the error raised again.
  function methods.savepoint(db, fn)
    if type(fn) ~= "function" then error("db:savepoint takes a function(db)", 2) end
    local st = status(db)
    if st ~= "intrans" then
      error(st == "inerror" and "db:savepoint: the transaction is already aborted by an earlier error"
        or "db:savepoint needs a transaction (this migration runs outside one: use db:transaction)", 2)
    end
    savepoint_count = savepoint_count + 1
    local name = "moonshift_sp_" .. savepoint_count
    raw_exec(db, "SAVEPOINT " .. name)
    local res = table.pack(pcall(fn, db))
    if res[1] then
      if status(db) == "inerror" then
        raw_exec(db, "ROLLBACK TO SAVEPOINT " .. name)
        raw_exec(db, "RELEASE SAVEPOINT " .. name)
        error("db:savepoint: an SQL error was caught inside the savepoint; its work was rolled back", 2)
      end
      raw_exec(db, "RELEASE SAVEPOINT " .. name)
      return table.unpack(res, 2, res.n)
    end
    if status(db) ~= "idle" and status(db) ~= "unknown" then
      pcall(raw_exec, db, "ROLLBACK TO SAVEPOINT " .. name)
      pcall(raw_exec, db, "RELEASE SAVEPOINT " .. name)
    end
    error(res[2], 0)
  end

  -- Outside a transaction only: runs fn(db) between BEGIN and COMMIT, rolling
  -- back and raising again when fn raises. Returns fn's results.
  function methods.transaction(db, fn)
    if type(fn) ~= "function" then error("db:transaction takes a function(db)", 2) end
    local st = status(db)
    if st ~= "idle" then
      error("db:transaction: already inside a transaction (set transaction = false in the migration "
        .. "to commit batch by batch, or use db:savepoint inside one)", 2)
    end
    raw_exec(db, "BEGIN")
    local res = table.pack(pcall(fn, db))
    st = status(db)
    if res[1] and st == "intrans" then
      raw_exec(db, "COMMIT")
      return table.unpack(res, 2, res.n)
    end
    if st ~= "idle" then pcall(raw_exec, db, "ROLLBACK") end
    if res[1] then
      error(st == "inerror" and "db:transaction: an SQL error was caught inside the transaction, "
        .. "so it was rolled back instead of committed"
        or "db:transaction: the function ended the transaction itself", 2)
    end
    error(res[2], 0)
  end

  for k, v in pairs(catalog) do methods[k] = v end
  return methods
end

return M
