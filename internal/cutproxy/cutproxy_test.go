package cutproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"herenow/internal/cutproxy"
)

// quiet is how long a test listens for bytes that must not come: a cut
// proxy forwards nothing, so any byte within it is a failure.
const quiet = 300 * time.Millisecond

// echoServer answers every line with "echo: <line>" and counts the
// connections it accepted.
type echoServer struct {
	addr     string
	accepted atomic.Int64
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{addr: ln.Addr().String()}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			conns = append(conns, c)
			go func() {
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						c.Close()
						return
					}
					if _, err := io.WriteString(c, "echo: "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

func newProxy(t *testing.T, target string) *cutproxy.Proxy {
	t.Helper()
	p, err := cutproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends line and returns the answer, waiting at most 2 s.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, line string) string {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	got, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("answer to %q: %v", line, err)
	}
	return strings.TrimSuffix(got, "\n")
}

// nothingWithin requires that c neither receives a byte nor ends within
// quiet: the connection is open and silent.
func nothingWithin(t *testing.T, what string, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(quiet))
	defer c.SetReadDeadline(time.Time{})
	b, err := r.ReadByte()
	switch {
	case err == nil:
		t.Errorf("%s: received %q, want nothing", what, b)
	case !errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("%s: the connection ended (%v), want it open and silent", what, err)
	}
}

// endsWithin requires that c end (EOF or reset) within 2 s.
func endsWithin(t *testing.T, what string, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	if b, err := r.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: read %q, %v; want the connection ended", what, b, err)
	}
}

func TestForwardsBothWays(t *testing.T) {
	echo := newEchoServer(t)
	p := newProxy(t, echo.addr)
	c, r := dial(t, p.Addr())
	for _, line := range []string{"one", "two"} {
		if got := roundTrip(t, c, r, line); got != "echo: "+line {
			t.Errorf("through the proxy %q came back as %q", line, got)
		}
	}
}

// A cut drops what is sent, keeps the connection open, and opens none to
// the target for a client connecting while cut.
func TestACutForwardsNothingAndClosesNothing(t *testing.T) {
	echo := newEchoServer(t)
	p := newProxy(t, echo.addr)
	before, beforeR := dial(t, p.Addr())
	roundTrip(t, before, beforeR, "hello")

	p.Cut()
	if _, err := io.WriteString(before, "lost\n"); err != nil {
		t.Fatalf("writing while cut: %v (the write should succeed, its bytes vanish)", err)
	}
	nothingWithin(t, "an open connection, cut", before, beforeR)

	during, duringR := dial(t, p.Addr()) // accepted: a silent partition refuses nothing
	if _, err := io.WriteString(during, "also lost\n"); err != nil {
		t.Fatalf("writing on a connection opened while cut: %v", err)
	}
	nothingWithin(t, "a connection opened while cut", during, duringR)
	if n := echo.accepted.Load(); n != 1 {
		t.Errorf("the target accepted %d connections, want 1 (none while cut)", n)
	}
}

// The target's bytes are dropped too: a reply already on its way when the
// cut comes never arrives.
func TestACutDropsWhatTheTargetSends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newProxy(t, ln.Addr().String())
	c, r := dial(t, p.Addr())
	io.WriteString(c, "x") // the proxy dials the target only for a client it has accepted
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	p.Cut()
	if _, err := io.WriteString(server, "pushed while cut\n"); err != nil {
		t.Fatal(err)
	}
	nothingWithin(t, "a client whose target sends while cut", c, r)
}

// Heal: new connections work again, and those that lived through the cut
// are closed (their streams lost bytes).
func TestHealForwardsNewConnectionsAndClosesTheCutOnes(t *testing.T) {
	echo := newEchoServer(t)
	p := newProxy(t, echo.addr)
	before, beforeR := dial(t, p.Addr())
	roundTrip(t, before, beforeR, "hello")
	p.Cut()
	during, duringR := dial(t, p.Addr())
	io.WriteString(during, "lost\n")
	nothingWithin(t, "a connection opened while cut", during, duringR)

	p.Heal()
	endsWithin(t, "the connection open before the cut", before, beforeR)
	endsWithin(t, "the connection opened during the cut", during, duringR)
	after, afterR := dial(t, p.Addr())
	if got := roundTrip(t, after, afterR, "again"); got != "echo: again" {
		t.Errorf("after heal, %q came back as %q", "again", got)
	}
}

// Cut and heal can be repeated.
func TestCutAndHealAgain(t *testing.T) {
	echo := newEchoServer(t)
	p := newProxy(t, echo.addr)
	for round := range 2 {
		p.Cut()
		c, r := dial(t, p.Addr())
		io.WriteString(c, "lost\n")
		nothingWithin(t, "a connection opened while cut", c, r)
		p.Heal()
		c, r = dial(t, p.Addr())
		if got := roundTrip(t, c, r, "back"); got != "echo: back" {
			t.Errorf("round %d: after heal, %q came back as %q", round, "back", got)
		}
	}
}

// Close ends every connection and the listener; it returns once the
// proxy's goroutines have ended (the race detector and the test's end
// would show one left behind writing).
func TestCloseEndsEverything(t *testing.T) {
	echo := newEchoServer(t)
	p, err := cutproxy.New(echo.addr)
	if err != nil {
		t.Fatal(err)
	}
	open, openR := dial(t, p.Addr())
	roundTrip(t, open, openR, "hello")
	p.Cut()
	held, heldR := dial(t, p.Addr())
	io.WriteString(held, "x")
	nothingWithin(t, "a connection opened while cut", held, heldR)

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5 s")
	}
	endsWithin(t, "a forwarded connection, after Close", open, openR)
	endsWithin(t, "a connection held while cut, after Close", held, heldR)
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("the proxy still accepts connections after Close")
	}
}
