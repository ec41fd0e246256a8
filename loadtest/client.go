package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// maxErrorSamples bounds how many distinct error messages a process keeps.
const maxErrorSamples = 5

// sseReadBuffer is what each SSE client reads into. It is held for the
// client's life, so it is small; the transport's own buffer absorbs bursts.
const sseReadBuffer = 1 << 10

// fleet is the set of clients one process holds. Each client is one
// goroutine that reads and counts; nothing a server sends is kept. The
// fleet also tracks one probe round at a time: which held clients have
// received a frame since the round was armed.
type fleet struct {
	tr          transport
	urls        []string      // clients take them in turn, to spread over several instances
	nextURL     atomic.Uint64 // the turn
	header      http.Header
	http        *http.Client
	dialTimeout time.Duration

	clients []*client // set by storm; nil where a handshake failed

	frames    atomic.Int64
	bytes     atomic.Int64
	lastFrame atomic.Int64 // UnixNano of the latest frame
	alive     atomic.Int64 // clients connected and not yet ended
	closing   atomic.Bool  // we are closing: ends are not errors

	// The probe round: seq is its number (0: none), reached how many
	// alive clients have had a frame since, first and last when.
	seq     atomic.Uint32
	reached atomic.Int64
	first   atomic.Int64
	last    atomic.Int64
	wake    chan struct{} // poked when reached may have caught up with alive

	mu         sync.Mutex // guards the tallies below
	failed     int
	readErrors int
	drops      map[string]int // by close code, "abnormal" or "eof"
	errSamples []string
}

func newFleet(tr transport, url, cookie string, dialTimeout time.Duration) *fleet {
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	if tr == transportSSE {
		h.Set("Accept", "text/event-stream")
		h.Set("Cache-Control", "no-store")
	}
	return &fleet{
		tr: tr, urls: strings.Split(url, ","), header: h, http: newHTTPClient(dialTimeout), dialTimeout: dialTimeout,
		wake: make(chan struct{}, 1), drops: map[string]int{},
	}
}

// newHTTPClient connects to loopback addresses only, follows no redirect
// and uses no proxy.
func newHTTPClient(dialTimeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: -1, ControlContext: loopbackOnly}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			DisableCompression:    true,
			ResponseHeaderTimeout: dialTimeout,
			WriteBufferSize:       1 << 10, // only requests go this way
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loopbackOnly refuses a connection to any address that is not loopback,
// whatever a name resolved to.
func loopbackOnly(_ context.Context, _, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not loopback", address)
	}
	return nil
}

// client is one held connection.
type client struct {
	f      *fleet
	ws     *websocket.Conn
	body   io.ReadCloser      // SSE
	cancel context.CancelFunc // SSE: ends the request
	seen   uint32             // the last probe round this client counted in; reader goroutine only
}

// stormResult is what one process saw of the join storm.
type stormResult struct {
	FirstDial     int64 `json:"first_dial"`     // UnixNano
	LastConnected int64 `json:"last_connected"` // UnixNano, 0 if none connected
	Connected     int   `json:"connected"`
	Failed        int   `json:"failed"`
	// HandshakesMS holds each successful handshake's duration.
	HandshakesMS []float64 `json:"handshakes_ms,omitempty"`
}

// storm opens n clients with at most inflight handshakes at a time, and
// returns once every handshake has succeeded or failed (or ctx ended).
// Each connected client then reads in its own goroutine until closed.
func (f *fleet) storm(ctx context.Context, n, inflight int) stormResult {
	f.clients = make([]*client, n)
	handshakes := make([]time.Duration, n)
	var next, connected, failed, lastConnected atomic.Int64
	res := stormResult{FirstDial: time.Now().UnixNano()}
	var wg sync.WaitGroup
	for range min(inflight, n) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				start := time.Now()
				c, err := f.dial(ctx)
				if err != nil && ctx.Err() != nil {
					return // cut short, not failed
				}
				if err != nil {
					failed.Add(1)
					f.noteFailure(err)
					continue
				}
				now := time.Now()
				handshakes[i] = now.Sub(start)
				storeMax(&lastConnected, now.UnixNano())
				connected.Add(1)
				f.clients[i] = c
				f.alive.Add(1)
				go c.read() // a fresh goroutine: its stack stays small
			}
		})
	}
	wg.Wait()
	res.LastConnected, res.Connected, res.Failed = lastConnected.Load(), int(connected.Load()), int(failed.Load())
	for i, c := range f.clients {
		if c != nil {
			res.HandshakesMS = append(res.HandshakesMS, math.Round(ms(handshakes[i])*1000)/1000)
		}
	}
	return res
}

// dial performs one handshake.
func (f *fleet) dial(ctx context.Context) (*client, error) {
	url := f.urls[(f.nextURL.Add(1)-1)%uint64(len(f.urls))]
	if f.tr == transportWS {
		dctx, cancel := context.WithTimeout(ctx, f.dialTimeout)
		defer cancel()
		ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: f.http, HTTPHeader: f.header})
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(-1) // frames are counted, never held
		return &client{f: f, ws: ws}, nil
	}

	// The request's context must outlive the handshake (it bounds the
	// stream), so the handshake is bounded by a timer and by ctx instead.
	rctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(f.dialTimeout, cancel)
	stop := context.AfterFunc(ctx, cancel)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header = f.header.Clone()
	resp, err := f.http.Do(req)
	beforeTimer, beforeCtx := timer.Stop(), stop()
	inTime := beforeTimer && beforeCtx
	if err != nil {
		cancel()
		return nil, err
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case !inTime:
		err = errors.New("handshake timed out")
	case resp.StatusCode != http.StatusOK:
		err = fmt.Errorf("event stream: status %s", resp.Status)
	case mediaType != "text/event-stream":
		err = fmt.Errorf("event stream: content type %q", resp.Header.Get("Content-Type"))
	}
	if err != nil {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	return &client{f: f, body: resp.Body, cancel: cancel}, nil
}

