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
//
// With rooms (inRooms), client i of the fleet joins room r{(first+i) mod
// rooms}: only the clients of r0, where the probe arrives, take part in a
// probe round, and what the others receive is counted apart (other*). A
// lobby fleet (asLobby) holds viewers of the lobby, which take part in no
// round: each counts the most frames it received within one tick.
type fleet struct {
	tr          transport
	urlList     string        // as given, comma-separated
	urls        []string      // clients take them in turn, to spread over several instances
	nextURL     atomic.Uint64 // the turn
	header      http.Header
	http        *http.Client
	dialTimeout time.Duration

	rooms     int   // 0: every client at urls
	firstRoom int   // the global index of this fleet's first client, for its room
	tick      int64 // nanoseconds; > 0 for a fleet of lobby viewers

	clients []*client // set by storm; nil where a handshake failed

	frames    atomic.Int64
	bytes     atomic.Int64
	lastFrame atomic.Int64 // UnixNano of the latest frame
	alive     atomic.Int64 // clients connected and not yet ended
	closing   atomic.Bool  // we are closing: ends are not errors

	// Clients of rooms other than r0: what they received, frames and
	// content bytes (see client.read).
	otherFrames atomic.Int64
	otherBytes  atomic.Int64
	// In a lobby fleet, the most frames one viewer received within one
	// tick, and within half a tick, since the last takeMaxPerTick.
	maxPerTick     atomic.Int64
	maxPerHalfTick atomic.Int64

	// The probe round: seq is its number (0: none), reached how many
	// alive clients of the round's room (targets) have had a frame since,
	// first and last when.
	targets atomic.Int64 // alive clients that take part in probe rounds
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
		tr: tr, urlList: url, urls: strings.Split(url, ","), header: h, http: newHTTPClient(dialTimeout), dialTimeout: dialTimeout,
		wake: make(chan struct{}, 1), drops: map[string]int{},
	}
}

// inRooms spreads the fleet's clients over rooms r0...r{rooms-1}, its
// client i in room r{(first+i) mod rooms}; the fleet's URLs must be lobby
// endpoints (see roomURLs).
func (f *fleet) inRooms(rooms, first int) *fleet {
	f.rooms, f.firstRoom = rooms, first
	return f
}

