-- Every deletion and password change is recorded here, in the same
-- transaction, so that each running instance can end the live connections
-- of sessions that no longer hold. Writers lock the table first (see
-- users.go), so seq order is commit order and a reader never skips one.

-- +goose Up
CREATE TABLE user_changes (
	seq     BIGSERIAL PRIMARY KEY,
	user_id BIGINT NOT NULL,
	at      BIGINT NOT NULL
);
CREATE INDEX user_changes_at ON user_changes (at);