// read counts what the server sends until the connection ends.
func (c *client) read() {
	if c.ws != nil {
		for {
			_, r, err := c.ws.Reader(context.Background())
			if err != nil {
				c.f.ended(c, err)
				return
			}
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				c.f.ended(c, err)
				return
			}
			c.f.bytes.Add(n)
			c.f.frame(c, 1, time.Now().UnixNano())
		}
	}
	p := newSSEParser()
	buf := make([]byte, sseReadBuffer)
	for {
		n, err := c.body.Read(buf)
		if n > 0 {
			c.f.bytes.Add(int64(n))
			if events := p.feed(buf[:n]); events > 0 {
				c.f.frame(c, events, time.Now().UnixNano())
			}
		}
		if err != nil {
			c.f.ended(c, err)
			return
		}
	}
}

// close ends the connection from our side: a WebSocket close handshake
// (1000), or the end of the SSE request.
func (c *client) close() {
	if c.ws != nil {
		c.ws.Close(websocket.StatusNormalClosure, "")
		return
	}
	c.cancel()
	c.body.Close()
}

// frame records that c received events frames at now.
func (f *fleet) frame(c *client, events int, now int64) {
	f.frames.Add(int64(events))
	f.lastFrame.Store(now)
	if s := f.seq.Load(); s != 0 && c.seen != s {
		c.seen = s
		storeMin(&f.first, now)
		storeMax(&f.last, now)
		if f.reached.Add(1) >= f.alive.Load() {
			f.poke()
		}
	}
}

// ended records that c's connection is over and why.
func (f *fleet) ended(c *client, err error) {
	if s := f.seq.Load(); s != 0 && c.seen == s {
		f.reached.Add(-1)
	}
	f.alive.Add(-1)
	f.poke()
	if f.closing.Load() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if kind := dropKind(err); kind != "" {
		f.drops[kind]++
		return
	}
	f.readErrors++
	f.sample(err)
}

// dropKind names how the server closed a connection: its WebSocket close
// code, "abnormal" for a connection cut without one, "eof" for an event
// stream that ended. It returns "" for an error on our side.
func dropKind(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return strconv.Itoa(int(code))
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "abnormal"
	case errors.Is(err, io.EOF):
		return "eof"
	}
	return ""
}

func (f *fleet) noteFailure(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed++
	f.sample(err)
}

// sample keeps the first few distinct error messages; the caller holds mu.
func (f *fleet) sample(err error) {
	msg := err.Error()
	for _, s := range f.errSamples {
		if s == msg {
			return
		}
	}
	if len(f.errSamples) < maxErrorSamples {
		f.errSamples = append(f.errSamples, msg)
	}
}

func (f *fleet) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// arm starts probe round seq: from now on each alive client counts once,
// at its first frame.
func (f *fleet) arm(seq uint32) {
	f.reached.Store(0)
	f.first.Store(math.MaxInt64)
	f.last.Store(0)
	select {
	case <-f.wake:
	default:
	}
	f.seq.Store(seq)
}

// reachResult is how far one probe round got in one process.
type reachResult struct {
	Reached int64 `json:"reached"`
	Alive   int64 `json:"alive"`
	First   int64 `json:"first"` // UnixNano of the first client's frame, 0 if none
	Last    int64 `json:"last"`  // UnixNano of the last client's frame, 0 if none
}

// waitReached waits until every alive client has had a frame in the
// current round, or until ctx ends.
func (f *fleet) waitReached(ctx context.Context) reachResult {
	for f.reached.Load() < f.alive.Load() {
		select {
		case <-f.wake:
		case <-ctx.Done():
			return f.reachNow()
		}
	}
	return f.reachNow()
}

func (f *fleet) reachNow() reachResult {
	r := reachResult{Reached: f.reached.Load(), Alive: f.alive.Load(), Last: f.last.Load()}
	if first := f.first.Load(); first != math.MaxInt64 {
		r.First = first
	}
	return r
}

// closeAll closes every client, a bounded number at a time, and waits at
// most timeout.
func (f *fleet) closeAll(timeout time.Duration) {
	f.closing.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sem := make(chan struct{}, 256)
		var wg sync.WaitGroup
		for _, c := range f.clients {
			if c == nil {
				continue
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c.close()
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// counters is a process's tallies at one moment.
type counters struct {
	Alive      int64          `json:"alive"`
	Frames     int64          `json:"frames"`
	Bytes      int64          `json:"bytes"`
	LastFrame  int64          `json:"last_frame"` // UnixNano, 0 if none yet
	Failed     int            `json:"failed"`
	ReadErrors int            `json:"read_errors"`
	Drops      map[string]int `json:"drops,omitempty"`
	Errors     []string       `json:"errors,omitempty"`
	CPU        time.Duration  `json:"cpu"`     // this process's user + system time
	RSSKiB     int64          `json:"rss_kib"` // this process's resident set
}

func (f *fleet) counters() counters {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := counters{
		Alive: f.alive.Load(), Frames: f.frames.Load(), Bytes: f.bytes.Load(), LastFrame: f.lastFrame.Load(),
		Failed: f.failed, ReadErrors: f.readErrors, Drops: map[string]int{}, Errors: append([]string(nil), f.errSamples...),
		CPU: selfCPU(), RSSKiB: selfRSSKiB(),
	}
	for k, v := range f.drops {
		c.Drops[k] = v
	}
	return c
}

func storeMax(a *atomic.Int64, v int64) {
	for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

func storeMin(a *atomic.Int64, v int64) {
	for old := a.Load(); v < old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}
