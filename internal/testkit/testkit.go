// Package testkit holds the small pieces that tests of a running server
// share: a log buffer many goroutines may write to while the test reads
// it, a bounded wait for a condition, and a free loopback address.
package testkit

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// LogBuffer is a bytes.Buffer that a server's logger and the test may use
// at once: give it to the server as its log writer, read it with String.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pollEvery is how often WaitUntil checks its condition.
const pollEvery = 20 * time.Millisecond

// WaitUntil polls cond every 20 ms until it holds. When it still does not
// hold after limit, it fails the test with "waited <limit> for: <what>",
// so what names the awaited state ("alice to go offline").
func WaitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for: %s", limit, what)
		}
		time.Sleep(pollEvery)
	}
}

// FreeLoopbackAddr returns a loopback address, 127.0.0.1:port, whose port
// was free a moment ago.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}
