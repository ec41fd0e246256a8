package handlers

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"herenow/hub"
)

// sseRetry tells EventSource how soon to reconnect after the stream ends.
const sseRetry = "retry: 2000\n\n"

// sseKeepAlive is the comment an idle stream gets every PingInterval when
// there is no heartbeat.
const sseKeepAlive = ": keep-alive\n\n"

// serveLiveSSE streams the same frames as serveLiveWS as server-sent events,
// for browsers whose WebSocket fails. When the hub ends the subscription the
// stream ends, and EventSource reconnects and resyncs from a snapshot.
//
// The first frame is the snapshot, followed by a heartbeat; after that a
// heartbeat goes out every Heartbeat, and at least every PingInterval, as
// the stream's keep-alive. Without heartbeats, a keep-alive comment does.
//
// EventSource never answers, so a vanished client is found the way TCP
// finds it: data goes out at least every PingInterval, and
// the listener's TCP_USER_TIMEOUT (PingTimeout) aborts the connection when
// that data stays unacknowledged, or unsent behind a closed window, for that
// long. The abort ends the request's context. Every write also carries a
// PingTimeout deadline, and a stream the hub gave up on for falling behind
// is cut at once, as a WebSocket is. So an SSE client is gone within the
// same PingInterval + PingTimeout as a WebSocket one.
func serveLiveSSE(l *live, place placeFunc) http.Handler {
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
		release, ok := l.admit(w, r, transportSSE)
		if !ok {
			return
		}
		defer release()
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		if r.Method == http.MethodHead {
			// The headers a stream starts with, and no stream: net/http
			// would swallow its writes, and the stream would make someone
			// present until the connection closed.
			w.WriteHeader(http.StatusOK)
			return
		}
		rc := http.NewResponseController(w)
		clearDeadlines(rc)
		w.WriteHeader(http.StatusOK)
		var sub *hub.Subscription
		var subSet atomic.Bool
		write := func(b []byte) error {
			if subSet.Load() && errors.Is(sub.Err(), hub.ErrSlow) {
				return hub.ErrSlow
			}
			if err := rc.SetWriteDeadline(time.Now().Add(l.opt.PingTimeout)); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			return rc.Flush()
		}
		// The stream is open for the browser before its arrival is fanned
		// out to everyone else.
		if err := write([]byte(sseRetry)); err != nil {
			return
		}

		// The hub calls this, locked, when it queues a frame or ends the
		// subscription. Once it has dropped a stream that fell behind, a
		// write blocked on the client is ended now rather than at its
		// deadline.
		var err error
		sub, err = join(person, func() {
			if subSet.Load() && errors.Is(sub.Err(), hub.ErrSlow) {
				rc.SetWriteDeadline(time.Now())
			}
		})
		if err != nil { // the last room slot went between the check and now
			l.logger.Info("live connection refused", "err", err)
			return
		}
		subSet.Store(true)
		defer sub.Close()
		sessionEnded := make(chan struct{})
		defer l.sessions.track(v, func() { close(sessionEnded) })()
		closed := l.opened(r, transportSSE, l.sse, person)
		every, beating := l.opt.PingInterval, l.opt.Heartbeat > 0
		if beating {
			every = min(every, l.opt.Heartbeat)
		}
		ticks := time.NewTicker(every)
		defer ticks.Stop()

		// As over WebSocket: the greeting, then the first heartbeat, follow
		// the snapshot, and a due heartbeat goes before queued frames.
		greeted, beatDue := false, false
		written := 0 // the hub's frames; YouCounted follows the one that counts the person
		for err == nil {
			if beatDue {
				beatDue = false
				if err = write(l.beat.frame().Event); err == nil {
					l.sse.heartbeats.Inc()
				}
				continue
			}
			select {
			case f := <-sub.Frames():
				if err = write(f.Event); err == nil {
					l.sse.wrote(f, len(f.Event))
					if written++; written == sub.CountedAfter() {
						err = write(l.counted.Event)
					}
				}
				if !greeted && err == nil && greeting != nil {
					err = write(greeting.Event)
				}
				if !greeted {
					greeted, beatDue = true, beating
				}
			case <-ticks.C:
				if beating {
					beatDue = greeted
				} else {
					err = write([]byte(sseKeepAlive))
				}
			case <-sub.Done():
				err = sub.Err()
			case <-r.Context().Done():
				err = r.Context().Err()
			case <-sessionEnded:
				// EventSource reconnects as whatever the cookie now says,
				// but only after sseRetry: until then the page greets a
				// guest, as the session it greeted is over.
				sub.Leave()
				err = errSessionEnded
				if greeted {
					write(l.signedOut.Event)
				}
			}
		}
		if errors.Is(sub.Err(), hub.ErrSlow) {
			err = hub.ErrSlow // counted as a drop, whatever the blocked write said
		}
		closed(-1, err)
	})
}
