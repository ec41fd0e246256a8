package users_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"herenow/users"
)

// TestEveryLoginCostsOnePasswordComparison counts Authenticate's bcrypt
// comparisons: an unknown or impossible name is checked against the decoy
// hash, so it costs exactly what a wrong password costs and takes as long.
func TestEveryLoginCostsOnePasswordComparison(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		if _, err := s.Add(ctx, "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
		var compared atomic.Int32
		s.SetPasswordComparer(func(hash, password []byte) error {
			compared.Add(1)
			return bcrypt.CompareHashAndPassword(hash, password)
		})
		for _, c := range []struct {
			what, name, password string
			want                 error
		}{
			{"right password", "alice", "correct horse", nil},
			{"wrong password", "alice", "wrong password", users.ErrBadCredentials},
			{"unknown name", "mallory", "correct horse", users.ErrBadCredentials},
			{"impossible name", strings.Repeat("x", 1000), "correct horse", users.ErrBadCredentials},
		} {
			compared.Store(0)
			if _, err := s.Authenticate(ctx, c.name, c.password); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.what, err, c.want)
			}
			if n := compared.Load(); n != 1 {
				t.Errorf("%s: %d password comparisons, want 1", c.what, n)
			}
		}
	})
}
