-- ModelOTA agent state, schema 1. Never edit once released: add 002_*.sql.

-- Key/value settings: device id, server URL, tracked models.
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- One row per deployment attempt of a target. The state column is written,
-- in its own transaction, before the work of that state begins.
CREATE TABLE deployments (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  model         TEXT NOT NULL,
  target_path   TEXT NOT NULL,
  version       TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  length        INTEGER NOT NULL,
  target_json   TEXT NOT NULL,          -- the signed TUF target entry
  state         TEXT NOT NULL,
  previous      TEXT,                   -- version id active when it started
  saves         INTEGER NOT NULL DEFAULT 0,
  bytes_fetched INTEGER NOT NULL DEFAULT 0,
  error_code    TEXT,
  error         TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  finished      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deployments_open ON deployments(model, finished);

-- Installed, verified versions (content-addressed folders under versions/).
CREATE TABLE versions (
  id           TEXT PRIMARY KEY,        -- sha256 of the bundle target
  model        TEXT NOT NULL,
  version      TEXT NOT NULL,
  installed_at INTEGER NOT NULL
);

-- Outgoing event reports, delivered to the server in seq order.
CREATE TABLE events (
  seq       INTEGER PRIMARY KEY AUTOINCREMENT,
  body      TEXT NOT NULL,              -- the event JSON, seq included
  delivered INTEGER NOT NULL DEFAULT 0
);
