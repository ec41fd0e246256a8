// Package users keeps herenow's accounts (names, password hashes, what each
// user says of their presence and when they were last seen) in SQLite (the
// default) or PostgreSQL (so that several instances can share them).
package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL through database/sql
	"github.com/pressly/goose/v3"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // pure-Go SQLite driver, so the binary needs no cgo
)

// Errors callers can tell apart.
var (
	ErrNotFound       = errors.New("no such user")
	ErrExists         = errors.New("a user with that name, or one that looks like it, already exists")
	ErrBadCredentials = errors.New("wrong username or password")
	ErrInvalidPass    = errors.New("a password is 8 to 72 bytes")
)

// User is an account.
type User struct {
	ID      int64
	Name    string
	Created time.Time
	// SessionsValidAfter (millisecond precision) changes whenever the
	// user's sessions must end: a session token records it when issued
	// and holds only while it is unchanged. It is set at creation and by
	// every password change.
	SessionsValidAfter time.Time
	// Presence is what the user says of their presence (presence.go), read
	// with the rest so that the lookup a session makes on every request
	// tells it too.
	Presence Presence
}

// Change is a user deleted, or whose password changed, by any process
// sharing the database: the sessions that user had may have ended.
type Change struct {
	Seq    int64 // orders the changes; never reused
	UserID int64
}

// Store is the user database.
type Store struct {
	db       *sql.DB
	postgres bool
	cost     int
	// decoy is a hash of a password nobody has, compared against when a name
	// is unknown so that the answer takes as long as for a wrong password.
	decoy []byte
	// compare, when set, replaces bcrypt in Authenticate (compare.go).
	compare PasswordComparer
}

// The schema is in migrations/ (see migrate.go). The queries are shared:
// both dialects take $N placeholders (SQLite reads $N as the Nth argument)
// and both know INSERT … ON CONFLICT … RETURNING.

// defaultCostDecoy is a bcrypt hash at bcrypt.DefaultCost of a password
// nobody has, precomputed so that opening the store costs no hashing.
const defaultCostDecoy = "$2a$10$SeFcMiYKmAYLf8ZeN9xYaeq.O3KIt23eg.CdVwYNxIwWzZX4vHZ5e"

// Open opens the user database and brings its schema up to date. A dsn
// starting with postgres:// or postgresql:// is a PostgreSQL connection URL;
// anything else is the path of a SQLite file, created if missing, readable
// and writable by its owner only (its -wal and -shm files take its mode).
// cost is the bcrypt cost; bcrypt.DefaultCost unless a test wants speed.
func Open(ctx context.Context, dsn string, cost int) (*Store, error) {
	driver, dialect, name, path := "sqlite", goose.DialectSQLite3, dsn, dsn
	postgres := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	if postgres {
		driver, dialect, name, path = "pgx", goose.DialectPostgres, redact(dsn), ""
	} else {
		f, err := createPrivate(path)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		f.Close()
		dsn = "file:" + dsn + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if err := migrate(ctx, db, dialect, path+"-lock"); err != nil {
		db.Close()
		return nil, fmt.Errorf("update the schema of %s: %w", name, err)
	}
	decoy := []byte(defaultCostDecoy)
	if c, err := bcrypt.Cost(decoy); err != nil || c != cost {
		if decoy, err = bcrypt.GenerateFromPassword([]byte("decoy password for unknown names"), cost); err != nil {
			db.Close()
			return nil, fmt.Errorf("hash decoy password: %w", err)
		}
	}
	return &Store{db: db, postgres: postgres, cost: cost, decoy: decoy}, nil
}

// redact returns a PostgreSQL URL fit for an error message: no password.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the PostgreSQL database"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// ValidName reports whether name could be an account's name, including one
// made before the naming rules (NewName): 1 to 64 printable characters.
// Lookups use it to turn away what no account can be called.
func ValidName(name string) error {
	if name == "" || len(name) > 64*utf8.UTFMax || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) ||
		strings.TrimSpace(name) != name || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ErrInvalidName
	}
	return nil
}

func validPassword(password string) error {
	if len(password) < 8 || len(password) > 72 { // bcrypt reads at most 72 bytes
		return ErrInvalidPass
	}
	return nil
}

