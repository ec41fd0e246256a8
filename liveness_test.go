//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"herenow/internal/testkit"
)

// dialFunc dials a connection, as http.Transport.DialContext does.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// program is herenow run in-process by a test, with users alice and bob.
type program struct {
	t      *testing.T
	base   string // http://host:port as the test's clients reach it
	dial   dialFunc
	client *http.Client
	logs   *testkit.LogBuffer
}

// startProgram adds alice and bob, then serves with args on addr until the
// test ends. Its clients reach it at reach through dial (nil: the default
// dialer). in, if not nil, wraps the call to run (to run it in a network
// namespace).
func startProgram(t *testing.T, in func(func() error) error, dial dialFunc, addr, reach string, args ...string) *program {
	t.Helper()
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	if in == nil {
		in = func(f func() error) error { return f() }
	}
	if reach == "" {
		reach = addr
	}
	p := &program{t: t, base: "http://" + reach, dial: dial, logs: &testkit.LogBuffer{},
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: dial}}}
	data := t.TempDir()
	for _, name := range []string{"alice", "bob"} {
		err := run(t.Context(), []string{"herenow", "--data", data, "user", "add", name}, noEnv, strings.NewReader(alicePassword+"\n"), io.Discard, p.logs)
		if err != nil {
			t.Fatalf("user add %s: %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- in(func() error {
			return run(ctx, append([]string{"herenow", "--addr", addr, "--data", data}, args...), noEnv, strings.NewReader(""), io.Discard, p.logs)
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(drainTimeout + 5*time.Second):
			t.Errorf("run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.logs.String())
		}
	})
	for deadline := time.Now().Add(waitLimit); ; {
		resp, err := p.client.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-done:
			t.Fatalf("herenow stopped before serving: %v\n%s", err, p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within %v: %v\n%s", waitLimit, err, p.logs.String())
		}
	}
}

// login signs name in and returns the Cookie header its browser would send.
func (p *program) login(name string) http.Header {
	p.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: p.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(p.base+"/login", url.Values{"username": {name}, "password": {alicePassword}})
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("login as %s: %s", name, resp.Status)
	}
	u, _ := url.Parse(p.base)
	h := http.Header{}
	for _, ck := range jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return h
}

// online reports whether the page lists name as online.
func (p *program) online(name string) bool {
	p.t.Helper()
	resp, err := p.client.Get(p.base + "/")
	if err != nil {
		p.t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("GET /: %v", err)
	}
	return regexp.MustCompile(`<span class="user-name-text">` + name + `<`).Match(b)
}

// leftAfter polls the page until each name has gone from the list, for at
// most limit, and returns how long after since each took (limit+ if never).
func (p *program) leftAfter(since time.Time, limit time.Duration, names ...string) map[string]time.Duration {
	p.t.Helper()
	left := map[string]time.Duration{}
	for time.Since(since) < limit && len(left) < len(names) {
		for _, n := range names {
			if _, ok := left[n]; !ok && !p.online(n) {
				left[n] = time.Since(since)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range names {
		if _, ok := left[n]; !ok {
			left[n] = limit + time.Nanosecond
		}
	}
	return left
}

// openSSE sends GET /live/events to host with cookies over a connection
// from dial and returns it once the response's header has been read, unread
// beyond.
func (p *program) openSSE(dial dialFunc, host string, cookies http.Header) (net.Conn, *bufio.Reader) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", host)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /live/events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nCookie: %s\r\n\r\n", host, cookies.Get("Cookie"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		p.t.Fatalf("GET /live/events: %v %v", resp, err)
	}
	c.SetReadDeadline(time.Time{})
	return c, br
}

// openWS opens /live/ws on host with cookies over connections from dial.
// The connection lives until the test ends: ending the dial's context would
// close it.
func (p *program) openWS(dial dialFunc, host string, cookies http.Header) *websocket.Conn {
	p.t.Helper()
	c, _, err := websocket.Dial(p.t.Context(), "ws://"+host+"/live/ws", &websocket.DialOptions{
		HTTPHeader: cookies, HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dial}}})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { c.CloseNow() })
	return c
}

// tinyReceiveBuffer dials with the smallest receive buffer the kernel
// allows (and, with smallSegments, 536-byte segments, which keeps the
// server's send buffer small too), so that a client that does not read
// closes its window after a few KiB.
func tinyReceiveBuffer(smallSegments bool) dialFunc {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1)
			if err == nil && smallSegments {
				err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, 536)
			}
		})
		return err
	}}
	return d.DialContext
}

// Ping settings small enough for a test; bound is how long a vanished live
// client may stay listed: until the next ping or keep-alive, its timeout,
// and the grace period. slack covers the test's polling and a busy machine
// (under -race beside other work a handshake, or the frames that fill a
// silent reader's window, can take a second or more); without the fixes an
// SSE client stayed for as long as it was watched, so the test still tells.
const (
	testPingInterval = 500 * time.Millisecond
	testPingTimeout  = 500 * time.Millisecond
	testLiveGrace    = 250 * time.Millisecond
	bound            = testPingInterval + testPingTimeout + testLiveGrace
	slack            = 4 * time.Second
)

var pingArgs = []string{"--ping-interval", testPingInterval.String(), "--ping-timeout", testPingTimeout.String(),
	"--grace", testLiveGrace.String(), "--tick", "10ms"}