// asLobby makes the fleet's clients lobby viewers, each counting the most
// frames it received within tick.
func (f *fleet) asLobby(tick time.Duration) *fleet {
	f.tick = int64(tick)
	return f
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
	target bool               // takes part in probe rounds: in r0, or in a fleet without rooms
	recent *tickWindow        // a lobby viewer's latest frames; reader goroutine only
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
				room := f.room(int(i))
				c, err := f.dial(ctx, room)
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
				c.target = f.tick == 0 && room <= 0
				if f.tick > 0 {
					c.recent = &tickWindow{}
				}
				f.clients[i] = c
				f.alive.Add(1)
				if c.target {
					f.targets.Add(1)
				}
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

// room is the room of the fleet's client i, -1 for none.
func (f *fleet) room(i int) int {
	if f.rooms == 0 {
		return -1
	}
	return (f.firstRoom + i) % f.rooms
}

// dial performs one handshake, into room (-1: at the fleet's URL itself).
func (f *fleet) dial(ctx context.Context, room int) (*client, error) {
	urls := f.urls
	if room >= 0 {
		list, err := roomURLs(f.urlList, room)
		if err != nil {
			return nil, err
		}
		urls = strings.Split(list, ",")
	}
	url := urls[(f.nextURL.Add(1)-1)%uint64(len(urls))]
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
			c.f.frame(c, 1, n, time.Now().UnixNano())
		}
	}
	// An event stream's bytes count whole; its content bytes leave out
	// comments (the keep-alives every stream gets) and line ends.
	p := newSSEParser()
	buf := make([]byte, sseReadBuffer)
	for {
		n, err := c.body.Read(buf)
		if n > 0 {
			c.f.bytes.Add(int64(n))
			events := p.feed(buf[:n])
			if content := p.takeFieldBytes(); events > 0 || content > 0 {
				c.f.frame(c, events, content, time.Now().UnixNano())
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

// frame records that c received events frames, content bytes of content
// (see read), at now. Content without a frame (an event not yet ended)
// counts for a client of another room only.
func (f *fleet) frame(c *client, events int, content int64, now int64) {
	if !c.target && f.tick == 0 {
		f.otherFrames.Add(int64(events))
		f.otherBytes.Add(content)
	}
	if events == 0 {
		return
	}
	f.frames.Add(int64(events))
	f.lastFrame.Store(now)
	if c.recent != nil {
		tick, half := c.recent.add(now, events, f.tick)
		storeMax(&f.maxPerTick, int64(tick))
		storeMax(&f.maxPerHalfTick, int64(half))
	}
	if s := f.seq.Load(); s != 0 && c.target && c.seen != s {
		c.seen = s
		storeMin(&f.first, now)
		storeMax(&f.last, now)
		if f.reached.Add(1) >= f.targets.Load() {
			f.poke()
		}
	}
}

// takeMaxPerTick returns the most frames one lobby viewer received within
// a tick and within half a tick since the last call, and starts over.
func (f *fleet) takeMaxPerTick() (tick, half int64) {
	return f.maxPerTick.Swap(0), f.maxPerHalfTick.Swap(0)
}

// tickWindow holds a lobby viewer's latest frame times, enough to count
// up to its length within one tick.
type tickWindow struct {
	times  [16]int64 // UnixNano, a ring
	next   int
	filled int
}

// add records events frames at now and returns how many of the latest
// frames fell within the tick ending at now, (now-tick, now], and within
// the half tick ending at now. It counts at most len(times).
func (w *tickWindow) add(now int64, events int, tick int64) (perTick, perHalfTick int) {
	for range min(events, len(w.times)) {
		w.times[w.next] = now
		w.next = (w.next + 1) % len(w.times)
		w.filled = min(w.filled+1, len(w.times))
	}
	for _, t := range w.times[:w.filled] {
		if t > now-tick {
			perTick++
		}
		if t > now-tick/2 {
			perHalfTick++
		}
	}
	return perTick, perHalfTick
}

// ended records that c's connection is over and why.
func (f *fleet) ended(c *client, err error) {
	if s := f.seq.Load(); s != 0 && c.seen == s {
		f.reached.Add(-1)
	}
	if c.target {
		f.targets.Add(-1)
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

// waitReached waits until every alive target client has had a frame in
// the current round, or until ctx ends.
func (f *fleet) waitReached(ctx context.Context) reachResult {
	for f.reached.Load() < f.targets.Load() {
		select {
		case <-f.wake:
		case <-ctx.Done():
			return f.reachNow()
		}
	}
	return f.reachNow()
}

func (f *fleet) reachNow() reachResult {
	r := reachResult{Reached: f.reached.Load(), Alive: f.targets.Load(), Last: f.last.Load()}
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

// counters is a process's tallies at one moment. Lobby viewers count in
// Lobby and LastFrame only.
type counters struct {
	Alive      int64          `json:"alive"`
	Targets    int64          `json:"targets"` // alive clients of the probe's room (all, without rooms)
	Frames     int64          `json:"frames"`
	Bytes      int64          `json:"bytes"`
	Other      traffic        `json:"other"` // received by clients of rooms other than r0
	Lobby      lobbyCounters  `json:"lobby"`
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
		Alive: f.alive.Load(), Targets: f.targets.Load(), Frames: f.frames.Load(), Bytes: f.bytes.Load(), LastFrame: f.lastFrame.Load(),
		Other:  traffic{Frames: f.otherFrames.Load(), Bytes: f.otherBytes.Load()},
		Failed: f.failed, ReadErrors: f.readErrors, Drops: map[string]int{}, Errors: append([]string(nil), f.errSamples...),
		CPU: selfCPU(), RSSKiB: selfRSSKiB(),
	}
	for k, v := range f.drops {
		c.Drops[k] = v
	}
	return c
}

// traffic is what some clients received: frames, and content bytes
// (WebSocket payloads; an event stream's bytes outside comments and line
// ends).
type traffic struct {
	Frames int64 `json:"frames"`
	Bytes  int64 `json:"bytes"`
}

func (t traffic) minus(u traffic) traffic {
	return traffic{Frames: t.Frames - u.Frames, Bytes: t.Bytes - u.Bytes}
}

// lobbyCounters are a process's lobby viewers' tallies.
type lobbyCounters struct {
	Alive  int64 `json:"alive"`
	Frames int64 `json:"frames"`
	Bytes  int64 `json:"bytes"`
	Failed int   `json:"failed"`
	// The most frames one viewer received within one tick and within
	// half a tick, since the last "mark" command (in the reply to a mark)
	// or so far (in any other reply).
	MaxPerTick     int64 `json:"max_per_tick"`
	MaxPerHalfTick int64 `json:"max_per_half_tick"`
}

func storeMax(a *atomic.Int64, v int64) {
	for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

func storeMin(a *atomic.Int64, v int64) {
	for old := a.Load(); v < old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}
