// Package users keeps herenow's accounts: names and password hashes,
// nothing else, in SQLite (the default) or PostgreSQL (so that several
// instances can share them).
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

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL through database/sql
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // pure-Go SQLite driver, so the binary needs no cgo
)

// Errors callers can tell apart.
var (
	ErrNotFound       = errors.New("no such user")
	ErrExists         = errors.New("a user with that name already exists")
	ErrBadCredentials = errors.New("wrong username or password")
	ErrInvalidName    = errors.New("a name is 1 to 64 printable characters")
	ErrInvalidPass    = errors.New("a password is 8 to 72 bytes")
)

// User is an account.
type User struct {
	ID      int64
	Name    string
	Created time.Time
}

// Store is the user database.
type Store struct {
	db   *sql.DB
	cost int
	// decoy is a hash of a password nobody has, compared against when a name
	// is unknown so that the answer takes as long as for a wrong password.
	decoy []byte
	// compare, when set, replaces bcrypt in Authenticate (compare.go).
	compare PasswordComparer
}

// The schemas are all that differs between the two databases. The queries
// are shared: both take $N placeholders (SQLite reads $N as the Nth
// argument) and both know INSERT … ON CONFLICT … RETURNING.
const (
	sqliteSchema = `
CREATE TABLE IF NOT EXISTS users (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT`

	// COLLATE "C" sorts names by their bytes, as SQLite does, whatever the
	// database's locale.
	postgresSchema = `
CREATE TABLE IF NOT EXISTS users (
	id            BIGSERIAL PRIMARY KEY,
	name          TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash BYTEA NOT NULL,
	created_at    BIGINT NOT NULL
)`

	// postgresSchemaLock makes instances starting together create the
	// schema one at a time: two concurrent CREATE TABLE IF NOT EXISTS can
	// fail on a unique violation in PostgreSQL's catalog.
	postgresSchemaLock = `SELECT pg_advisory_xact_lock(7469736520)`
)

// defaultCostDecoy is a bcrypt hash at bcrypt.DefaultCost of a password
// nobody has, precomputed so that opening the store costs no hashing.
const defaultCostDecoy = "$2a$10$SeFcMiYKmAYLf8ZeN9xYaeq.O3KIt23eg.CdVwYNxIwWzZX4vHZ5e"

// Open opens the user database, creating its table if needed. A dsn
// starting with postgres:// or postgresql:// is a PostgreSQL connection URL;
// anything else is the path of a SQLite file, created if missing. cost is
// the bcrypt cost; bcrypt.DefaultCost unless a test wants speed.
func Open(ctx context.Context, dsn string, cost int) (*Store, error) {
	driver, schema, name := "sqlite", []string{sqliteSchema}, dsn
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		driver, schema, name = "pgx", []string{postgresSchemaLock, postgresSchema}, redact(dsn)
	} else {
		dsn = "file:" + dsn + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if err := createSchema(ctx, db, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", name, err)
	}
	decoy := []byte(defaultCostDecoy)
	if c, err := bcrypt.Cost(decoy); err != nil || c != cost {
		if decoy, err = bcrypt.GenerateFromPassword([]byte("decoy password for unknown names"), cost); err != nil {
			db.Close()
			return nil, fmt.Errorf("hash decoy password: %w", err)
		}
	}
	return &Store{db: db, cost: cost, decoy: decoy}, nil
}

// createSchema runs the schema's statements in one transaction.
func createSchema(ctx context.Context, db *sql.DB, schema []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
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

// ValidName reports whether name may be used for an account.
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

// Add creates a user.
func (s *Store) Add(ctx context.Context, name, password string) (User, error) {
	if err := ValidName(name); err != nil {
		return User{}, err
	}
	if err := validPassword(password); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var id int64
	err = s.db.QueryRowContext(ctx,
		`INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id`,
		name, hash, now.Unix()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrExists
	} else if err != nil {
		return User{}, fmt.Errorf("add user %q: %w", name, err)
	}
	return User{ID: id, Name: name, Created: now}, nil
}

// List returns every user, by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created = time.Unix(created, 0).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetPassword replaces a user's password.
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
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE name = $2`, hash, name)
	return affectedOne(res, err, "set password of "+name)
}

// Delete removes a user.
func (s *Store) Delete(ctx context.Context, name string) error {
	if ValidName(name) != nil { // no account has such a name, and PostgreSQL refuses invalid UTF-8
		return ErrNotFound
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE name = $1`, name)
	return affectedOne(res, err, "delete user "+name)
}

func affectedOne(res sql.Result, err error, doing string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Authenticate returns the user whose name and password match, or
// ErrBadCredentials whichever of the two is wrong, in about the same time.
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	var u User
	var hash []byte
	var created int64
	err := sql.ErrNoRows
	if ValidName(name) == nil { // no account has any other name, and PostgreSQL refuses invalid UTF-8
		err = s.db.QueryRowContext(ctx, `SELECT id, name, password_hash, created_at FROM users WHERE name = $1`, name).
			Scan(&u.ID, &u.Name, &hash, &created)
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
	u.Created = time.Unix(created, 0).UTC()
	return u, nil
}