// TestClientsThatStopReadingLeaveWithinThePingBound opens alice's page over
// SSE and bob's over WebSocket, neither ever reading, while guests come and
// go so that frames keep coming. Both must be listed as gone within ping
// interval + ping timeout + grace of being listed: bob by his missed pong,
// alice, who cannot be asked, once her closed receive window has kept the
// server's data unsent for a ping timeout.
func TestClientsThatStopReadingLeaveWithinThePingBound(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t)
	p := startProgram(t, nil, nil, addr, "", pingArgs...)
	alice, bob := p.login("alice"), p.login("bob")
	p.openSSE(tinyReceiveBuffer(false), addr, alice)
	p.openWS(tinyReceiveBuffer(false), addr, bob)
	testkit.WaitUntil(t, waitLimit, "alice and bob listed", func() bool { return p.online("alice") && p.online("bob") })
	start := time.Now()

	// Guests come and go, each arrival a frame for alice and bob.
	stop := make(chan struct{})
	churned := make(chan int)
	go func() {
		n := 0
		defer func() { churned <- n }()
		for deadline := time.Now().Add(bound + 10*time.Second); time.Now().Before(deadline); n++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, _, err := websocket.Dial(ctx, strings.Replace(p.base, "http", "ws", 1)+"/live/ws", nil)
			if err == nil {
				c.Read(ctx)
				c.CloseNow()
			}
			cancel()
		}
	}()
	left := p.leftAfter(start, bound+10*time.Second, "alice", "bob")
	close(stop)
	t.Logf("once listed, never reading: SSE (alice) gone in %v, WebSocket (bob) in %v; bound %v; %d guests came and went",
		left["alice"].Round(time.Millisecond), left["bob"].Round(time.Millisecond), bound, <-churned)
	for name, took := range left {
		if took > bound+slack {
			t.Errorf("%s stayed online for %v, want at most %v (ping interval + timeout + grace) + %v", name, took, bound, slack)
		}
	}
}

// TestVanishedClientsLeaveWithinThePingBound runs the server in a network
// namespace of its own and alice (SSE) and bob (WebSocket) in another,
// joined by a veth pair; both read everything. Once they have outlived
// several ping rounds, the link goes down on their side, so the server's
// packets are dropped without an answer, as when a phone leaves coverage.
// Both must be listed as gone within ping interval + ping timeout + grace.
func TestVanishedClientsLeaveWithinThePingBound(t *testing.T) {
	n := newNetnsPair(t)
	observer := n.dialIn(n.server)
	p := startProgram(t, n.inServer, observer, ":8080", "127.0.0.1:8080", pingArgs...)
	alice, bob := p.login("alice"), p.login("bob")
	clientDial, server := n.dialIn(n.client), n.serverAddr+":8080"
	_, events := p.openSSE(clientDial, server, alice)
	ws := p.openWS(clientDial, server, bob)
	go io.Copy(io.Discard, events)
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	testkit.WaitUntil(t, waitLimit, "alice and bob listed", func() bool { return p.online("alice") && p.online("bob") })

	// Readers are not ghosts: both stay through pings and keep-alives.
	for deadline := time.Now().Add(2 * bound); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !p.online("alice") || !p.online("bob") {
			t.Fatalf("a reading client was dropped: alice online %v, bob online %v", p.online("alice"), p.online("bob"))
		}
	}

	n.cut(t)
	cut := time.Now()
	left := p.leftAfter(cut, bound+20*time.Second, "alice", "bob")
	t.Logf("after their packets started being dropped: SSE (alice) gone in %v, WebSocket (bob) in %v; bound %v",
		left["alice"].Round(time.Millisecond), left["bob"].Round(time.Millisecond), bound)
	for name, took := range left {
		if took > bound+slack {
			t.Errorf("%s stayed online for %v after the cut, want at most %v (ping interval + timeout + grace) + %v", name, took, bound, slack)
		}
	}
}

// netnsPair is two network namespaces joined by a veth pair: the server's
// and the client's.
type netnsPair struct {
	server, client         string // namespace names
	serverAddr, clientLink string
}

// newNetnsPair creates the namespaces, deleted when the test ends. It needs
// root and iproute2; without them the test skips, except under CI, where
// it fails.
func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	_, err := exec.LookPath("ip")
	if os.Geteuid() != 0 || err != nil {
		msg := "needs root and iproute2's ip to make network namespaces that drop packets"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	n := &netnsPair{server: "hn-srv-" + id, client: "hn-cli-" + id, serverAddr: "10.201.0.1", clientLink: "hn" + id + "c"}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", n.server)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.server).Run() })
	ip("netns", "add", n.client)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.client).Run() })
	ip("link", "add", "hn"+id+"s", "netns", n.server, "type", "veth", "peer", "name", n.clientLink, "netns", n.client)
	ip("-n", n.server, "addr", "add", n.serverAddr+"/30", "dev", "hn"+id+"s")
	ip("-n", n.client, "addr", "add", "10.201.0.2/30", "dev", n.clientLink)
	for _, ns := range []string{n.server, n.client} {
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", n.server, "link", "set", "hn"+id+"s", "up")
	ip("-n", n.client, "link", "set", n.clientLink, "up")
	return n
}

// cut takes the client's end of the link down: from then on every packet
// the server sends them is dropped, and nothing comes back.
func (n *netnsPair) cut(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", n.client, "link", "set", n.clientLink, "down").CombinedOutput(); err != nil {
		t.Fatalf("cut the link: %v\n%s", err, out)
	}
}

// inServer runs f with its goroutine's thread in the server's namespace, so
// that the listener run opens belongs to it (accepted connections follow).
func (n *netnsPair) inServer(f func() error) error { return inNetns(n.server, f) }

// dialIn returns a dialer whose connections belong to namespace ns.
func (n *netnsPair) dialIn(ns string) dialFunc {
	return func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		nerr := inNetns(ns, func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return nil
		})
		return c, errors.Join(nerr, err)
	}
}

// inNetns runs f on a thread switched into network namespace ns; sockets
// created there stay in ns. The thread is switched back afterwards, or
// dropped if that fails.
func inNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", ns, err)
	}
	defer func() {
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}
