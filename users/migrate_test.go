package users_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"herenow/users"
)

// The schemas herenow created before it had migrations, word for word.
const (
	unversionedSQLiteSchema = `
CREATE TABLE IF NOT EXISTS users (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT`
	unversionedPostgresSchema = `
CREATE TABLE IF NOT EXISTS users (
	id            BIGSERIAL PRIMARY KEY,
	name          TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash BYTEA NOT NULL,
	created_at    BIGINT NOT NULL
)`
)

// latestVersion is the number of the newest migration.
const latestVersion = 9

// openRaw opens dsn with the bare driver, as the store before migrations
// would have.
func openRaw(t *testing.T, dsn string) (*sql.DB, bool) {
	t.Helper()
	postgres := strings.HasPrefix(dsn, "postgres://")
	driver := "sqlite"
	if postgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, postgres
}

// createUnversioned creates the schema at dsn as herenow did before it had
// versioned migrations, with the given users (each with the password
// "NAME's password", created at created), and returns the bare connection.
func createUnversioned(t *testing.T, dsn string, created time.Time, names ...string) *sql.DB {
	t.Helper()
	db, postgres := openRaw(t, dsn)
	schema := unversionedSQLiteSchema
	if postgres {
		schema = unversionedPostgresSchema
	}
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		hash, err := bcrypt.GenerateFromPassword([]byte(name+"'s password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3)`, name, hash, created.Unix()); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestADatabaseFromBeforeMigrationsIsUpgradedWithoutLosingAUser creates the
// schema as herenow did before it had versioned migrations, with users in
// it and no version table, then opens it with the store: every user still
// logs in, every migration is applied, and the upgraded table behaves as a
// new one does.
func TestADatabaseFromBeforeMigrationsIsUpgradedWithoutLosingAUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		created := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
		db := createUnversioned(t, dsn, created, "alice", "bob", "mallory")

		s := openStore(t, dsn)
		var version int64
		if err := db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&version); err != nil {
			t.Fatalf("no version table after the upgrade: %v", err)
		}
		if version != latestVersion {
			t.Errorf("schema version %d after the upgrade, want %d", version, latestVersion)
		}
		byName := map[string]users.User{}
		for _, name := range []string{"alice", "bob", "mallory"} {
			u, err := s.Authenticate(ctx, name, name+"'s password")
			if err != nil {
				t.Fatalf("%s cannot log in after the upgrade: %v", name, err)
			}
			if !u.Created.Equal(created) || !u.SessionsValidAfter.Equal(created) {
				t.Errorf("%s: created %v, sessions valid after %v; want both %v", name, u.Created, u.SessionsValidAfter, created)
			}
			if u.Presence != (users.Presence{}) {
				t.Errorf("%s: presence %+v after the upgrade, want available, no text, visible", name, u.Presence)
			}
			byName[name] = u
		}
		// The upgraded table never reuses an id, nor does it record a
		// change without its own.
		if err := s.Delete(ctx, "mallory"); err != nil {
			t.Fatal(err)
		}
		carol, err := s.Add(ctx, "carol", "carol's password")
		if err != nil {
			t.Fatal(err)
		}
		if carol.ID <= byName["mallory"].ID {
			t.Errorf("carol got id %d after mallory's %d was deleted", carol.ID, byName["mallory"].ID)
		}
		if changes, err := s.ChangesSince(ctx, 0, 10); err != nil || len(changes) != 1 || changes[0].UserID != byName["mallory"].ID {
			t.Errorf("changes = %+v, %v; want mallory's deletion", changes, err)
		}
		// It records logouts, too.
		if _, err := s.Revoke(ctx, "alice's session", time.Now().Add(time.Hour)); err != nil {
			t.Errorf("revoke on the upgraded database: %v", err)
		}
		if now, err := s.RevokedNow(ctx); err != nil || len(now) != 1 {
			t.Errorf("revoked now on the upgraded database: %+v, %v; want alice's session", now, err)
		}
		// Nobody has been seen yet; the upgraded table keeps presence too.
		if seen, err := s.RecentlySeen(ctx, time.Time{}, 10); err != nil || len(seen) != 0 {
			t.Errorf("recently seen right after the upgrade: %+v, %v; want nobody", seen, err)
		}
		if _, err := s.SetStatus(ctx, byName["bob"].ID, users.StatusAway, "back soon"); err != nil {
			t.Errorf("set a status on the upgraded database: %v", err)
		}
		if err := s.TouchLastSeen(ctx, byName["bob"].ID, created); err != nil {
			t.Errorf("record last seen on the upgraded database: %v", err)
		}

		// Opening it again applies nothing and loses nothing.
		s2 := openStore(t, dsn)
		if list, err := s2.List(ctx); err != nil || len(list) != 3 {
			t.Errorf("after a second open: %+v, %v; want alice, bob, carol", list, err)
		}
		if u, err := s2.ByID(ctx, byName["bob"].ID); err != nil || u.Presence != (users.Presence{Status: users.StatusAway, Text: "back soon"}) {
			t.Errorf("bob after a second open: %+v, %v; want away, back soon", u, err)
		}
		if seen, err := s2.RecentlySeen(ctx, created, 10); err != nil || len(seen) != 1 || seen[0].Name != "bob" {
			t.Errorf("recently seen after a second open: %+v, %v; want bob", seen, err)
		}
	})
}

