-- As SQLite migration 007. Never edit once released: add 004_*.sql.
CREATE INDEX events_received ON events(received_at);
