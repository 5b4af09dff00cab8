-- Devices per (rollout, stage, phase), kept by report ingestion as phases
-- change, so that a rollout's status and the controller read a few rows
-- instead of counting device_rollouts. Never edit once released: add
-- 007_*.sql.
CREATE TABLE rollout_phase_counts (
  rollout_id TEXT    NOT NULL,
  stage      INTEGER NOT NULL,
  phase      TEXT    NOT NULL,
  devices    INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, stage, phase)
) WITHOUT ROWID;
INSERT INTO rollout_phase_counts (rollout_id, stage, phase, devices)
  SELECT rollout_id, stage, phase, COUNT(*) FROM device_rollouts GROUP BY rollout_id, stage, phase;
