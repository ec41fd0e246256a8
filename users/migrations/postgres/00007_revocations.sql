-- A session ended at logout: its token is refused until `until` (Unix ms,
-- the token's expiry plus the verifier's skew), by every instance sharing
-- the database and across restarts. seq orders them for the instances that
-- poll for new ones; writers lock the table first (see users.go), so seq
-- order is commit order and a reader never skips one.

-- +goose Up
CREATE TABLE revocations (
	seq   BIGSERIAL PRIMARY KEY,
	jti   TEXT NOT NULL UNIQUE,
	until BIGINT NOT NULL
);
CREATE INDEX revocations_until ON revocations (until);
