-- Webhook messages (docs/operations.md, "Webhooks"): written in the
-- transaction of the rollout change they announce, one row per receiver,
-- delivered and retried from here. Never edit once released: add 010_*.sql.
CREATE TABLE webhook_outbox (
  id              INTEGER PRIMARY KEY,
  target          TEXT    NOT NULL,  -- The receiver's URL.
  event           TEXT    NOT NULL,  -- rollout.paused, rollout.halted, ...
  body            TEXT    NOT NULL,  -- The JSON sent, byte for byte.
  created_at      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  delivered_at    INTEGER,           -- NULL until a 2xx answer.
  failed_at       INTEGER,           -- Set when the attempts ran out.
  last_error      TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at)
  WHERE delivered_at IS NULL AND failed_at IS NULL;
