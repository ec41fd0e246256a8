package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
)

// TestCountsAndBroadcasts starts the server through run, connects two
// clients and disconnects one: each change reaches every client still
// connected as {"online":N}; then cancelling ctx stops it.
func TestCountsAndBroadcasts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testkit.LogBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"baseline", "-addr", "127.0.0.1:0", "-every", "5ms"}, &logs) }()
	url := "ws://" + listeningAddr(t, &logs) + "/ws"

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	dial := func() *websocket.Conn {
		t.Helper()
		return wstest.Dial(t, dctx, url, nil)
	}
	// readUntil reads until the count is want: a count that a later one
	// superseded within one -every may never be sent.
	readUntil := func(conn *websocket.Conn, want string) {
		t.Helper()
		for {
			typ, msg, err := conn.Read(dctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if typ != websocket.MessageText || !regexp.MustCompile(`^\{"online":\d+\}$`).Match(msg) {
				t.Fatalf("got %v %q, want a text message {\"online\":N}", typ, msg)
			}
			if string(msg) == want {
				return
			}
		}
	}
	first := dial()
	readUntil(first, `{"online":1}`)
	second := dial()
	readUntil(first, `{"online":2}`)
	readUntil(second, `{"online":2}`)
	second.Close(websocket.StatusGoingAway, "")
	readUntil(first, `{"online":1}`)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// listeningAddr waits, for at most 10 s, for the server to log the address
// it listens on.
func listeningAddr(t *testing.T, logs *testkit.LogBuffer) string {
	t.Helper()
	line := regexp.MustCompile(`msg=listening addr=(\S+)`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := line.FindStringSubmatch(logs.String()); m != nil {
			if _, _, err := net.SplitHostPort(m[1]); err != nil {
				t.Fatalf("logged address %q: %v", m[1], err)
			}
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not say where it listens:\n%s", logs.String())
		}
	}
}

func TestATakenPortIsAnError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = run(context.Background(), []string{"baseline", "-addr", taken.Addr().String()}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("run on a taken port = %v, want an error naming it", err)
	}
}
