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

// wsReadLimit bounds a message from the browser. The page never sends one;
// anything larger is closed with 1009.
const wsReadLimit = 1 << 10

// serveLiveWS streams frames over WebSocket. coder/websocket's default
// origin check refuses cross-site handshakes. Every close the server
// initiates uses a code htmx-ext-ws reconnects on: 1013 for a client that
// fell behind, 1012 for a shutdown or the end of the session it was opened
// with, 1011 for an internal error.
func serveLiveWS(logger *slog.Logger, h *hub.Hub, s *sessions, opt LiveOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		person := v.person()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			logger.Info("websocket handshake refused", "err", err)
			return // Accept has written the response
		}
		defer c.CloseNow()
		c.SetReadLimit(wsReadLimit)

		sub := h.Connect(person)
		defer sub.Close()
		sessionEnded, untrack := s.track(v)
		defer untrack()
		started := time.Now()

		// The request's context must not be used once the connection is
		// hijacked; this one lives as long as the handler.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		readDone := make(chan error, 1)
		go func() { readDone <- readUntilClosed(ctx, c) }()
		defer keepAlive(c, opt)()

		code, err := pumpFrames(ctx, c, sub, readDone, sessionEnded, opt.WriteTimeout)
		logger.Debug("websocket closed", "guest", person.Guest, "duration", time.Since(started), "code", code, "err", err)
	})
}

// pumpFrames writes the subscription's frames until either side ends it or
// the session it was opened with ends, and reports the close code it sent
// (-1 if none).
func pumpFrames(ctx context.Context, c *websocket.Conn, sub *hub.Subscription, readDone <-chan error,
	sessionEnded <-chan struct{}, writeTimeout time.Duration) (websocket.StatusCode, error) {
	for {
		select {
		case f := <-sub.Frames():
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := c.Write(wctx, websocket.MessageText, f.HTML)
			cancel()
			if err != nil {
				return -1, err
			}
		case <-sub.Done():
			code := closeCode(sub.Err())
			return code, c.Close(code, "")
		case err := <-readDone:
			return websocket.CloseStatus(err), err
		case <-sessionEnded:
			// The page reconnects and comes back as whatever its cookie now says.
			sub.Leave()
			return websocket.StatusServiceRestart, c.Close(websocket.StatusServiceRestart, "session ended")
		}
	}
}

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
func keepAlive(c *websocket.Conn, opt LiveOptions) (stop func()) {
	var mu sync.Mutex
	var timer *time.Timer
	stopped := false
	ping := func() {
		ctx, cancel := context.WithTimeout(context.Background(), opt.PingTimeout)
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			c.CloseNow()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer.Reset(opt.PingInterval)
		}
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
