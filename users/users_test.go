package users_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"herenow/users"
)

func openStore(t *testing.T) *users.Store {
	t.Helper()
	s, err := users.Open(context.Background(), filepath.Join(t.TempDir(), "users.db"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAddListAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
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

	got, err := s.Authenticate(ctx, "alice", "correct horse")
	if err != nil || got.ID != alice.ID || got.Name != "alice" {
		t.Errorf("authenticate alice = %+v, %v", got, err)
	}
	for _, c := range []struct{ name, password string }{
		{"alice", "wrong password"},
		{"nobody", "correct horse"},
		{"alice' OR '1'='1", "x' OR '1'='1"},
	} {
		if _, err := s.Authenticate(ctx, c.name, c.password); !errors.Is(err, users.ErrBadCredentials) {
			t.Errorf("authenticate %q/%q: err = %v, want ErrBadCredentials", c.name, c.password, err)
		}
	}
}

func TestPasswordChangeAndDelete(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
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
	if err := s.SetPassword(ctx, "nobody", "whatever123"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("passwd unknown: err = %v, want ErrNotFound", err)
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
}

func TestInvalidNamesAndPasswordsAreRefused(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, name := range []string{"", " alice", "a\nb", "\xff\xfe", string(make([]rune, 65))} {
		if _, err := s.Add(ctx, name, "long enough"); !errors.Is(err, users.ErrInvalidName) {
			t.Errorf("Add(%q): err = %v, want ErrInvalidName", name, err)
		}
	}
	for _, pw := range []string{"short", string(make([]byte, 73))} {
		if _, err := s.Add(ctx, "carol", pw); !errors.Is(err, users.ErrInvalidPass) {
			t.Errorf("Add with %d-byte password: err = %v, want ErrInvalidPass", len(pw), err)
		}
	}
	if _, err := s.Add(ctx, "<script>alert(1)</script>", "long enough"); err != nil {
		t.Errorf("a name with markup is allowed (and escaped on output): %v", err)
	}
}
