-- layout_spec.lua: the rules of src/'s layout are enforced by the build
-- (docs/design.md, "Parts and arrows"): a part cannot include a part it
-- may not use, and nothing outside src/cli/ may write to stdout or stderr.
local H = require("spec_helper")

local function flags(part)
  local r = H.sh("make -s -C " .. H.q(H.root) .. " part-flags PART=" .. part)
  assert(r.code == 0, r.err)
  return (r.out:gsub("\n$", ""))
end

-- Compiles text as a file of src/<part>/ with that part's flags.
local function compile(part, text)
  local dir = H.tmpdir()
  H.write(dir .. "/probe.c", text)
  return H.sh(("cd %s && cc %s -c -o %s/probe.o %s/probe.c"):format(H.q(H.root), flags(part), H.q(dir), H.q(dir))),
    dir .. "/probe.o"
end

describe("the layout of src/", function()
  it("lets a part include what it may use", function()
    local r = compile("engine", '#include "session.h"\n#include "conn.h"\n#include <lua.h>\n'
      .. 'int ms_probe(void);\nint ms_probe(void) { return 0; }\n')
    assert.are.equal(0, r.code, r.err)
  end)

  it("refuses, at compile time, an include of a part or package a part may not use", function()
    for _, case in ipairs({
      { "sql", '#include "conn.h"\n' },           -- the splitter knows no libpq part
      { "sql", '#include <libpq-fe.h>\n' },       -- nor libpq itself
      { "source", '#include <lua.h>\n' },         -- the source knows no Lua
      { "store", '#include "lbridge.h"\n' },      -- the store knows no Lua bridge
      { "store", '#include <lua.h>\n' },
      { "db", '#include "tracker.h"\n' },         -- db is below the store
      { "lua", '#include "session.h"\n' },        -- the bridge is below the engine
      { "engine", '#include "textout.h"\n' },     -- nothing below the CLI reaches it
      { "engine", '#include <jansson.h>\n#include "jsondoc.h"\n' },
    }) do
      local r = compile(case[1], case[2])
      assert.are_not.equal(0, r.code, case[1] .. " may not use: " .. case[2])
      assert.matches("No such file or directory", r.err)
    end
  end)

  it("fails the build's check when an object outside cli/ writes to stdout or stderr", function()
    local r, obj = compile("engine", "#include <stdio.h>\nvoid ms_probe(void);\n"
      .. "void ms_probe(void) { fprintf(stderr, \"x\\n\"); }\n")
    assert.are.equal(0, r.code, r.err)
    local check = H.sh("sh " .. H.q(H.root .. "/spec/support/layout-check.sh") .. " " .. H.q(obj))
    assert.are.equal(1, check.code)
    assert.matches("probe%.o writes to the terminal %(.*stderr.*%); only src/cli/ may", check.err)
  end)

  it("passes the check on every object of the library", function()
    local objs = H.sh("find " .. H.q(H.root .. "/build/obj") .. " -name '*.o' ! -path '*/cli/*' | sort")
    assert.are.equal(0, objs.code)
    local list = {}
    for o in objs.out:gmatch("[^\n]+") do list[#list + 1] = H.q(o) end
    assert.is_true(#list > 30, "the library's objects are missing: run make all")
    local check = H.sh("sh " .. H.q(H.root .. "/spec/support/layout-check.sh") .. " " .. table.concat(list, " "))
    assert.are.equal(0, check.code, check.err)
  end)
end)
