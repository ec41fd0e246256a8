-- An INTEGER PRIMARY KEY without AUTOINCREMENT takes the largest id plus
-- one, so deleting the newest user gave the next one her id (and her old
-- tokens named him). AUTOINCREMENT never hands out an id again; SQLite
-- can only add it by rebuilding the table. Copying the rows with their ids
-- seeds sqlite_sequence with the largest of them.

-- +goose Up
CREATE TABLE users_new (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT NOT NULL UNIQUE,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;
INSERT INTO users_new (id, name, password_hash, created_at)
	SELECT id, name, password_hash, created_at FROM users ORDER BY id;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
