-- As SQLite migration 008. Never edit once released: add 005_*.sql.
ALTER TABLE operator_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'administrator';
ALTER TABLE operator_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operator_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'server-admin';
