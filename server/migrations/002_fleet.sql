-- Device registry, operator tokens, rollouts, per-rollout device phases and
-- the audit trail. Never edit once released: add 003_*.sql.

-- Enrolled devices and their Ed25519 report-signing keys. last_seq is the
-- highest signed report sequence number accepted: a report must exceed it.
CREATE TABLE devices (
  device_id   TEXT    PRIMARY KEY,
  public_key  TEXT    NOT NULL,  -- 64 lower-case hex digits (Ed25519).
  facts       TEXT    NOT NULL,  -- JSON: app_version, attributes, tags, region.
  enrolled_at INTEGER NOT NULL,
  last_seq    INTEGER NOT NULL DEFAULT 0,
  last_seen   INTEGER
) WITHOUT ROWID;

-- Operator bearer tokens, stored as SHA-256 of the token text only.
CREATE TABLE operator_tokens (
  token_sha256 TEXT    PRIMARY KEY,
  name         TEXT    NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  revoked      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- One row per rollout: the current manifest (as published) and the
-- controller policy. At most one unfinished rollout per model.
CREATE TABLE rollouts (
  rollout_id TEXT    PRIMARY KEY,
  model      TEXT    NOT NULL,
  manifest   TEXT    NOT NULL,  -- modelota.rollout/1 JSON.
  policy     TEXT    NOT NULL,  -- controller policy JSON.
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rollouts_model ON rollouts(model);

-- The latest phase of each device in each rollout, and the stage that was
-- current when the device first reported about the rollout.
CREATE TABLE device_rollouts (
  rollout_id TEXT    NOT NULL,
  device_id  TEXT    NOT NULL,
  stage      INTEGER NOT NULL,
  phase      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
) WITHOUT ROWID;

-- Who did what to which rollout, and why.
CREATE TABLE audit (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         INTEGER NOT NULL,
  actor      TEXT    NOT NULL,  -- "operator:<token name>" or "controller".
  rollout_id TEXT    NOT NULL,
  action     TEXT    NOT NULL,
  reason     TEXT    NOT NULL,
  version    INTEGER NOT NULL   -- the manifest version the action wrote.
);

-- What each device last reported per model: the version the event named and
-- the phase it put the device in (fleet status).
CREATE TABLE device_models (
  device_id  TEXT    NOT NULL,
  model      TEXT    NOT NULL,
  version    TEXT    NOT NULL,
  phase      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (device_id, model)
) WITHOUT ROWID;
