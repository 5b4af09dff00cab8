-- Session outcomes reported by apps (any process) for the agent's
-- confirmation window. IF NOT EXISTS: two processes may open a new file at once.
CREATE TABLE IF NOT EXISTS session_outcomes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  version_id TEXT NOT NULL,
  ok INTEGER NOT NULL,
  message TEXT NOT NULL,
  time_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_outcomes_by_version ON session_outcomes (version_id, time_ms);
