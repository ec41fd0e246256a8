package users_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"herenow/users"
	"herenow/users/userstest"
)

// forEachBackend runs test, in parallel, against a fresh, empty database on
// each backend the store supports: SQLite in a temporary directory, and
// PostgreSQL in a schema of its own (see userstest.PostgresDSN).
func forEachBackend(t *testing.T, test func(t *testing.T, dsn string)) {
	for _, b := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "users.db") }},
		{"postgres", userstest.PostgresDSN},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b.dsn(t))
		})
	}
}

// forEachStore runs test against an open store on each backend.
func forEachStore(t *testing.T, test func(t *testing.T, s *users.Store)) {
	forEachBackend(t, func(t *testing.T, dsn string) { test(t, openStore(t, dsn)) })
}

func openStore(t *testing.T, dsn string) *users.Store {
	t.Helper()
	s, err := users.Open(context.Background(), dsn, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAddListAuthenticate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		alice, err := s.Add(ctx, "alice", "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, "bob", "battery staple"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, "alice", "another one"); !errors.Is(err, users.ErrExists) {
			t.Errorf("duplicate add: err = %v, want ErrExists", err)
		}

		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "alice" || list[1].Name != "bob" {
			t.Errorf("list = %+v, want alice, bob", list)
		}
		if list[0].ID != alice.ID || !list[0].Created.Equal(alice.Created) {
			t.Errorf("listed alice = %+v, added %+v", list[0], alice)
		}

		got, err := s.Authenticate(ctx, "alice", "correct horse")
		if err != nil || got.ID != alice.ID || got.Name != "alice" || !got.Created.Equal(alice.Created) {
			t.Errorf("authenticate alice = %+v, %v; added %+v", got, err, alice)
		}
		for _, c := range []struct{ name, password string }{
			{"alice", "wrong password"},
			{"nobody", "correct horse"},
			{"alice' OR '1'='1", "x' OR '1'='1"},
			{"\xff\xfe", "correct horse"},
			{"ali\x00ce", "correct horse"},
		} {
			if _, err := s.Authenticate(ctx, c.name, c.password); !errors.Is(err, users.ErrBadCredentials) {
				t.Errorf("authenticate %q/%q: err = %v, want ErrBadCredentials", c.name, c.password, err)
			}
		}
	})
}

func TestHasUsersSaysWhetherThereIsAny(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		has := func() bool {
			t.Helper()
			exists, err := s.HasUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return exists
		}
		if has() {
			t.Error("a new store has users")
		}
		if _, err := s.Add(ctx, "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
		if !has() {
			t.Error("no users after adding alice")
		}
		if err := s.Delete(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if has() {
			t.Error("users left after deleting the only one")
		}
	})
}

func TestPasswordChangeAndDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		if _, err := s.Add(ctx, "alice", "first password"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "alice", "second password"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "alice", "first password"); !errors.Is(err, users.ErrBadCredentials) {
			t.Errorf("old password still works: %v", err)
		}
		if _, err := s.Authenticate(ctx, "alice", "second password"); err != nil {
			t.Errorf("new password refused: %v", err)
		}
		for _, name := range []string{"nobody", "\xff\xfe", "ali\x00ce"} {
			if err := s.SetPassword(ctx, name, "whatever123"); !errors.Is(err, users.ErrNotFound) {
				t.Errorf("passwd %q: err = %v, want ErrNotFound", name, err)
			}
			if err := s.Delete(ctx, name); !errors.Is(err, users.ErrNotFound) {
				t.Errorf("delete %q: err = %v, want ErrNotFound", name, err)
			}
		}
		if err := s.Delete(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "alice"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("delete twice: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Authenticate(ctx, "alice", "second password"); !errors.Is(err, users.ErrBadCredentials) {
			t.Errorf("deleted user can log in: %v", err)
		}
	})
}

func TestInvalidNamesAndPasswordsAreRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		for _, name := range []string{"", " alice", "a\nb", "\xff\xfe", "a\x00b", string(make([]rune, 65))} {
			if _, err := s.Add(ctx, name, "long enough"); !errors.Is(err, users.ErrInvalidName) {
				t.Errorf("Add(%q): err = %v, want ErrInvalidName", name, err)
			}
		}
		for _, pw := range []string{"short", string(make([]byte, 73))} {
			if _, err := s.Add(ctx, "carol", pw); !errors.Is(err, users.ErrInvalidPass) {
				t.Errorf("Add with %d-byte password: err = %v, want ErrInvalidPass", len(pw), err)
			}
		}
		// Markup is escaped on output, but no name needs < or >.
		if _, err := s.Add(ctx, "<script>alert(1)</script>", "long enough"); !errors.Is(err, users.ErrInvalidName) {
			t.Errorf("Add of a name with markup: err = %v, want ErrInvalidName", err)
		}
	})
}

// TestListSortsNamesByTheirBytes pins one order on both backends, whatever
// PostgreSQL's locale would say.
func TestListSortsNamesByTheirBytes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		for _, name := range []string{"émile", "bob", "Zoë", "alice", "Ålice", "_x"} {
			if _, err := s.Add(ctx, name, "long enough"); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range list {
			names = append(names, u.Name)
		}
		if got, want := strings.Join(names, " "), "Zoë _x alice bob Ålice émile"; got != want {
			t.Errorf("list = %s, want %s", got, want)
		}
	})
}

