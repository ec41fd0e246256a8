-- The activity log of a single instance (no Redis), kept across restarts:
-- the lobby's (room '') and each room's newest entries, keyed by room and
-- entry ID. at is Unix ms; names is a JSON array of the first few users.
-- A room's rows go when the room is forgotten, as a cluster's room log does.

-- +goose Up
CREATE TABLE activity_log (
	room    TEXT NOT NULL,
	id      BIGINT NOT NULL,
	at      BIGINT NOT NULL,
	arrived INTEGER NOT NULL,
	names   TEXT NOT NULL,
	others  INTEGER NOT NULL,
	guests  INTEGER NOT NULL,
	visits  INTEGER NOT NULL,
	PRIMARY KEY (room, id)
);
