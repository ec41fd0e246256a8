//go:build unix

package users

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile waits, for at most a minute or until ctx ends, for an exclusive
// flock on path (created 0600 if missing) and returns the func that
// releases it. The kernel releases it if the process dies, so a crash
// mid-migration leaves no stale lock. It is a file beside the database,
// not the database itself: SQLite takes fcntl locks on that, which flock
// must not meet on systems where the two kinds interact.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := createPrivate(path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by another process after a minute", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// createPrivate opens path for reading and writing, creating it readable
// and writable by its owner only whatever the umask. An existing file that
// others may read or write (made by an older herenow under a umask of 022)
// loses those permissions, and so do its SQLite -wal and -shm files, which
// SQLite made with its mode.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := makePrivate(p); err != nil {
				return nil, err
			}
		}
		return os.OpenFile(path, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, err
	}
	// The umask can only take bits away; one that took the owner's would
	// leave a file its own program cannot open again.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// makePrivate takes from the file at path, if there is one, every
// permission its group and others have.
func makePrivate(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return os.Chmod(path, mode&^0o077)
	}
	return nil
}
