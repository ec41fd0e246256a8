package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testRedisURL is the Redis the cluster tests use.
const testRedisURL = "redis://127.0.0.1:6379/0"

func TestRedisWithoutASharedSecretIsRefused(t *testing.T) {
	err := run(context.Background(), []string{"herenow", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--redis", testRedisURL},
		noEnv, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "HERENOW_JWT_SECRET") {
		t.Errorf("err = %v, want a refusal naming HERENOW_JWT_SECRET", err)
	}
}

// TestTwoInstancesShareOnePresence runs two real instances linked through
// Redis: a guest on A sees a guest connected to B, and then sees them go.
func TestTwoInstancesShareOnePresence(t *testing.T) {
	cluster := "herenow-test-" + rand.Text()
	env := func(k string) string {
		return map[string]string{
			"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
			"HERENOW_REDIS_URL":    testRedisURL,
			"HERENOW_CLUSTER_NAME": cluster,
			"HERENOW_GRACE":        "0s",
		}[k]
	}
	start := func(name string) string {
		t.Helper()
		addr := freeLoopbackAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		var logs lockedBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"herenow", "--addr", addr, "--data", t.TempDir()}, env, strings.NewReader(""), &bytes.Buffer{}, &logs)
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("instance %s: %v\n%s", name, err, logs.String())
			}
		})
		waitServing(t, "http://"+addr, &logs)
		if body := httpGet(t, "http://"+addr+"/readyz"); !strings.Contains(body, "ready") {
			t.Errorf("instance %s is not ready: %q", name, body)
		}
		return addr
	}
	a, b := start("A"), start("B")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(addr string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/live/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	waitFrame := func(c *websocket.Conn, want string) {
		t.Helper()
		for {
			_, f, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			if strings.Contains(string(f), want) {
				return
			}
		}
	}
	onA := dial(a)
	waitFrame(onA, "<strong>1</strong> person online")
	onB := dial(b)
	waitFrame(onA, "<strong>2</strong> people online")
	onB.Close(websocket.StatusGoingAway, "")
	waitFrame(onA, "<strong>1</strong> person online")
}
