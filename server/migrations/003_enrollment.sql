-- Fleet enrollment tokens, and which token enrolled each device. Never edit
-- once released: add 004_*.sql.

-- The credential a new device presents once, at enrollment (Authorization:
-- Bearer <token>). Only the SHA-256 of the token text is stored. A token
-- enrolls at most max_devices devices (0: no limit) until expires_at (Unix
-- seconds; 0: never) or until it is revoked.
CREATE TABLE enrollment_tokens (
  token_sha256 TEXT    PRIMARY KEY,
  name         TEXT    NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL DEFAULT 0,
  max_devices  INTEGER NOT NULL DEFAULT 0,
  devices      INTEGER NOT NULL DEFAULT 0,  -- devices enrolled with it so far
  revoked      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The enrollment token (by name) that admitted the device; NULL for devices
-- enrolled before tokens existed.
ALTER TABLE devices ADD COLUMN enrolled_with TEXT;

-- From this version on, device_rollouts.stage is the first stage whose cohort
-- (bucket and selectors, from the device's stored signed facts) holds the
-- device; reports of devices outside every stage up to the current one are
-- not counted at all.
