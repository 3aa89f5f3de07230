-- Adds probes.priority, but only where information_schema says it is missing:
-- some installations added it by hand before this migration existed.
return {
  up = function(db)
    local missing = db:scalar([[
      SELECT count(*) = 0 FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'probes'
         AND column_name = 'priority']])
    if missing then
      db:exec([[ALTER TABLE probes ADD COLUMN priority integer NOT NULL DEFAULT 5
                CONSTRAINT chk_probe_priority CHECK (priority BETWEEN 1 AND 10)]])
    end
  end,

  down = function(db)
    if db:column_exists("probes", "priority") then
      db:exec("ALTER TABLE probes DROP COLUMN priority")
    end
  end,
}
