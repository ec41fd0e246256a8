package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"herenow/hub"
)

// drainTimeout bounds a graceful shutdown.
const drainTimeout = 10 * time.Second

// serve listens on addr until ctx ends, then drains: it stops accepting,
// ends every live connection (WebSocket with 1012), lets requests in flight
// finish and waits for the live connections to close, within a deadline.
func serve(ctx context.Context, logger *slog.Logger, srv *http.Server, addr string, h *hub.Hub) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("listening", "addr", ln.Addr().String())
	srv.RegisterOnShutdown(h.Close)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err = errors.Join(srv.Shutdown(drainCtx), h.Shutdown(drainCtx))
	<-served
	return err
}
