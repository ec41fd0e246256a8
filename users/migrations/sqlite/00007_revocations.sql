-- A session ended at logout: its token is refused until `until` (Unix ms,
-- the token's expiry plus the verifier's skew), by every instance sharing
-- the database and across restarts. seq orders them for the instances that
-- poll for new ones; AUTOINCREMENT: a seq is never handed out twice, even
-- after pruning.

-- +goose Up
CREATE TABLE revocations (
	seq   INTEGER PRIMARY KEY AUTOINCREMENT,
	jti   TEXT NOT NULL UNIQUE,
	until INTEGER NOT NULL
) STRICT;
CREATE INDEX revocations_until ON revocations (until);
