-- Every deletion and password change is recorded here, in the same
-- transaction, so that each running instance (and each process sharing the
-- database) can end the live connections of sessions that no longer hold.
-- AUTOINCREMENT: a seq is never handed out twice, even after pruning.

-- +goose Up
CREATE TABLE user_changes (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id INTEGER NOT NULL,
	at      INTEGER NOT NULL
) STRICT;
CREATE INDEX user_changes_at ON user_changes (at);
