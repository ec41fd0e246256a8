package handlers_test

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"herenow/handlers"
	"herenow/hub"
	"herenow/internal/testkit"
)

// TestAnSSEStreamThatFellBehindIsCutAtOnce: a stream whose client stopped
// reading is dropped by the hub once its queue overflows, and its
// connection ends then, not when its blocked write's deadline (a minute
// here) passes.
func TestAnSSEStreamThatFellBehindIsCutAtOnce(t *testing.T) {
	m := handlers.NewMetrics()
	a := newAppWith(t, func(o *handlers.Options) {
		o.Metrics = m
		o.Live.PingInterval, o.Live.PingTimeout = time.Minute, time.Minute
	})
	// The smallest receive buffer and segments keep the server's send
	// buffer small too, so its writes block after a few dozen KiB.
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) {
			if err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1); err == nil {
				err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, 536)
			}
		})
		return err
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(a.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /live/events HTTP/1.1\r\nHost: herenow\r\n\r\n") // and never read
	testkit.WaitUntil(t, 5*time.Second, "the stream to open", func() bool {
		return scrape(t, m, `herenow_live_connections{transport="sse"}`) == 1
	})

	// Guests come and go on the hub, a frame per tick, until the stream's
	// socket buffers and then its queue of 32 frames are full (about 200
	// frames at these buffer sizes).
	const most = 600
	for i := 0; scrape(t, m, `herenow_live_connections{transport="sse"}`) == 1; i++ {
		if i == most {
			t.Fatalf("after %d frames the stream that stopped reading is still open; it fell behind long ago", most)
		}
		s := a.hub.Connect(hub.Person{Key: fmt.Sprintf("g-%d", i), Guest: true})
		time.Sleep(15 * time.Millisecond) // longer than a tick, so each is a frame
		s.Leave()
	}
	if n := scrape(t, m, `herenow_slow_subscriber_drops_total{transport="sse"}`); n != 1 {
		t.Errorf("the stream closed, but %v drops were counted, want 1", n)
	}
}
