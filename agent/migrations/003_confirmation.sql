-- Confirmation window and loop caps (docs/architecture.md, "Confirmation").
--   activated_at_ms:   when confirmation of the new version began (Unix ms,
--                      0 = not yet); a restart keeps the window it started.
--   confirm_restarts:  agent starts that found the deployment confirming.
--   rollback_attempts: attempts to return to the previous version.
ALTER TABLE deployments ADD COLUMN activated_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN confirm_restarts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN rollback_attempts INTEGER NOT NULL DEFAULT 0;
