package users

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations holds the schema's history, one directory of numbered SQL
// files per dialect, applied in order by goose. Version 1 is the schema
// herenow had before it used migrations, so databases it made are upgraded
// like any other.
//
//go:embed migrations
var migrations embed.FS

// migrationLockID names the PostgreSQL advisory lock held while migrating:
// the same key the schema was created under before migrations, so an older
// instance starting beside a newer one waits for it too.
const migrationLockID = 7469736520

// migrate brings the schema up to date. Instances starting together
// migrate one at a time: on PostgreSQL each waits for an advisory lock, on
// SQLite for a lock on the file lockPath. The lock is held across all of
// goose's work, including its first look at the version table, so two
// instances never both create it or both apply a migration.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, lockPath string) error {
	fsys, err := fs.Sub(migrations, "migrations/"+map[goose.Dialect]string{
		goose.DialectSQLite3: "sqlite", goose.DialectPostgres: "postgres"}[dialect])
	if err != nil {
		return err
	}
	var unlock func()
	if dialect == goose.DialectPostgres {
		unlock, err = lockPostgres(ctx, db)
	} else {
		unlock, err = lockFile(ctx, lockPath)
	}
	if err != nil {
		return fmt.Errorf("wait for other instances' migrations: %w", err)
	}
	defer unlock()
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(goose.NewGoMigration(6, &goose.GoFunc{RunTx: fillNameKeys}, nil)))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// lockPostgres takes the migration lock on a connection of its own, held
// until unlock. pg_advisory_lock waits for the holder; ctx bounds the wait.
func lockPostgres(ctx context.Context, db *sql.DB) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockID)); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		// Closing the session would release the lock too, but the pool
		// keeps connections open.
		conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLockID))
		conn.Close()
	}, nil
}

// fillNameKeys gives every user made before names had keys (migration 5)
// theirs, oldest first. A name the rules refuse, or one that looks like an
// older user's, gets keys that match only itself (NameKey's legacy form):
// it keeps working, exactly as written, and an operator can rename it.
func fillNameKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM users WHERE name_key IS NULL ORDER BY id`)
	if err != nil {
		return err
	}
	type row struct {
		id   int64
		name string
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.name); err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, r := range todo {
		key, shape := legacyKeyPrefix+r.name, legacyKeyPrefix+r.name
		if n, err := NewName(r.name); err == nil && !taken[n.Key] && !taken[n.Shape] {
			key, shape = n.Key, n.Shape
		}
		taken[key], taken[shape] = true, true
		if _, err := tx.ExecContext(ctx, `UPDATE users SET name_key = $1, name_shape = $2 WHERE id = $3`, key, shape, r.id); err != nil {
			return fmt.Errorf("give %q its name keys: %w", r.name, err)
		}
	}
	return nil
}
