-- Two names that look alike must not both exist: name_key is the name
-- case-folded and reduced to its confusable skeleton, name_shape the
-- skeleton of the name as shown (see names.go). Both are unique; rows made
-- before them are given theirs by migration 6, in Go.

-- +goose Up
ALTER TABLE users ADD COLUMN name_key TEXT;
ALTER TABLE users ADD COLUMN name_shape TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users (name_key);
CREATE UNIQUE INDEX users_by_name_shape ON users (name_shape);
