package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
)

// TestTheLogIsKeptAcrossRestarts runs the program on its own through run:
// a guest comes to the lobby and another joins standup, and their entries
// are shown; after a stop and a start on the same data directory, the
// lobby's page shows the same entries, and standup, made anew by the
// next visitor, starts with its own.
func TestTheLogIsKeptAcrossRestarts(t *testing.T) {
	data, addr := t.TempDir(), testkit.FreeLoopbackAddr(t)
	base := "http://" + addr
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var logs testkit.LogBuffer
		go func() {
			done <- run(ctx, []string{"herenow", "--addr", addr, "--data", data, "--tick", "10ms", "--log-window", "0"},
				noEnv, strings.NewReader(""), &bytes.Buffer{}, &logs)
		}()
		waitServing(t, base, &logs)
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(drainTimeout + 5*time.Second):
				t.Fatal("run did not return after cancel")
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(path string) *websocket.Conn {
		t.Helper()
		return wstest.Dial(t, ctx, "ws://"+addr+path, nil)
	}
	// readUntil reads frames until one has want, and returns it.
	readUntil := func(conn *websocket.Conn, want string) string {
		t.Helper()
		return wstest.ReadUntil(t, ctx, conn, want)
	}

	stop := start()
	lobby := dial("/live/ws")
	readUntil(lobby, "a guest</strong> came online")
	room := dial("/r/standup/live/ws") // once the lobby's guest is logged: two entries
	readUntil(room, "a guest</strong> joined")
	before, err := parseActivityLog(httpGet(t, base+"/"))
	if err != nil || len(before) == 0 {
		t.Fatalf("the lobby's log before the restart: %v, %v", before, err)
	}
	lobby.CloseNow() // gone within the grace period: no departure logged
	room.CloseNow()
	stop()

	stop = start()
	defer stop()
	after, err := parseActivityLog(httpGet(t, base+"/"))
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the lobby's log after the restart:\n%v (%v)\nwant, as before:\n%v", after, err, before)
	}
	// standup's first viewer since: its snapshot holds the entry of before
	// (a-1), its own arrival comes after (a-2).
	room = dial("/r/standup/live/ws")
	snapshot := readUntil(room, `id="activity-log"`)
	room.CloseNow()
	if !strings.Contains(snapshot, `<li id="a-1"><strong>a guest</strong> joined`) {
		t.Errorf("standup's snapshot after the restart lacks the guest who joined before:\n%s", snapshot)
	}
}
