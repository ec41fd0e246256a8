package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Revocation is a session ended at logout: its token, named by its id, is
// refused until Until, when verification would refuse it anyway.
type Revocation struct {
	Seq   int64 // orders the revocations; never reused
	JTI   string
	Until time.Time // millisecond precision
}

// revocationsKept is how long a revocation stays in the database once its
// token is refused anyway: room for an instance that was away to read it,
// and for clocks that disagree.
const revocationsKept = time.Hour

// dbNowMillis is the database's own clock in Unix milliseconds, in SQL:
// what RevokedNow and PruneRevocations go by, so that an instance whose
// clock runs fast cannot make every instance forget a logout early.
func (s *Store) dbNowMillis() string {
	if s.postgres {
		// clock_timestamp, not now(): now() is the transaction's start.
		return `(extract(epoch from clock_timestamp()) * 1000)::bigint`
	}
	// julianday('now') is in days since noon, 24 November 4714 BC;
	// 2440587.5 of them is the Unix epoch.
	return `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`
}

// Revoke records that the session with token id jti ended, its token to be
// refused until until, and returns its seq. Revoking a jti again changes
// nothing and returns the seq it already has.
func (s *Store) Revoke(ctx context.Context, jti string, until time.Time) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("revoke a session: %w", err)
	}
	defer tx.Rollback()
	if s.postgres {
		// As in change: seq values are handed out at insert, not at
		// commit, so writers take turns, and a reader that saw one seq
		// never misses a smaller one committed later. EXCLUSIVE mode
		// blocks other writers of the table, not its readers.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE revocations IN EXCLUSIVE MODE`); err != nil {
			return 0, fmt.Errorf("revoke a session: %w", err)
		}
	}
	// On SQLite the first statement writes, so the transaction takes the
	// write lock (waiting for it) before reading anything.
	var seq int64
	err = tx.QueryRowContext(ctx, `INSERT INTO revocations (jti, until) VALUES ($1, $2)
		ON CONFLICT (jti) DO NOTHING RETURNING seq`, jti, until.UnixMilli()).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `SELECT seq FROM revocations WHERE jti = $1`, jti).Scan(&seq)
	}
	if err != nil {
		return 0, fmt.Errorf("revoke a session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("revoke a session: %w", err)
	}
	return seq, nil
}

// LastRevocation returns the seq of the latest revocation recorded, 0 if
// none: a reader starting now asks for the revocations after it.
func (s *Store) LastRevocation(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the latest revocation: %w", err)
	}
	return seq, nil
}

// RevocationsSince returns at most limit revocations recorded after seq,
// oldest first, whether or not their tokens are still refused.
func (s *Store) RevocationsSince(ctx context.Context, seq int64, limit int) ([]Revocation, error) {
	return s.revocations(ctx, "read revocations",
		`SELECT seq, jti, until FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
}

// RevokedNow returns every revocation whose token is still to be refused,
// by the database's clock: what a starting instance must refuse.
func (s *Store) RevokedNow(ctx context.Context) ([]Revocation, error) {
	return s.revocations(ctx, "read the sessions revoked now",
		`SELECT seq, jti, until FROM revocations WHERE until > `+s.dbNowMillis()+` ORDER BY seq`)
}

func (s *Store) revocations(ctx context.Context, doing, query string, args ...any) ([]Revocation, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var until int64
		if err := rows.Scan(&r.Seq, &r.JTI, &until); err != nil {
			return nil, fmt.Errorf("%s: %w", doing, err)
		}
		r.Until = time.UnixMilli(until)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	return out, nil
}

// PruneRevocations forgets the revocations whose tokens have been refused
// anyway for more than an hour, by the database's clock: never the
// caller's, so that one instance with a clock far ahead cannot make every
// instance forget a logout whose token still verifies.
func (s *Store) PruneRevocations(ctx context.Context) error {
	query := `DELETE FROM revocations WHERE until < ` + s.dbNowMillis() + ` - $1`
	if _, err := s.db.ExecContext(ctx, query, revocationsKept.Milliseconds()); err != nil {
		return fmt.Errorf("prune revocations: %w", err)
	}
	return nil
}
