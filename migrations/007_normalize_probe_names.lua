-- Probe names were typed by hand: trim them and make them lower case, so that
-- lookups by name match. Each change is an UPDATE with parameters, never SQL
-- built from the data.
return {
  up = function(db)
    local rows = db:query("SELECT id, name FROM probes ORDER BY id")
    for _, row in ipairs(rows) do
      local clean = row.name:match("^%s*(.-)%s*$"):lower()
      if clean ~= row.name then
        db:exec("UPDATE probes SET name = $1 WHERE id = $2", clean, row.id)
      end
    end
  end,

  -- the old spellings are not worth restoring: rolling back keeps the data
  down = function(db) end,
}
