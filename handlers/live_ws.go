package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5/middleware"

	"herenow/hub"
)

// LiveOptions tune the live transports. The ping settings bound both: a
// WebSocket client is pinged every PingInterval and its pong may take
// PingTimeout; an SSE stream gets data (a heartbeat, or a keep-alive
// comment) at least every PingInterval and each write to it may take
// PingTimeout.
type LiveOptions struct {
	PingInterval time.Duration // how often a WebSocket client is pinged, and an SSE stream sent data at least
	PingTimeout  time.Duration // how long a pong, or one write to an SSE stream, may take
	// Heartbeat is how often a live connection gets a fresh connection
	// state (components.Heartbeat), whose banner the page shows once
	// StaleAfter passes without one. The first follows the snapshot. Zero
	// sends none (an SSE stream then gets a keep-alive comment instead).
	Heartbeat  time.Duration
	MaxLive    int // most live connections at once, both transports together; 0 for no cap
	MaxPerAddr int // most live connections from one client address; 0 for no cap
}

// StaleAfter is how long a page waits for a heartbeat before it shows that
// its live connection is gone: two heartbeats, so that one late beat does
// not raise the banner. Zero when there is no heartbeat.
func (o LiveOptions) StaleAfter() time.Duration { return 2 * o.Heartbeat }

// live is what both live transports need.
type live struct {
	logger   *slog.Logger
	hub      *hub.Hub  // the lobby
	site     *hub.Site // the rooms; nil without them
	sessions *sessions
	metrics  *Metrics
	ws, sse  *transportMetrics
	opt      LiveOptions
	wsAccept *websocket.AcceptOptions // origins accepted beside the request's Host
	slots    *liveSlots
	beat     *heartbeat
	// signedOut is a guest's greeting, which an event stream sends as its
	// session ends: EventSource takes sseRetry to reconnect.
	signedOut *hub.Frame
	// counted is components.YouCounted, sent to a connection alone once
	// the frames it has written count its person (CountedAfter).
	counted *hub.Frame
}

// opened counts and logs a new live connection; the func it returns does the
// same for its end.
func (l *live) opened(r *http.Request, transport string, m *transportMetrics, person hub.Person) (closed func(code int, err error)) {
	kind := "user"
	if person.Guest {
		kind = "guest"
	}
	m.connections.Inc()
	id := middleware.GetReqID(r.Context())
	l.logger.Info("live connection opened", "id", id, "client", middleware.GetClientIP(r.Context()), "transport", transport, "person", kind)
	started := time.Now()
	return func(code int, err error) {
		m.connections.Dec()
		if errors.Is(err, hub.ErrSlow) {
			m.drops.Inc()
		}
		attrs := []any{"id", id, "transport", transport, "person", kind, "duration", time.Since(started).Round(time.Millisecond)}
		if code >= 0 {
			attrs = append(attrs, "code", code)
		}
		if err != nil {
			attrs = append(attrs, "reason", err.Error())
		}
		l.logger.Info("live connection closed", attrs...)
	}
}

