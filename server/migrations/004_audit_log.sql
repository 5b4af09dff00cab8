-- The server's own audit log (a hash chain, docs/formats.md "Server audit
-- log"), its signed checkpoints, the checked state of every device's event
-- chain, and server settings. Never edit once released: add 005_*.sql.

-- One row per record, numbered from 1 without gaps. body is the canonical
-- JSON the link covers: link = SHA-256(prev_link "\n" seq "\n"
-- SHA-256(body)). The other columns repeat body fields for filtering.
CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY,
  at         INTEGER NOT NULL,  -- Unix seconds (the body's "time").
  type       TEXT    NOT NULL,
  actor      TEXT    NOT NULL,  -- "operator:<token>", "controller", "server-admin", ...
  rollout_id TEXT,
  model      TEXT,
  device_id  TEXT,
  body       TEXT    NOT NULL,
  link       TEXT    NOT NULL
);
CREATE INDEX audit_log_rollout ON audit_log(rollout_id) WHERE rollout_id IS NOT NULL;
CREATE INDEX audit_log_model ON audit_log(model) WHERE model IS NOT NULL;
CREATE INDEX audit_log_device ON audit_log(device_id) WHERE device_id IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log(at);

-- Signed heads: of the server log ("server", signed with the server's audit
-- key) and of device logs ("device/<id>", signed by the device's report key
-- and sent in its reports).
CREATE TABLE audit_checkpoints (
  log       TEXT    NOT NULL,
  seq       INTEGER NOT NULL,
  head      TEXT    NOT NULL,
  time      TEXT    NOT NULL,
  keyid     TEXT    NOT NULL,
  signature TEXT    NOT NULL,
  PRIMARY KEY (log, seq)
) WITHOUT ROWID;

-- Where each device's event chain stands as the server checked it: the last
-- checked event and its link live in devices (written by the statement that
-- accepts a report, so checking costs no extra write), the rest here, written
-- when it changes. anchor_seq/anchor_link: the first event the chain can be
-- checked from and the link before it (the genesis link for seq 1 or a
-- device's first chained event; the link of the first event received when
-- the chain was taken on first use). problem: NULL while the chain is intact,
-- else what broke it first (at problem_seq).
ALTER TABLE devices ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN chain_link TEXT;
CREATE TABLE device_chains (
  device_id   TEXT    PRIMARY KEY,
  anchor_seq  INTEGER NOT NULL,
  anchor_link TEXT    NOT NULL,
  problem     TEXT,
  problem_seq INTEGER
) WITHOUT ROWID;

-- Small server state: how far the old audit table was carried into
-- audit_log, the repository metadata last recorded.
CREATE TABLE server_settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