// Add creates a user. Its id is one no user has had before. The name must
// pass NewName, is kept as NewName shows it, and must not look like any
// other user's (ErrExists).
func (s *Store) Add(ctx context.Context, name, password string) (User, error) {
	n, err := NewName(name)
	if err != nil {
		return User{}, err
	}
	if err := validPassword(password); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := time.Now().UTC()
	created, validAfter := now.Truncate(time.Second), now.Truncate(time.Millisecond)
	var id int64
	// ON CONFLICT without a target: a clash on the name, its key or its
	// shape all mean the name is taken.
	err = s.db.QueryRowContext(ctx,
		`INSERT INTO users (name, name_key, name_shape, password_hash, created_at, sessions_valid_after)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING RETURNING id`,
		n.Display, n.Key, n.Shape, hash, created.Unix(), validAfter.UnixMilli()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrExists
	} else if err != nil {
		return User{}, fmt.Errorf("add user %q: %w", n.Display, err)
	}
	return User{ID: id, Name: n.Display, Created: created, SessionsValidAfter: validAfter}, nil
}

// isUniqueViolation reports whether err is a unique constraint's refusal,
// in either database.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Rename gives the user called old the name new, which must pass NewName
// and not look like another user's. It ends the user's sessions (their
// tokens carry the old name) and records the change, like SetPassword.
func (s *Store) Rename(ctx context.Context, old, new string) error {
	n, err := NewName(new)
	if err != nil {
		return err
	}
	if ValidName(old) != nil { // no account has such a name, and PostgreSQL refuses invalid UTF-8
		return ErrNotFound
	}
	var taken int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE name <> $1 AND (name = $2 OR name_key = $3 OR name_shape = $4)`,
		old, n.Display, n.Key, n.Shape).Scan(&taken); err != nil {
		return fmt.Errorf("rename %s: %w", old, err)
	}
	if taken > 0 {
		return ErrExists
	}
	err = s.change(ctx, "rename "+old,
		`UPDATE users SET name = $1, name_key = $2, name_shape = $3,
			sessions_valid_after = CASE WHEN sessions_valid_after < $4 THEN $4 ELSE sessions_valid_after + 1 END
		WHERE name = $5 RETURNING id`,
		n.Display, n.Key, n.Shape, time.Now().UnixMilli(), old)
	if err != nil && isUniqueViolation(err) { // another rename or add won the race
		return ErrExists
	}
	return err
}

// List returns every user, by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_at, sessions_valid_after, status, status_text, invisible
		FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created, validAfter int64
		var status string
		if err := rows.Scan(&u.ID, &u.Name, &created, &validAfter, &status, &u.Presence.Text, &u.Presence.Invisible); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created, u.SessionsValidAfter = time.Unix(created, 0).UTC(), time.UnixMilli(validAfter).UTC()
		u.Presence.Status = storedStatus(status)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// HasUsers reports whether there is at least one user.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var exists bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for users: %w", err)
	}
	return exists, nil
}

// ByID returns the user with id, their presence settings included, or
// ErrNotFound.
func (s *Store) ByID(ctx context.Context, id int64) (User, error) {
	u := User{ID: id}
	var created, validAfter int64
	var status string
	err := s.db.QueryRowContext(ctx, `SELECT name, created_at, sessions_valid_after, status, status_text, invisible
		FROM users WHERE id = $1`, id).
		Scan(&u.Name, &created, &validAfter, &status, &u.Presence.Text, &u.Presence.Invisible)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("look up user %d: %w", id, err)
	}
	u.Created, u.SessionsValidAfter = time.Unix(created, 0).UTC(), time.UnixMilli(validAfter).UTC()
	u.Presence.Status = storedStatus(status)
	return u, nil
}

// SetPassword replaces a user's password and ends every session the user
// has: it moves SessionsValidAfter on (to now, or a millisecond past its
// old value if the clock says otherwise) and records the change.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := validPassword(password); err != nil {
		return err
	}
	if ValidName(name) != nil { // no account has such a name, and PostgreSQL refuses invalid UTF-8
		return ErrNotFound
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.change(ctx, "set password of "+name,
		`UPDATE users SET password_hash = $1,
			sessions_valid_after = CASE WHEN sessions_valid_after < $2 THEN $2 ELSE sessions_valid_after + 1 END
		WHERE name = $3 RETURNING id`,
		hash, time.Now().UnixMilli(), name)
}

// Delete removes a user, which ends every session the user has, and
// records the change.
func (s *Store) Delete(ctx context.Context, name string) error {
	if ValidName(name) != nil { // no account has such a name, and PostgreSQL refuses invalid UTF-8
		return ErrNotFound
	}
	return s.change(ctx, "delete user "+name, `DELETE FROM users WHERE name = $1 RETURNING id`, name)
}

// change runs query, which changes one user and returns its id, and records
// the change in user_changes in the same transaction; ErrNotFound if the
// query matched nobody.
func (s *Store) change(ctx context.Context, doing, query string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	defer tx.Rollback()
	if s.postgres {
		// PostgreSQL hands out seq values when rows are inserted, not when
		// they commit: two changes committing out of order would let a
		// watcher that saw the later one skip the earlier one for good.
		// Changes are rare (an operator's command), so they take turns:
		// EXCLUSIVE mode blocks other writers of the table, not its readers.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE user_changes IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("%s: %w", doing, err)
		}
	}
	// On SQLite the first statement writes, so the transaction takes the
	// write lock (waiting for it) before reading anything.
	var id int64
	err = tx.QueryRowContext(ctx, query, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO user_changes (user_id, at) VALUES ($1, $2)`, id, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("%s: record the change: %w", doing, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}

// LastChange returns the seq of the latest change recorded, 0 if none: a
// watcher starting now asks for the changes after it.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM user_changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the latest user change: %w", err)
	}
	return seq, nil
}

