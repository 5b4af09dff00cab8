-- Audit log, link version 2 (docs/formats.md, "Audit chain"): events written
-- from this schema on store a canonical JSON body and chain = SHA-256 over the
-- previous link, their seq and the SHA-256 of the body (link_version 2).
-- Rows written before keep their version 1 link.
ALTER TABLE events ADD COLUMN link_version INTEGER NOT NULL DEFAULT 1;
-- Signed checkpoints of the log's head: the device's report key signs
-- {log "device/<id>", seq, head, time}; sent once the server acknowledged a
-- report that carried it. The newest checkpoint at or before a pruned range
-- stays as the anchor the remaining records link to.
CREATE TABLE audit_checkpoints (
  seq       INTEGER PRIMARY KEY,        -- the last event it covers
  head      TEXT NOT NULL,              -- that event's chain link
  time      TEXT NOT NULL,              -- RFC 3339 UTC, seconds
  keyid     TEXT NOT NULL,              -- TUF key id of the report key
  signature TEXT NOT NULL,              -- hex Ed25519 signature
  sent      INTEGER NOT NULL DEFAULT 0
);
