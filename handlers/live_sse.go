package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"herenow/hub"
)

var errSessionEnded = errors.New("session ended")

// sseRetry tells EventSource how soon to reconnect after the stream ends.
const sseRetry = "retry: 2000\n\n"

// serveLiveSSE streams the same frames as serveLiveWS as server-sent events,
// for browsers whose WebSocket fails. When the hub ends the subscription the
// stream ends, and EventSource reconnects and resyncs from a snapshot.
func serveLiveSSE(logger *slog.Logger, h *hub.Hub, s *sessions, opt LiveOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		person := v.person()
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)

		sub := h.Connect(person)
		defer sub.Close()
		sessionEnded, untrack := s.track(v)
		defer untrack()
		started := time.Now()
		keepAlive := time.NewTicker(opt.KeepAlive)
		defer keepAlive.Stop()

		write := func(b []byte) error {
			if err := rc.SetWriteDeadline(time.Now().Add(opt.WriteTimeout)); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			return rc.Flush()
		}
		err := write([]byte(sseRetry))
		for err == nil {
			select {
			case f := <-sub.Frames():
				err = write(f.Event)
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
		logger.Debug("event stream closed", "guest", person.Guest, "duration", time.Since(started), "err", err)
	})
}