// TestInstancesStartingTogetherShareOneStore opens the same database from
// several stores at once, as instances starting together do, and races
// them to add the same name: every open succeeds and one add wins.
func TestInstancesStartingTogetherShareOneStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		const n = 8
		stores := make([]*users.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = users.Open(context.Background(), dsn, bcrypt.MinCost) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		var mu sync.Mutex
		added, exists := 0, 0
		for _, s := range stores {
			wg.Go(func() {
				_, err := s.Add(context.Background(), "alice", "correct horse")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					added++
				case errors.Is(err, users.ErrExists):
					exists++
				default:
					t.Errorf("add: %v", err)
				}
			})
		}
		wg.Wait()
		if added != 1 || exists != n-1 {
			t.Errorf("%d adds succeeded and %d found the name taken, want 1 and %d", added, exists, n-1)
		}
		for i, s := range stores {
			if _, err := s.Authenticate(context.Background(), "alice", "correct horse"); err != nil {
				t.Errorf("store %d: %v", i, err)
			}
		}
	})
}

func TestOpenPostgresErrorsDoNotShowThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://herenow:s3cret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=5",
		"postgresql://herenow@127.0.0.1:1/none?password=s3cret-pw&sslmode=disable&connect_timeout=5",
	} {
		_, err := users.Open(context.Background(), dsn, bcrypt.MinCost)
		if err == nil {
			t.Fatal("opened a database on port 1")
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestNamesThatLookAlikeCannotBothExist adds alice, then every spelling
// found to pass for her: each is refused, on both backends, and the ones
// that are only another spelling of her name sign her in.
func TestNamesThatLookAlikeCannotBothExist(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		alice, err := s.Add(ctx, "alice", "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"Alice", "ALICE", "ａｌｉｃｅ", "aIice"} {
			if _, err := s.Add(ctx, name, "long enough"); !errors.Is(err, users.ErrExists) {
				t.Errorf("Add(%q) beside alice: err = %v, want ErrExists", name, err)
			}
		}
		for _, name := range []string{"\u0430lice", "alice\u034f", "alice\ufe0f", "\u3164", "\u2800", "\u115f", "and 3 guests", "Nobody is here yet."} {
			if _, err := s.Add(ctx, name, "long enough"); !errors.Is(err, users.ErrInvalidName) {
				t.Errorf("Add(%q): err = %v, want ErrInvalidName", name, err)
			}
		}
		for _, name := range []string{"ALICE", "ａｌｉｃｅ"} {
			if u, err := s.Authenticate(ctx, name, "correct horse"); err != nil || u.ID != alice.ID {
				t.Errorf("Authenticate(%q) = %+v, %v; want alice", name, u, err)
			}
		}
		// Names that only look like hers share her key but are not her name.
		for _, name := range []string{"a1ice", "A1iCe", "aIice"} {
			if u, err := s.Authenticate(ctx, name, "correct horse"); !errors.Is(err, users.ErrBadCredentials) {
				t.Errorf("Authenticate(%q) = %+v, %v; want ErrBadCredentials", name, u, err)
			}
		}
		// NFD and NFC spellings are one name, kept as NFC.
		nfd, err := s.Add(ctx, "e\u0301lodie", "long enough")
		if err != nil || nfd.Name != "\u00e9lodie" {
			t.Fatalf("Add of an NFD name = %+v, %v; want it kept as NFC", nfd, err)
		}
		if _, err := s.Add(ctx, "\u00e9lodie", "long enough"); !errors.Is(err, users.ErrExists) {
			t.Errorf("Add of the NFC spelling beside the NFD one: err = %v, want ErrExists", err)
		}
	})
}

// TestRenameChecksTheNewNameAndEndsSessions renames a user: the new name
// passes the same rules as a new one, may not look like another user's,
// and the rename is recorded as a change that ends the user's sessions.
func TestRenameChecksTheNewNameAndEndsSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		bob, err := s.Add(ctx, "bob", "long enough")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, "carol", "long enough"); err != nil {
			t.Fatal(err)
		}
		if err := s.Rename(ctx, "bob", "Carol"); !errors.Is(err, users.ErrExists) {
			t.Errorf("Rename to a look-alike of carol: err = %v, want ErrExists", err)
		}
		if err := s.Rename(ctx, "bob", "b\u043eb"); !errors.Is(err, users.ErrInvalidName) {
			t.Errorf("Rename to a mixed-script name: err = %v, want ErrInvalidName", err)
		}
		if err := s.Rename(ctx, "nobody", "robert"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("Rename of nobody: err = %v, want ErrNotFound", err)
		}
		if err := s.Rename(ctx, "bob", "Bob"); err != nil { // only the case changes: his own key
			t.Fatalf("Rename bob to Bob: %v", err)
		}
		if err := s.Rename(ctx, "Bob", "robert"); err != nil {
			t.Fatal(err)
		}
		u, err := s.Authenticate(ctx, "robert", "long enough")
		if err != nil || u.ID != bob.ID || u.Name != "robert" {
			t.Errorf("Authenticate(robert) = %+v, %v; want bob's account renamed", u, err)
		}
		if !u.SessionsValidAfter.After(bob.SessionsValidAfter) {
			t.Errorf("sessions valid after %v, not moved on from %v: his old tokens still hold", u.SessionsValidAfter, bob.SessionsValidAfter)
		}
		if _, err := s.Authenticate(ctx, "bob", "long enough"); !errors.Is(err, users.ErrBadCredentials) {
			t.Errorf("the old name still signs in: %v", err)
		}
		if changes, err := s.ChangesSince(ctx, 0, 10); err != nil || len(changes) != 2 || changes[1].UserID != bob.ID {
			t.Errorf("changes = %+v, %v; want his two renames", changes, err)
		}
	})
}