// greeting renders the navbar's greeting for one live connection of v's,
// or answers 500. It is nil when the page already greets v (its address
// says whom it greets, ?greets=): replacing the navbar would lose a
// keyboard's focus on it for nothing.
func (l *live) greeting(w http.ResponseWriter, r *http.Request, v visitor) (*hub.Frame, bool) {
	if r.URL.Query().Get("greets") == v.greets() {
		return nil, true
	}
	f, err := renderGreeting(v.me())
	if err != nil {
		l.logger.Error("render the greeting", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	return f, true
}

// wsReadLimit bounds a message from the browser. The page never sends one;
// anything larger is closed with 1009.
const wsReadLimit = 1 << 10

// serveLiveWS streams frames over WebSocket. coder/websocket's default
// origin check refuses cross-site handshakes. Every close the server
// initiates uses a code htmx-ext-ws reconnects on: 1013 for a client that
// fell behind, 1012 for a shutdown or the end of the session it was opened
// with, 1011 for an internal error.
//
// An idle connection costs one goroutine, its reader, started fresh so that
// it does not keep the deep stack of the handler that accepted it. Frames
// are written by a goroutine started when the hub queues one and gone once
// the queue is empty; pings and heartbeats run from timers.
func serveLiveWS(l *live, place placeFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		person := v.person()
		greeting, ok := l.greeting(w, r, v)
		if !ok {
			return
		}
		join := place(w, r)
		if join == nil {
			return // answered: no such room, or no room for another
		}
		release, ok := l.admit(w, r, transportWS)
		if !ok {
			return
		}
		clearDeadlines(http.NewResponseController(w))
		c, err := websocket.Accept(w, r, l.wsAccept)
		if err != nil {
			release()
			l.logger.Info("websocket handshake refused", "err", err)
			return // Accept has written the response
		}
		c.SetReadLimit(wsReadLimit)
		ws := &wsConn{live: l, conn: c, release: release, greeting: greeting}
		ws.writing.Store(true) // no writer until ws is complete
		sub, err := join(person, ws.wake)
		if err != nil { // the last room slot went between the check and now
			release()
			c.Close(websocket.StatusTryAgainLater, "too many rooms are in use")
			l.logger.Info("live connection refused", "err", err)
			return
		}
		ws.sub = sub
		ws.closed = l.opened(r, transportWS, l.ws, person)
		ws.untrack = l.sessions.track(v, ws.endSession)
		ws.stopPings = keepAlive(c, l.opt, l.metrics)
		ws.stopBeats = every(l.opt.Heartbeat, ws.beatDue)
		ws.ready.Store(true)
		go ws.readUntilClosed()
		ws.writing.Store(false)
		ws.wake() // for the snapshot queued by ConnectWake
	})
}

// wsConn is one live WebSocket connection.
type wsConn struct {
	live      *live
	conn      *websocket.Conn
	sub       *hub.Subscription
	untrack   func()
	stopPings func()
	stopBeats func()
	closed    func(code int, err error)
	release   func()     // gives back the connection's live slot
	greeting  *hub.Frame // the navbar's greeting for this connection alone, sent after the snapshot; nil for none

	ready   atomic.Bool // the fields above are set
	writing atomic.Bool // a writer goroutine is running or about to
	beat    atomic.Bool // a heartbeat is due
	// greeted: the first frame, the snapshot, is written, and the greeting
	// after it, and with them a heartbeat is due. written counts the hub's
	// frames written. Only the writer goroutine, one at a time, uses them.
	greeted bool
	written int
	closing sync.Once
	code    websocket.StatusCode // the close code the server sent, set once in closing
	reason  error
}

// wake starts a writer unless one is running. The hub calls it, locked,
// after queueing a frame and when it ends the subscription.
func (ws *wsConn) wake() {
	if ws.writing.CompareAndSwap(false, true) {
		go ws.writeQueued()
		return
	}
	// The writer is busy, perhaps blocked on a client that stopped reading.
	// Once the hub has given up on it, do not wait for pings to find out:
	// closing the connection ends the blocked write and frees its place.
	if ws.ready.Load() && errors.Is(ws.sub.Err(), hub.ErrSlow) {
		go ws.conn.CloseNow()
	}
}

// beatDue marks a heartbeat due and makes sure a writer sends it.
func (ws *wsConn) beatDue() {
	ws.beat.Store(true)
	ws.wake()
}

