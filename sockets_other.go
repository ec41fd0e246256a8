//go:build !linux

package main

import (
	"syscall"
	"time"
)

// userTimeout does nothing here: TCP_USER_TIMEOUT is Linux's. A vanished
// SSE client is then found only once its writes block or TCP gives up
// retransmitting.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error { return nil }

// openFileLimit is unknown here, so --max-live has no default cap.
func openFileLimit() uint64 { return 0 }