// ChangesSince returns at most limit changes recorded after seq, oldest
// first.
func (s *Store) ChangesSince(ctx context.Context, seq int64, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, user_id FROM user_changes WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read user changes: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.UserID); err != nil {
			return nil, fmt.Errorf("read user changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read user changes: %w", err)
	}
	return out, nil
}

// PruneChanges forgets the changes recorded before t. A watcher that has
// not read them by then misses them.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM user_changes WHERE at < $1`, before.UnixMilli()); err != nil {
		return fmt.Errorf("prune user changes: %w", err)
	}
	return nil
}

// Authenticate returns the user whose name and password match, their
// presence settings included, or ErrBadCredentials whichever of the two is
// wrong, in about the same time.
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	var u User
	var hash []byte
	var created, validAfter int64
	var status string
	err := sql.ErrNoRows
	if ValidName(name) == nil { // no account has any other name, and PostgreSQL refuses invalid UTF-8
		// The exact name first (an account from before the naming rules
		// may share its key with another), else the one with the same key.
		err = s.db.QueryRowContext(ctx, `SELECT id, name, password_hash, created_at, sessions_valid_after,
				status, status_text, invisible
			FROM users WHERE name = $1 OR name_key = $2 ORDER BY CASE WHEN name = $1 THEN 0 ELSE 1 END LIMIT 1`, name, NameKey(name)).
			Scan(&u.ID, &u.Name, &hash, &created, &validAfter, &status, &u.Presence.Text, &u.Presence.Invisible)
		// A key is a skeleton, shared by names that merely look alike
		// ("a1ice"); only another spelling of the name itself ("ALICE",
		// "ａｌｉｃｅ") signs its owner in.
		if err == nil && u.Name != name && !SameName(u.Name, name) {
			err = sql.ErrNoRows
		}
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_ = s.comparePassword(s.decoy, []byte(password))
		return User{}, ErrBadCredentials
	case err != nil:
		return User{}, fmt.Errorf("look up user: %w", err)
	}
	if s.comparePassword(hash, []byte(password)) != nil {
		return User{}, ErrBadCredentials
	}
	u.Created, u.SessionsValidAfter = time.Unix(created, 0).UTC(), time.UnixMilli(validAfter).UTC()
	u.Presence.Status = storedStatus(status)
	return u, nil
}
