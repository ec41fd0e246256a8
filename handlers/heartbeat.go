package handlers

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"herenow/components"
	"herenow/hub"
)

// heartbeat renders the frame that tells a page its live connection is
// still there (components.Heartbeat): one for the whole server, the same
// bytes for every connection in every room, over both transports. Each
// connection sends it right after its snapshot and then every
// LiveOptions.Heartbeat, on a timer of its own, so the writes are spread
// over the interval rather than made all at once. The frame is rendered
// when a connection asks for it and the second it shows has passed: at
// most once a second, however many connections there are, and not at all
// while nobody is connected.
type heartbeat struct {
	now    func() time.Time
	mu     sync.Mutex // serialises rendering
	latest atomic.Pointer[beat]
}

// beat is a rendered heartbeat and the second it shows.
type beat struct {
	second int64 // Unix seconds
	frame  *hub.Frame
}

// newHeartbeat renders the first heartbeat, so that a failure to render
// one shows when the server is built.
func newHeartbeat(now func() time.Time) (*heartbeat, error) {
	h := &heartbeat{now: now}
	if _, err := h.render(now()); err != nil {
		return nil, err
	}
	return h, nil
}

// frame returns the heartbeat for the current second, rendering it if no
// connection asked for it yet. Should rendering fail, it returns the last
// one rendered.
func (h *heartbeat) frame() *hub.Frame {
	now := h.now()
	if b := h.latest.Load(); b.second == now.Unix() {
		return b.frame
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.latest.Load(); b.second == now.Unix() {
		return b.frame
	}
	f, err := h.render(now)
	if err != nil {
		return h.latest.Load().frame
	}
	return f
}

// render renders the heartbeat for now's second and keeps it as the latest.
func (h *heartbeat) render(now time.Time) (*hub.Frame, error) {
	f, err := renderFrame(components.Heartbeat(now.Truncate(time.Second)))
	if err != nil {
		return nil, fmt.Errorf("render heartbeat: %w", err)
	}
	h.latest.Store(&beat{second: now.Unix(), frame: f})
	return f, nil
}

// every calls f every d, each call after the last one returned, until stop
// is called. It runs from a timer rather than a goroutine of its own, so an
// idle connection carries no stack for it. With d zero it never calls f.
func every(d time.Duration, f func()) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	var mu sync.Mutex
	var timer *time.Timer
	stopped := false
	mu.Lock()
	defer mu.Unlock()
	timer = time.AfterFunc(d, func() {
		f()
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer.Reset(d)
		}
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		timer.Stop()
	}
}
