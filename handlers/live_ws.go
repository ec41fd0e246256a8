package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"herenow/hub"
)

// LiveOptions tune the live transports.
type LiveOptions struct {
	PingInterval time.Duration // how often a WebSocket client is pinged
	PingTimeout  time.Duration // how long its pong may take
	WriteTimeout time.Duration // how long one frame may take to write
	KeepAlive    time.Duration // how often an idle SSE stream gets a comment
}

// live is what both live transports need.
type live struct {
	logger   *slog.Logger
	hub      *hub.Hub
	sessions *sessions
	metrics  *Metrics
	opt      LiveOptions
}

// opened counts and logs a new live connection; the func it returns does the
// same for its end.
func (l *live) opened(transport string, person hub.Person) (closed func(code int, err error)) {
	kind := "user"
	if person.Guest {
		kind = "guest"
	}
	l.metrics.connections.WithLabelValues(transport).Inc()
	l.logger.Info("live connection opened", "transport", transport, "person", kind)
	started := time.Now()
	return func(code int, err error) {
		l.metrics.connections.WithLabelValues(transport).Dec()
		if errors.Is(err, hub.ErrSlow) {
			l.metrics.drops.WithLabelValues(transport).Inc()
		}
		attrs := []any{"transport", transport, "person", kind, "duration", time.Since(started).Round(time.Millisecond)}
		if code >= 0 {
			attrs = append(attrs, "code", code)
		}
		if err != nil {
			attrs = append(attrs, "reason", err.Error())
		}
		l.logger.Info("live connection closed", attrs...)
	}
}

// wsReadLimit bounds a message from the browser. The page never sends one;
// anything larger is closed with 1009.
const wsReadLimit = 1 << 10

// serveLiveWS streams frames over WebSocket. coder/websocket's default
// origin check refuses cross-site handshakes. Every close the server
// initiates uses a code htmx-ext-ws reconnects on: 1013 for a client that
// fell behind, 1012 for a shutdown or the end of the session it was opened
// with, 1011 for an internal error.
func serveLiveWS(l *live) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		person := v.person()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			l.logger.Info("websocket handshake refused", "err", err)
			return // Accept has written the response
		}
		defer c.CloseNow()
		c.SetReadLimit(wsReadLimit)

		sub := l.hub.Connect(person)
		defer sub.Close()
		sessionEnded, untrack := l.sessions.track(v)
		defer untrack()
		closed := l.opened(transportWS, person)

		// The request's context must not be used once the connection is
		// hijacked; this one lives as long as the handler.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		readDone := make(chan error, 1)
		go func() { readDone <- readUntilClosed(ctx, c) }()
		defer keepAlive(c, l.opt, l.metrics)()

		code, err := l.pumpFrames(ctx, c, sub, readDone, sessionEnded)
		closed(int(code), err)
	})
}

// pumpFrames writes the subscription's frames until either side ends it or
// the session it was opened with ends, and reports the close code (-1 if
// none) and why.
func (l *live) pumpFrames(ctx context.Context, c *websocket.Conn, sub *hub.Subscription, readDone <-chan error,
	sessionEnded <-chan struct{}) (websocket.StatusCode, error) {
	for {
		select {
		case f := <-sub.Frames():
			wctx, cancel := context.WithTimeout(ctx, l.opt.WriteTimeout)
			err := c.Write(wctx, websocket.MessageText, f.HTML)
			cancel()
			if err != nil {
				return -1, err
			}
			l.metrics.wrote(transportWS, f, len(f.HTML))
		case <-sub.Done():
			code := closeCode(sub.Err())
			c.Close(code, "")
			return code, sub.Err()
		case err := <-readDone:
			return websocket.CloseStatus(err), err
		case <-sessionEnded:
			// The page reconnects and comes back as whatever its cookie now says.
			sub.Leave()
			c.Close(websocket.StatusServiceRestart, "session ended")
			return websocket.StatusServiceRestart, errSessionEnded
		}
	}
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

// readUntilClosed answers control frames and returns when the client goes
// away. The page sends no messages: one that arrives anyway closes the
// connection (1009 if over the read limit, 1008 otherwise).
func readUntilClosed(ctx context.Context, c *websocket.Conn) error {
	_, _, err := c.Read(ctx)
	if err == nil {
		c.Close(websocket.StatusPolicyViolation, "this socket only sends")
		return errors.New("client sent a message")
	}
	return err
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
