-- Tamper-evident event log: each event carries chain = SHA-256 over the
-- previous event's chain, its own seq and its body (docs/formats.md, "Audit
-- chain"). Rows written before this schema keep an empty chain.
ALTER TABLE events ADD COLUMN chain TEXT NOT NULL DEFAULT '';
