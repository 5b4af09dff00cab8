-- The deployment plan (docs/architecture.md "Plan, then act"): what the
-- check decided before any byte was fetched, as JSON; '' for deployments
-- started by builds without plans (their steps decide as they go).
ALTER TABLE deployments ADD COLUMN plan_json TEXT NOT NULL DEFAULT '';
