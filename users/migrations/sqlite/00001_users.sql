-- The schema herenow created before it had migrations, word for word: a
-- database made by it has this table but no goose_db_version, and IF NOT
-- EXISTS makes this migration a no-op there.

-- +goose Up
CREATE TABLE IF NOT EXISTS users (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;
