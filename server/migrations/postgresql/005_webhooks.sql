-- As SQLite migration 009. Never edit once released: add 006_*.sql.
CREATE TABLE webhook_outbox (
  id              BIGSERIAL PRIMARY KEY,
  target          TEXT   NOT NULL,
  event           TEXT   NOT NULL,
  body            TEXT   NOT NULL,
  created_at      BIGINT NOT NULL,
  attempts        BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  delivered_at    BIGINT,
  failed_at       BIGINT,
  last_error      TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at)
  WHERE delivered_at IS NULL AND failed_at IS NULL;
