package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"herenow/hub"
)

// serveHealthz says the process is alive.
func serveHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
}

// serveReadyz says whether this instance should get traffic: its user store
// answers, the extra check (if any) passes, and it is not draining.
func serveReadyz(logger *slog.Logger, store UserStore, h *hub.Hub, check func(context.Context) error) http.Handler {
	if check == nil {
		check = func(context.Context) error { return nil }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			logger.Warn("not ready: user store", "err", err)
			http.Error(w, "user store unavailable", http.StatusServiceUnavailable)
			return
		}
		switch err := check(ctx); {
		case err != nil:
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		case h.Closed():
			http.Error(w, "draining", http.StatusServiceUnavailable)
		default:
			w.Write([]byte("ready\n"))
		}
	})
}

// accessLog writes one line per request, with its id and the client's
// address (as a trusted proxy gave it, else the peer's).
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			start := time.Now()
			defer func() {
				logger.Info("request", "id", middleware.GetReqID(r.Context()), "client", middleware.GetClientIP(r.Context()),
					"method", r.Method, "path", r.URL.Path,
					"status", ww.Status(), "bytes", ww.BytesWritten(), "duration", time.Since(start).Round(time.Microsecond))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}
