// Package userstest gives tests a PostgreSQL database of their own for the
// user store.
package userstest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// DefaultPostgres is the server the tests use unless HERENOW_TEST_POSTGRES
// names another: the local one `go tool task postgres` starts.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN creates an empty schema on the test server (HERENOW_TEST_POSTGRES,
// else DefaultPostgres) and returns a postgres:// URL whose connections use
// it, so that tests can run in parallel without seeing each other's users.
// The schema is dropped when the test ends. An unreachable server fails the
// test: it is never skipped.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("HERENOW_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("HERENOW_TEST_POSTGRES must be a postgres:// URL, not %q", base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := "herenow_test_" + strings.ToLower(rand.Text()[:16])
	schema := pgx.Identifier{name}.Sanitize()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable or refuses to create a schema: %v\n"+
			"Start it with `go tool task postgres`, or name another server in HERENOW_TEST_POSTGRES.", u.Redacted(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
