-- What a user says of their presence, kept across reconnects and restarts
-- (see presence.go): status is the one set by hand ('available', 'busy' or
-- 'away'; checked in Go, so a later status needs no rebuild of the table),
-- status_text is NFC and at most 80 characters ('' for none), invisible
-- (0 or 1) hides the user everywhere. last_seen_at (Unix ms) is when the
-- user's presence last ended, NULL if never; it only moves forward. The
-- index serves "recently here", newest first.

-- +goose Up
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'available';
ALTER TABLE users ADD COLUMN status_text TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN invisible INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;
CREATE INDEX users_by_last_seen ON users (last_seen_at, id);
