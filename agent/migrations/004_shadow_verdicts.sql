-- Shadow-test verdicts: one row per shadow run of a deployment's candidate
-- against the version the device ran (docs/formats.md, "Agent state
-- folder"). Written in the same transaction as its shadow-result event.
CREATE TABLE shadow_verdicts (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id     INTEGER NOT NULL,
  model             TEXT NOT NULL,
  candidate_id      TEXT NOT NULL,        -- sha256 of the candidate bundle
  candidate_version TEXT NOT NULL,
  current_id        TEXT NOT NULL,        -- sha256 of the version it was compared with
  current_version   TEXT NOT NULL,
  verdict           TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'inconclusive')),
  action            TEXT NOT NULL,        -- accept, reject, retry or pause
  gate              TEXT NOT NULL,        -- the gate applied
  reason            TEXT NOT NULL,        -- the reasons, joined by "; "
  report            TEXT NOT NULL,        -- the full report JSON: metrics, thresholds, gates
  attempt           INTEGER NOT NULL,
  created_at        INTEGER NOT NULL      -- Unix seconds
);
CREATE INDEX shadow_verdicts_model ON shadow_verdicts(model, id);
