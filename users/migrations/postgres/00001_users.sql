-- The schema herenow created before it had migrations, word for word: a
-- database made by it has this table but no goose_db_version, and IF NOT
-- EXISTS makes this migration a no-op there. COLLATE "C" sorts names by
-- their bytes, as SQLite does, whatever the database's locale.

-- +goose Up
CREATE TABLE IF NOT EXISTS users (
	id            BIGSERIAL PRIMARY KEY,
	name          TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash BYTEA NOT NULL,
	created_at    BIGINT NOT NULL
);
