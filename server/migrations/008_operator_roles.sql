-- Operator tokens carry a role and an expiry, and name who created them.
-- Tokens made before roles keep working as administrators that never expire
-- (docs/security.md, "Operator roles"). Never edit once released: add
-- 009_*.sql.
ALTER TABLE operator_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'administrator';
ALTER TABLE operator_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operator_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'server-admin';
