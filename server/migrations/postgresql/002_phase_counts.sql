-- Devices per (rollout, stage, phase), as SQLite migration 006. Never edit
-- once released: add 003_*.sql.
CREATE TABLE rollout_phase_counts (
  rollout_id TEXT   NOT NULL,
  stage      BIGINT NOT NULL,
  phase      TEXT   NOT NULL,
  devices    BIGINT NOT NULL,
  PRIMARY KEY (rollout_id, stage, phase)
);
INSERT INTO rollout_phase_counts (rollout_id, stage, phase, devices)
  SELECT rollout_id, stage, phase, COUNT(*) FROM device_rollouts GROUP BY rollout_id, stage, phase;
