package handlers

import (
	"net/http"
	"time"
)

// sseRetry tells EventSource how soon to reconnect after the stream ends.
const sseRetry = "retry: 2000\n\n"

// serveLiveSSE streams the same frames as serveLiveWS as server-sent events,
// for browsers whose WebSocket fails. When the hub ends the subscription the
// stream ends, and EventSource reconnects and resyncs from a snapshot.
func serveLiveSSE(l *live) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		person := v.person()
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		write := func(b []byte) error {
			if err := rc.SetWriteDeadline(time.Now().Add(l.opt.WriteTimeout)); err != nil {
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

		sub := l.hub.Connect(person)
		defer sub.Close()
		sessionEnded := make(chan struct{})
		defer l.sessions.track(v, func() { close(sessionEnded) })()
		closed := l.opened(r, transportSSE, l.sse, person)
		keepAlive := time.NewTicker(l.opt.KeepAlive)
		defer keepAlive.Stop()

		var err error
		for err == nil {
			select {
			case f := <-sub.Frames():
				if err = write(f.Event); err == nil {
					l.sse.wrote(f, len(f.Event))
				}
			case <-keepAlive.C:
				err = write([]byte(": keep-alive\n\n"))
			case <-sub.Done():
				err = sub.Err()
			case <-r.Context().Done():
				err = r.Context().Err()
			case <-sessionEnded:
				// EventSource reconnects as whatever the cookie now says.
				sub.Leave()
				err = errSessionEnded
			}
		}
		closed(-1, err)
	})
}
