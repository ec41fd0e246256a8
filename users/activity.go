package users

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// LogEntry is one entry of an activity log as kept across restarts: the
// fields of herenow's hub.Entry, which this package does not import.
type LogEntry struct {
	ID      uint64
	At      time.Time // millisecond precision
	Arrived bool
	Names   []string
	Others  int
	Guests  int
	Visits  int
}

// SaveLog keeps entries in room's log ("" is the lobby's), each replacing
// any kept under its ID, and then only the keep newest of that log.
func (s *Store) SaveLog(ctx context.Context, room string, entries []LogEntry, keep int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("keep the activity log: %w", err)
	}
	defer tx.Rollback()
	for _, e := range entries {
		names, err := json.Marshal(e.Names)
		if err != nil {
			return fmt.Errorf("keep the activity log: %w", err)
		}
		arrived := 0
		if e.Arrived {
			arrived = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO activity_log (room, id, at, arrived, names, others, guests, visits)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (room, id) DO UPDATE SET at = excluded.at, arrived = excluded.arrived, names = excluded.names,
				others = excluded.others, guests = excluded.guests, visits = excluded.visits`,
			room, int64(e.ID), e.At.UnixMilli(), arrived, string(names), e.Others, e.Guests, e.Visits); err != nil {
			return fmt.Errorf("keep the activity log: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM activity_log WHERE room = $1 AND id NOT IN
		(SELECT id FROM activity_log WHERE room = $1 ORDER BY id DESC LIMIT $2)`, room, keep); err != nil {
		return fmt.Errorf("trim the activity log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("keep the activity log: %w", err)
	}
	return nil
}

// ForgetLog removes room's log.
func (s *Store) ForgetLog(ctx context.Context, room string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM activity_log WHERE room = $1`, room); err != nil {
		return fmt.Errorf("forget a room's activity log: %w", err)
	}
	return nil
}

// Logs returns every log kept, by room ("" is the lobby's), each oldest
// first.
func (s *Store) Logs(ctx context.Context) (map[string][]LogEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT room, id, at, arrived, names, others, guests, visits
		FROM activity_log ORDER BY room, id`)
	if err != nil {
		return nil, fmt.Errorf("read the activity logs: %w", err)
	}
	defer rows.Close()
	logs := make(map[string][]LogEntry)
	for rows.Next() {
		var (
			room    string
			id, at  int64
			arrived int
			names   string
			e       LogEntry
		)
		if err := rows.Scan(&room, &id, &at, &arrived, &names, &e.Others, &e.Guests, &e.Visits); err != nil {
			return nil, fmt.Errorf("read the activity logs: %w", err)
		}
		if err := json.Unmarshal([]byte(names), &e.Names); err != nil {
			return nil, fmt.Errorf("read the activity logs: entry %d of %q: %w", id, room, err)
		}
		e.ID, e.At, e.Arrived = uint64(id), time.UnixMilli(at).UTC(), arrived != 0
		logs[room] = append(logs[room], e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the activity logs: %w", err)
	}
	return logs, nil
}
