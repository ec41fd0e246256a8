package testkit_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"herenow/internal/testkit"
)

func TestLogBufferKeepsEveryConcurrentWrite(t *testing.T) {
	var b testkit.LogBuffer
	var writers sync.WaitGroup
	for i := range 8 {
		writers.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "writer %d line %d\n", i, j)
				_ = b.String() // a test reads while the server writes
			}
		})
	}
	writers.Wait()
	if lines := strings.Count(b.String(), "\n"); lines != 800 {
		t.Errorf("the buffer holds %d lines, want 800", lines)
	}
}

func TestWaitUntilReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	msg := testkit.Record(t, func(tb testing.TB) {
		testkit.WaitUntil(tb, 5*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	}).Fatal
	if msg != "" || calls != 3 {
		t.Errorf("WaitUntil failed with %q after %d calls, want it to return after 3", msg, calls)
	}
}

func TestWaitUntilFailsSayingWhatItWaitedFor(t *testing.T) {
	start := time.Now()
	msg := testkit.Record(t, func(tb testing.TB) {
		testkit.WaitUntil(tb, 100*time.Millisecond, "a condition that never holds", func() bool { return false })
	}).Fatal
	if want := "waited 100ms for: a condition that never holds"; msg != want {
		t.Errorf("WaitUntil failed with %q, want %q", msg, want)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("WaitUntil gave up after %v, before its limit of 100ms", took)
	}
}

func TestRecordKeepsErrorsAndEndsAtAFatal(t *testing.T) {
	got := testkit.Record(t, func(tb testing.TB) {
		tb.Errorf("first %d", 1)
		tb.Error("second")
		tb.Fatalf("fatal %s", "third")
		tb.Error("never")
	})
	if len(got.Errors) != 2 || got.Errors[0] != "first 1" || got.Errors[1] != "second" || got.Fatal != "fatal third" {
		t.Errorf("Record = %+v, want errors [first 1, second] and fatal \"fatal third\"", got)
	}
}

func TestFreeLoopbackAddrCanBeListenedOn(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeLoopbackAddr() = %q, want 127.0.0.1:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ln.Close()
}
