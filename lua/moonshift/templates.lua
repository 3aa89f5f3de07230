-- moonshift.templates: the text of the files `moonshift new` creates.
local M = {}

function M.sql(name)
  return ([[
-- %s
-- migrate:up


-- migrate:down

]]):format(name)
end

function M.lua(name)
  return ([[
-- %s
-- db:exec(sql, ...) and db:query(sql, ...) send $1..$n parameters separately;
-- db:table_exists(name), db:column_exists(table, column) inspect the catalog.
return {
  up = function(db)
  end,

  down = function(db)
  end,
}
]]):format(name)
end

return M
