-- Nothing to do: a BIGSERIAL's sequence never hands out a value twice, so
-- ids are never reused. The version is kept so both dialects count alike.

-- +goose Up