// writeQueued writes queued frames, and a heartbeat when one is due, until
// there is nothing left to write (with, once, right after the frame that
// first counts the connection's person, components.YouCounted), or closes
// the connection once the hub has ended the subscription. The snapshot is
// followed by the greeting, then the first heartbeat; after that a due
// heartbeat goes before queued frames, so that a page whose frames never
// stop still hears it. Writes carry no deadline of
// their own: a client that stops reading also stops answering pings, and
// the failed ping closes the connection under the blocked write.
func (ws *wsConn) writeQueued() {
	for {
		if err := ws.sub.Err(); err != nil {
			ws.close(closeCode(err), "", err)
			return // leaves writing set: nothing more will be written
		}
		if ws.greeted && ws.beat.CompareAndSwap(true, false) {
			f := ws.live.beat.frame()
			if err := ws.conn.Write(context.Background(), websocket.MessageText, f.HTML); err != nil {
				ws.conn.CloseNow()
				return
			}
			ws.live.ws.heartbeats.Inc()
			continue
		}
		select {
		case f := <-ws.sub.Frames():
			if err := ws.conn.Write(context.Background(), websocket.MessageText, f.HTML); err != nil {
				ws.conn.CloseNow()
				return
			}
			ws.live.ws.wrote(f, len(f.HTML))
			if ws.written++; ws.written == ws.sub.CountedAfter() {
				if err := ws.conn.Write(context.Background(), websocket.MessageText, ws.live.counted.HTML); err != nil {
					ws.conn.CloseNow()
					return
				}
			}
			if !ws.greeted {
				ws.greeted = true
				if ws.greeting != nil {
					if err := ws.conn.Write(context.Background(), websocket.MessageText, ws.greeting.HTML); err != nil {
						ws.conn.CloseNow()
						return
					}
				}
				ws.beat.Store(ws.live.opt.Heartbeat > 0)
			}
			continue
		default:
		}
		greeted := ws.greeted // read before another writer may start
		ws.writing.Store(false)
		// A frame queued, a heartbeat come due, or an end, between the
		// checks above and the store found writing still set and started
		// nobody: check again.
		if len(ws.sub.Frames()) == 0 && ws.sub.Err() == nil && !(greeted && ws.beat.Load()) ||
			!ws.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// endSession closes the connection because the session it was opened with
// ended; the page reconnects as whatever its cookie now says.
func (ws *wsConn) endSession() {
	ws.sub.Leave()
	ws.close(websocket.StatusServiceRestart, "session ended", errSessionEnded)
}

// close sends a close frame with code, once, and waits for the handshake.
func (ws *wsConn) close(code websocket.StatusCode, reason string, why error) {
	ws.closing.Do(func() {
		ws.code, ws.reason = code, why
		ws.conn.Close(code, reason)
	})
}

// readUntilClosed answers control frames and, when the connection ends for
// whatever reason, releases everything it held. The page sends no
// messages: one that arrives anyway closes the connection (1009 if over the
// read limit, 1008 otherwise).
func (ws *wsConn) readUntilClosed() {
	_, _, err := ws.conn.Read(context.Background())
	if err == nil {
		ws.close(websocket.StatusPolicyViolation, "this socket only sends", errors.New("client sent a message"))
	}
	ws.conn.CloseNow()
	ws.stopPings()
	ws.stopBeats()
	ws.untrack()
	code, why := websocket.CloseStatus(err), err
	ws.closing.Do(func() {}) // whoever sent a close frame has finished recording it
	switch {
	case ws.reason != nil:
		code, why = ws.code, ws.reason
	case ws.sub.Err() != nil:
		code, why = -1, ws.sub.Err() // ended by the hub while a write was blocked
	}
	ws.closed(int(code), why)
	ws.release()
	ws.sub.Close() // last: a draining hub waits for it
}

var errSessionEnded = errors.New("session ended")

func closeCode(err error) websocket.StatusCode {
	switch {
	case errors.Is(err, hub.ErrSlow):
		return websocket.StatusTryAgainLater
	case errors.Is(err, hub.ErrShutdown):
		return websocket.StatusServiceRestart
	default:
		return websocket.StatusInternalError
	}
}

// keepAlive pings the client every PingInterval and drops the connection
// when a pong does not come back within PingTimeout, so a vanished client
// does not linger as a ghost. It runs from a timer rather than a goroutine
// of its own: an idle connection carries no stack for it.
func keepAlive(c *websocket.Conn, opt LiveOptions, m *Metrics) (stop func()) {
	var mu sync.Mutex
	var timer *time.Timer
	stopped := false
	ping := func() {
		ctx, cancel := context.WithTimeout(context.Background(), opt.PingTimeout)
		err := c.Ping(ctx)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if err != nil {
			m.pingsMissed.Inc()
			c.CloseNow()
			return
		}
		timer.Reset(opt.PingInterval)
	}
	mu.Lock()
	defer mu.Unlock()
	timer = time.AfterFunc(opt.PingInterval, ping)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		timer.Stop()
	}
}
