//go:build !unix

package users

import (
	"context"
	"errors"
	"os"
)

// lockFile is a no-op where flock is missing: instances starting together
// on one SQLite file there may race on a first migration.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	return func() {}, nil
}

// createPrivate opens path for reading and writing, creating it readable
// and writable by its owner only.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return os.OpenFile(path, os.O_RDWR, 0)
	}
	return f, err
}

// makePrivate does nothing where file modes are not Unix's.
func makePrivate(path string) error { return nil }