func TestIDsAreNeverReused(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		if _, err := s.Add(ctx, "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
		mallory, err := s.Add(ctx, "mallory", "mallory's password")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "mallory"); err != nil {
			t.Fatal(err)
		}
		bob, err := s.Add(ctx, "bob", "battery staple")
		if err != nil {
			t.Fatal(err)
		}
		if bob.ID == mallory.ID {
			t.Errorf("bob got deleted mallory's id %d", bob.ID)
		}
		if _, err := s.ByID(ctx, mallory.ID); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("ByID(mallory's old id) = %v, want ErrNotFound", err)
		}
		if got, err := s.ByID(ctx, bob.ID); err != nil || got.Name != "bob" || !got.SessionsValidAfter.Equal(bob.SessionsValidAfter) {
			t.Errorf("ByID(bob) = %+v, %v; added %+v", got, err, bob)
		}
	})
}

// TestPasswordChangeMovesSessionsValidAfterAndIsRecorded: a password change
// gives the user a new SessionsValidAfter, later than the old one even when
// two changes fall within one millisecond, and both it and a deletion are
// recorded as changes a watcher reads in order.
func TestPasswordChangeMovesSessionsValidAfterAndIsRecorded(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		alice, err := s.Add(ctx, "alice", "first password")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, "bob", "bob's password"); err != nil {
			t.Fatal(err)
		}
		start, err := s.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		prev := alice.SessionsValidAfter
		for i := range 3 {
			if err := s.SetPassword(ctx, "alice", "password number "+string(rune('a'+i))); err != nil {
				t.Fatal(err)
			}
			u, err := s.ByID(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !u.SessionsValidAfter.After(prev) {
				t.Errorf("change %d: sessions valid after %v, not after %v", i+1, u.SessionsValidAfter, prev)
			}
			if got, err := s.Authenticate(ctx, "alice", "password number "+string(rune('a'+i))); err != nil || !got.SessionsValidAfter.Equal(u.SessionsValidAfter) {
				t.Errorf("authenticate after change %d: %+v, %v; want sessions valid after %v", i+1, got, err, u.SessionsValidAfter)
			}
			prev = u.SessionsValidAfter
		}
		if err := s.Delete(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		changes, err := s.ChangesSince(ctx, start, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 4 || changes[0].UserID != alice.ID || changes[3].UserID == alice.ID {
			t.Fatalf("changes since %d = %+v, want alice three times, then bob", start, changes)
		}
		for i := 1; i < len(changes); i++ {
			if changes[i].Seq <= changes[i-1].Seq {
				t.Errorf("changes out of order: %+v", changes)
			}
		}
		if last, err := s.LastChange(ctx); err != nil || last != changes[3].Seq {
			t.Errorf("LastChange = %d, %v; want %d", last, err, changes[3].Seq)
		}
		if more, err := s.ChangesSince(ctx, changes[1].Seq, 1); err != nil || len(more) != 1 || more[0] != changes[2] {
			t.Errorf("ChangesSince(second, limit 1) = %+v, %v; want the third", more, err)
		}
		if err := s.PruneChanges(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if left, err := s.ChangesSince(ctx, 0, 100); err != nil || len(left) != 0 {
			t.Errorf("after pruning: %+v, %v", left, err)
		}
		// A pruned seq is never handed out again.
		if err := s.Delete(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if after, err := s.ChangesSince(ctx, changes[3].Seq, 100); err != nil || len(after) != 1 {
			t.Errorf("a change after pruning: %+v, %v; want one, after the pruned ones", after, err)
		}
	})
}

// TestTheDatabaseFilesAreOwnerOnlyWhateverTheUmask opens a store in an
// existing directory under the usual umask 022 and checks that the
// database and its -wal, -shm and lock files are 0600. It changes the
// process's umask, so it must not run in parallel with other tests.
func TestTheDatabaseFilesAreOwnerOnlyWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "users.db")
	s, err := users.Open(context.Background(), path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Add(context.Background(), "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	// Written while the store is open: SQLite removes -wal when the last
	// connection closes.
	for _, name := range []string{"users.db", "users.db-wal", "users.db-shm", "users.db-lock"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if mode := info.Mode() & fs.ModePerm; mode != 0o600 {
			t.Errorf("%s is %v, want -rw-------", name, mode)
		}
	}
}

// TestNamesFromBeforeTheRulesKeepWorking upgrades a database whose users
// were named before the naming rules, two of them alike: each still signs
// in with the name as written, the look-alike of an older user keeps a key
// of its own, and an operator can rename it to a name the rules take.
func TestNamesFromBeforeTheRulesKeepWorking(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		old := []string{"alice", "Alice", "Alice Smith", "\u0430lice"}
		createUnversioned(t, dsn, time.Now(), old...)
		s := openStore(t, dsn)
		for _, name := range old {
			if u, err := s.Authenticate(ctx, name, name+"'s password"); err != nil || u.Name != name {
				t.Errorf("%q after the upgrade: %+v, %v; want her own account", name, u, err)
			}
		}
		if u, err := s.Authenticate(ctx, "ALICE", "alice's password"); err != nil || u.Name != "alice" {
			t.Errorf("ALICE signs in as %+v, %v; want the oldest alice, who holds the name's key", u, err)
		}
		if _, err := s.Add(ctx, "ALICE", "long enough"); !errors.Is(err, users.ErrExists) {
			t.Errorf("a new ALICE beside the old alice: err = %v, want ErrExists", err)
		}
		if err := s.Rename(ctx, "Alice Smith", "alice.smith"); err != nil {
			t.Fatalf("rename a name the rules refuse: %v", err)
		}
		if err := s.Rename(ctx, "Alice", "alice2"); err != nil {
			t.Fatalf("rename the look-alike: %v", err)
		}
		if u, err := s.Authenticate(ctx, "alice2", "Alice's password"); err != nil || u.Name != "alice2" {
			t.Errorf("after the rename: %+v, %v", u, err)
		}
	})
}
