-- Event retention reads the oldest events first. Never edit once released:
-- add 008_*.sql.
CREATE INDEX events_received ON events(received_at);
