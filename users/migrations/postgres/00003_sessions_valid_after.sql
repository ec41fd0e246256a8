-- A session token records the user's sessions_valid_after (Unix ms) when
-- it was issued and is refused once that has changed: a password change
-- sets it, which ends every session started before. Existing users start
-- from their creation time.

-- +goose Up
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
UPDATE users SET sessions_valid_after = created_at * 1000;
