//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/static"
)

// TestOrdinaryRequestsAreBoundedButLiveStreamsAreNot runs the program with
// half-second request timeouts: a login whose body trickles in is cut off,
// and so is a client reading the stylesheet too slowly; an SSE stream and a
// WebSocket opened before them outlive both timeouts and still get frames.
func TestOrdinaryRequestsAreBoundedButLiveStreamsAreNot(t *testing.T) {
	const timeout = 500 * time.Millisecond
	p := startProgram(t, nil, nil, testkit.FreeLoopbackAddr(t), "", "--read-timeout", timeout.String(), "--write-timeout", timeout.String(),
		"--ping-interval", "200ms", "--tick", "10ms")
	host := strings.TrimPrefix(p.base, "http://")
	dial := (&net.Dialer{}).DialContext

	// The live streams, each read by a goroutine that reports every frame.
	_, events := p.openSSE(dial, host, http.Header{})
	sseFrames := make(chan time.Time, 100)
	go func() {
		defer close(sseFrames)
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				return
			}
			if line == "event: update\n" {
				sseFrames <- time.Now()
			}
		}
	}()
	ws := p.openWS(dial, host, http.Header{})
	wsFrames := make(chan time.Time, 100)
	go func() {
		defer close(wsFrames)
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
			wsFrames <- time.Now()
		}
	}()
	opened := time.Now()

	t.Run("slow request body", func(t *testing.T) {
		c, err := dial(t.Context(), "tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=alice", host)
		sent := time.Now()
		ended := make(chan time.Duration, 1)
		go func() {
			io.Copy(io.Discard, c) // a response, then the close; or the close alone
			ended <- time.Since(sent)
		}()
		trickle := time.NewTicker(50 * time.Millisecond)
		defer trickle.Stop()
		for {
			select {
			case took := <-ended:
				t.Logf("a body trickling in at 20 bytes/s was cut off after %v", took.Round(time.Millisecond))
				if took > timeout+time.Second {
					t.Errorf("cut off after %v, want within --read-timeout %v (+1s)", took, timeout)
				}
				return
			case <-trickle.C:
				if time.Since(sent) > 5*time.Second {
					t.Fatalf("still reading a trickling body after %v; --read-timeout is %v", time.Since(sent).Round(time.Millisecond), timeout)
				}
				c.Write([]byte("x"))
			}
		}
	})

	t.Run("slow reader of a large response", func(t *testing.T) {
		assets, err := static.Load(0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tinyReceiveBuffer(true)(t.Context(), "tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", assets.Bulma, host)
		// The client reads nothing for longer than --write-timeout, as a
		// slow link would, then reads what it can.
		time.Sleep(timeout + time.Second)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Logf("the response was cut off before its header could be read: %v", err)
			return
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil || n >= resp.ContentLength {
			t.Errorf("read all %d of %d bytes (%v): the server waited for a client slower than --write-timeout %v", n, resp.ContentLength, err, timeout)
		} else {
			t.Logf("cut off after %d of %d bytes: %v", n, resp.ContentLength, err)
		}
	})

	// Both live streams have outlived both timeouts several times over;
	// a guest's arrival still reaches them.
	if since := time.Since(opened); since < 3*timeout {
		t.Fatalf("the live streams are only %v old", since)
	}
	arrived := time.Now()
	guest, _, err := websocket.Dial(t.Context(), "ws://"+host+"/live/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer guest.CloseNow()
	for name, frames := range map[string]chan time.Time{"SSE": sseFrames, "WebSocket": wsFrames} {
		for deadline := time.After(5 * time.Second); ; {
			select {
			case at, ok := <-frames:
				if !ok {
					t.Fatalf("the %s stream ended (it was %v old); a live stream must outlive the request timeouts", name, time.Since(opened).Round(time.Millisecond))
				}
				if at.Before(arrived) {
					continue
				}
			case <-deadline:
				t.Fatalf("the %s stream got no frame for a guest's arrival", name)
			}
			break
		}
	}
}
