package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
)

// TestRunAsChildProcess is not a test of its own: run as a child process
// by a test that needs the program in a process of its own (with a low
// open-file limit), it serves with the arguments after "--" until SIGTERM.
func TestRunAsChildProcess(t *testing.T) {
	if os.Getenv("HERENOW_TEST_CHILD") != "1" {
		t.Skip("runs only as the child process of another test")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, append([]string{"herenow"}, flag.Args()...), noEnv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "herenow:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestAtItsOpenFileLimitPagesStillAnswer runs the program with an open-file
// limit of 64 and tries more live connections than that, over both
// transports, holding every one admitted. The default --max-live leaves a
// reserve, so every attempt is answered (admitted, or refused with 503),
// and afterwards /readyz, the page and login still answer at once.
func TestAtItsOpenFileLimitPagesStillAnswer(t *testing.T) {
	const fileLimit, attempts = 64, 100
	addr, data := testkit.FreeLoopbackAddr(t), t.TempDir()
	if err := run(t.Context(), []string{"herenow", "--data", data, "user", "add", "alice"}, noEnv, strings.NewReader(alicePassword+"\n"), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `ulimit -n "$0" && exec "$@"`, strconv.Itoa(fileLimit), os.Args[0], "-test.run=^TestRunAsChildProcess$", "--",
		"--addr", addr, "--data", data, "--ping-interval", "1m", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "HERENOW_TEST_CHILD=1")
	var logs testkit.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(drainTimeout + 5*time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitServing(t, base, &logs)

	admitted, refused := 0, 0
	for i := range attempts {
		ok, err := liveAttempt(t, addr, i%2 == 0)
		if err != nil {
			t.Errorf("live connection attempt %d (%d admitted, %d refused so far) was not answered: %v", i+1, admitted, refused, err)
			break
		}
		if ok {
			admitted++
		} else {
			refused++
		}
	}
	t.Logf("open-file limit %d: %d live connections admitted and held, %d refused with 503", fileLimit, admitted, refused)
	if want := defaultMaxLive(fileLimit); admitted != want {
		t.Errorf("%d live connections admitted, want the default cap %d", admitted, want)
	}

	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/readyz", "/", "/login", "/healthz"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Errorf("GET %s with live connections at the cap: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with live connections at the cap: %s", path, resp.Status)
		}
	}
	// A login takes a bcrypt comparison, seconds under the race detector on
	// a busy machine; what matters is that it is answered at all.
	client.Timeout = 20 * time.Second
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"alice"}, "password": {alicePassword}})
	if err != nil {
		t.Errorf("login with live connections at the cap: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login with live connections at the cap: %s", resp.Status)
	}
}

// liveAttempt opens one live connection, SSE or WebSocket, and reports
// whether it was admitted (it is then held until the test ends) or refused
// with 503; it fails if neither happens within 3 s.
func liveAttempt(t *testing.T, addr string, sse bool) (admitted bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if !sse {
		c, resp, err := websocket.Dial(t.Context(), "ws://"+addr+"/live/ws", &websocket.DialOptions{HTTPClient: &http.Client{Timeout: 3 * time.Second}})
		if err == nil {
			t.Cleanup(func() { c.CloseNow() })
			return true, nil
		}
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			return false, nil
		}
		return false, err
	}
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	fmt.Fprintf(c, "GET /live/events HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		c.SetDeadline(time.Time{})
		t.Cleanup(func() { c.Close() })
		return true, nil
	case http.StatusServiceUnavailable:
		c.Close()
		return false, nil
	}
	c.Close()
	return false, fmt.Errorf("GET /live/events: %s", resp.Status)
}
