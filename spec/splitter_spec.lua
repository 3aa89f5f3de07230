-- Splitter specs: table-driven fixtures from spec/fixtures/split (format in
-- its README), plus inline cases for bytes a fixture file cannot hold well
-- (CR LF), the position helpers and size/time bounds. No server needed.
package.cpath = "./build/?.so;" .. package.cpath
local ms = require "moonshift"

local FIXTURES = "spec/fixtures/split/"

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function list_fixtures()
  local names = {}
  local p = assert(io.popen('ls "' .. FIXTURES .. '"'))
  for name in p:lines() do
    if name:match("%.txt$") then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

-- Parses a fixture into { case=, input=, pieces={ {class=, text=, line=,
-- col=, unterminated=, data=} }, error={ line=, pattern= } }.
local function parse_fixture(src)
  local blocks, cur = {}, nil
  for line in src:gmatch("([^\n]*)\n") do
    local head = line:match("^#### (.*)$")
    if head then
      cur = { head = head, lines = {} }
      blocks[#blocks + 1] = cur
    elseif cur then
      cur.lines[#cur.lines + 1] = line
    end
  end
  local fx = { pieces = {} }
  for _, b in ipairs(blocks) do
    local body = table.concat(b.lines, "\n")
    local kind, rest = b.head:match("^(%S+)%s*(.*)$")
    if kind == "case" then
      fx.case = rest
    elseif kind == "input" then
      fx.input = body
    elseif kind == "stmt" or kind == "empty" then
      local p = { class = kind == "empty" and "empty" or rest:match("^(%S+)"),
                  text = kind == "empty" and "" or body }
      p.line = tonumber(rest:match("line=(%d+)"))
      p.col = tonumber(rest:match("col=(%d+)"))
      p.unterminated = rest:match("unterminated") ~= nil
      p.block = rest:match("%f[%w]block%f[%W]") ~= nil
      fx.pieces[#fx.pieces + 1] = p
    elseif kind == "data" then
      fx.pieces[#fx.pieces].data = body
    elseif kind == "error" then
      fx.error = { line = tonumber(rest:match("line=(%d+)")), pattern = body }
    else
      error("unknown fixture block: " .. b.head)
    end
  end
  assert(fx.input, "fixture without #### input")
  return fx
end

-- Properties every successful split must have, whatever the input.
local function check_invariants(input, pieces)
  local parts = {}
  for i, p in ipairs(pieces) do
    parts[i] = p.piece
    assert.are.equal(p.text, input:sub(p.offset + 1, p.offset + #p.text))
    assert.are.equal(p.piece, input:sub(p.piece_offset + 1, p.piece_offset + #p.piece))
    local line, col = ms.split_linecol(input, p.offset)
    assert.are.same({ line, col }, { p.line, p.col })
    if p.class ~= "empty" and p.class ~= "meta_skip" then
      assert.are.equal(p.class, ms.split_classify(p.text))
    end
    assert.are.equal(p.terminated, p.text:sub(-1) == ";" and p.class ~= "meta_skip")
  end
  assert.are.equal(input, table.concat(parts), "pieces do not partition the input")
end

describe("splitter fixtures", function()
  for _, name in ipairs(list_fixtures()) do
    local fx = parse_fixture(read_file(FIXTURES .. name))
    it(name .. ": " .. (fx.case or ""), function()
      local pieces, msg, line = ms.split(fx.input)
      if fx.error then
        assert.is_nil(pieces)
        assert.are.equal(fx.error.line, line)
        assert.truthy(msg:match(fx.error.pattern),
          ("message %q does not match %q"):format(msg, fx.error.pattern))
        return
      end
      assert(pieces, msg)
      check_invariants(fx.input, pieces)
      local got, want = {}, {}
      for i, p in ipairs(pieces) do
        local e = fx.pieces[i] or {}
        got[i] = { class = p.class, text = p.text, data = p.copy_data,
                   line = e.line and p.line, col = e.col and p.col,
                   unterminated = not p.terminated and p.class ~= "empty"
                                  and p.class ~= "meta_skip",
                   block = p.block == true }
      end
      for i, e in ipairs(fx.pieces) do
        want[i] = { class = e.class, text = e.text, data = e.data,
                    line = e.line, col = e.col, unterminated = e.unterminated,
                    block = e.block }
      end
      assert.are.same(want, got)
    end)
  end
end)

describe("splitter", function()
  it("keeps CR LF line ends inside pieces and counts lines by LF", function()
    local input = "select 1;\r\n-- c\r\ncopy t from stdin;\r\na\tb\r\n\\.\r\n" ..
                  "select $$;\r\n$$;\r\n"
    local pieces = assert(ms.split(input))
    check_invariants(input, pieces)
    assert.are.same({ "sql", "copy", "sql", "empty" },
      { pieces[1].class, pieces[2].class, pieces[3].class, pieces[4].class })
    assert.are.equal("a\tb\r\n", pieces[2].copy_data)
    assert.are.equal(3, pieces[2].line)
    assert.are.equal("select $$;\r\n$$;", pieces[3].text)
    assert.are.equal(6, pieces[3].line)
  end)

  it("accepts a final \\. without a newline and \\. followed by CR LF", function()
    local pieces = assert(ms.split("copy t from stdin;\n1\n\\."))
    assert.are.equal("1\n", pieces[1].copy_data)
    assert.are.equal(1, #pieces)
  end)

  it("treats a NUL byte as an ordinary character", function()
    local input = "select '\0;'; select \0;"
    local pieces = assert(ms.split(input))
    check_invariants(input, pieces)
    assert.are.equal(2, #pieces)
  end)

  it("returns an empty array for empty input", function()
    assert.are.same({}, ms.split(""))
  end)

  it("converts character positions to byte offsets", function()
    local s = "select 'é', ñ + x"
    assert.are.equal(0, ms.split_charpos(s, 1))
    assert.are.equal(8, ms.split_charpos(s, 9))   -- é
    assert.are.equal(10, ms.split_charpos(s, 10)) -- the closing quote
    assert.are.equal(13, ms.split_charpos(s, 13)) -- ñ
    assert.are.equal(#s, ms.split_charpos(s, 100))
  end)

  it("converts byte offsets to line and column", function()
    assert.are.same({ 1, 1 }, { ms.split_linecol("ab\ncd", 0) })
    assert.are.same({ 2, 2 }, { ms.split_linecol("ab\ncd", 4) })
    assert.are.same({ 2, 1 }, { ms.split_linecol("ab\n", 3) })
    assert.are.same({ 2, 3 }, { ms.split_linecol("ab\ncd", 99) })
  end)

  it("splits a million small statements quickly", function()
    local input = string.rep("select 1;\n", 1000000)
    local t0 = os.clock()
    local pieces = assert(ms.split(input))
    assert.are.equal(1000001, #pieces)
    assert.are.equal(1000000, pieces[1000000].line)
    assert.are.equal("empty", pieces[1000001].class)
    assert.is_true(os.clock() - t0 < 10)
  end)

  it("handles a 50 MB statement and deeply nested comments in linear time", function()
    local big = "insert into t values " .. string.rep("('a;b', $$;$$, (1)),", 2500000) .. "(0);"
    local t0 = os.clock()
    local pieces = assert(ms.split(big))
    assert.are.equal(1, #pieces)
    assert.are.equal(#big, #pieces[1].text)
    local nested = string.rep("/*", 1000000) .. string.rep("*/", 1000000) .. "select 1;"
    pieces = assert(ms.split(nested))
    assert.are.equal("select 1;", pieces[1].text)
    local parens = "select " .. string.rep("(", 1000000) .. string.rep(")", 1000000) .. ";"
    pieces = assert(ms.split(parens))
    assert.are.equal(1, #pieces)
    local dollars = "select $" .. string.rep("a", 100000) .. "$" ..
                    string.rep("$" .. string.rep("a", 99999) .. "b", 200) ..
                    "$" .. string.rep("a", 100000) .. "$;"
    pieces = assert(ms.split(dollars))
    assert.are.equal(1, #pieces)
    assert.is_true(os.clock() - t0 < 10)
  end)
end)
