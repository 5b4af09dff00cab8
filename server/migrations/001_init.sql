-- Device event reports. (device_id, seq) identifies an event, so a device that
-- redelivers a batch after a lost answer creates no duplicates.
CREATE TABLE events (
  device_id   TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  received_at INTEGER NOT NULL,  -- Unix seconds when first stored.
  type        TEXT    NOT NULL,
  body        TEXT    NOT NULL,  -- The event object as received, compact JSON.
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
