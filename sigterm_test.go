package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
)

// TestSIGTERMDrainsTheRealBinary builds herenow, connects live clients over
// both transports and a request still uploading its body, sends SIGTERM,
// and checks that each saw a clean end and the process exited 0 in time.
func TestSIGTERMDrainsTheRealBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "herenow")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr := testkit.FreeLoopbackAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--data", t.TempDir())
	var logs testkit.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	waitServing(t, base, &logs)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var sockets []*websocket.Conn
	for range 2 {
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/live/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		sockets = append(sockets, c)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/live/events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	events := bufio.NewReader(stream.Body)
	if line, err := events.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("event stream starts with %q, %v", line, err)
	}

	// A login whose body is only half sent when the signal arrives.
	upload, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer upload.Close()
	body := "username=alice&password=not+her+password"
	fmt.Fprintf(upload, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body[:10])
	// A request on another connection completing proves the server has
	// accepted the first one (connections are accepted in order).
	if resp, err := http.Get(base + "/login"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	for i, c := range sockets {
		if code, err := wstest.ReadUntilClose(ctx, c); code != websocket.StatusServiceRestart {
			t.Errorf("websocket %d closed with %v (%v), want 1012", i, code, err)
		}
	}
	if _, err := io.Copy(io.Discard, events); err != nil {
		t.Errorf("event stream did not end cleanly: %v", err)
	}
	if _, err := io.WriteString(upload, body[10:]); err != nil {
		t.Fatalf("finishing the upload: %v", err)
	}
	status, err := bufio.NewReader(upload).ReadString('\n')
	if err != nil || !strings.Contains(status, "401") {
		t.Errorf("in-flight login answered %q, %v; want its 401", status, err)
	}

	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("exit: %v\n%s", exitErr, logs.String())
		}
	case <-time.After(drainTimeout + 5*time.Second):
		t.Fatalf("still running %v after SIGTERM\n%s", drainTimeout+5*time.Second, logs.String())
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("still accepting connections after exit")
	}
}
