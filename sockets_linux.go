package main

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeout returns a listener Control that sets TCP_USER_TIMEOUT to d
// on the listening socket; accepted connections inherit it. The kernel
// then aborts a connection whose sent data stays unacknowledged, or unsent
// behind a peer's closed receive window, for d, and Go's read on it fails.
// That is how an SSE client that vanished (its packets dropped) or stopped
// reading is found: EventSource never answers, so only TCP can tell. It
// bounds WebSocket and page connections the same way, which is what a
// connection that cannot deliver anything for d deserves.
func userTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		}); cerr != nil {
			return cerr
		}
		if err != nil {
			return fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
		}
		return nil
	}
}

// openFileLimit is the process's soft limit on open files (the Go runtime
// has already raised it to the hard limit), or 0 if unknown.
func openFileLimit() uint64 {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil || l.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return l.Cur
}
