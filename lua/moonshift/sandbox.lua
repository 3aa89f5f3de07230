-- moonshift.sandbox: the fresh global environment each Lua migration runs in.
-- Reads fall through to the standard globals; writes stay in the migration's
-- own table, so nothing leaks from one migration into the next.
local M = {}

local function no_exit()
  error("os.exit is not allowed in a migration: raise an error to stop it", 2)
end

-- Returns a new environment for the migration described by info
-- ({ path = ..., version = ..., name = ... }).
function M.env(info)
  local env_os = setmetatable({ exit = no_exit }, { __index = os })
  local env = setmetatable({ os = env_os, migration = info }, { __index = _G })
  env._G = env
  return env
end

return M
