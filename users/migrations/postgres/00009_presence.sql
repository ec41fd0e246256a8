-- What a user says of their presence, kept across reconnects and restarts
-- (see presence.go): status is the one set by hand ('available', 'busy' or
-- 'away'; checked in Go, as on SQLite, where changing a CHECK means
-- rebuilding the table), status_text is NFC and at most 80 characters (''
-- for none), invisible hides the user everywhere. last_seen_at (Unix ms,
-- like the other times here) is when the user's presence last ended, NULL
-- if never; it only moves forward. The index serves "recently here",
-- newest first. Adding a column with a constant default rewrites nothing.

-- +goose Up
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'available';
ALTER TABLE users ADD COLUMN status_text TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN invisible BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;
CREATE INDEX users_by_last_seen ON users (last_seen_at, id);
