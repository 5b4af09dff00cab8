-- Change counters, so that a server node's in-memory view of devices and
-- rollouts is refreshed by reading only the rows that changed since (by any
-- node sharing the database). Each write sets the row's counter to one more
-- than the table's highest, inside a serialized write transaction. Rows
-- written before this migration keep 0 and are read at start. Never edit
-- once released: add 006_*.sql.
ALTER TABLE devices ADD COLUMN facts_rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX devices_facts_rev ON devices(facts_rev, device_id);
ALTER TABLE rollouts ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rollouts_rev ON rollouts(rev);
CREATE INDEX device_chains_problem ON device_chains(device_id) WHERE problem IS NOT NULL;
