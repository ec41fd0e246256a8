package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"herenow/hub"
)

// drainTimeout bounds a graceful shutdown.
const drainTimeout = 10 * time.Second

// serve serves app on cfg.addr, and ops (metrics, pprof) on
// cfg.metricsAddr if set, until ctx ends; then it drains: it stops
// accepting, ends every live connection (WebSocket with 1012), lets requests
// in flight finish and waits for the live connections to close, within a
// deadline. Closing site ends the live connections. The line that says app
// is listening gives the URL to open, and, without users yet, how to add
// one.
func serve(ctx context.Context, logger *slog.Logger, cfg config, site *hub.Site, app, ops http.Handler, hasUsers bool) error {
	errorLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	public := &http.Server{
		Handler: app,
		// Ordinary requests are bounded as a whole, so a client that sends
		// its body or reads the response slowly cannot hold a connection
		// for as long as it likes. Live streams last for hours: their
		// handlers lift these deadlines and bound each write themselves.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errorLog,
	}
	public.RegisterOnShutdown(site.Close)
	servers, addrs, names := []*http.Server{public}, []string{cfg.addr}, []string{"app"}
	if cfg.metricsAddr != "" {
		servers = append(servers, &http.Server{Handler: ops, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errorLog})
		addrs, names = append(addrs, cfg.metricsAddr), append(names, "metrics and pprof")
	}
	logger.Info("live connection caps", "max_live", cfg.live.MaxLive, "max_live_per_addr", cfg.live.MaxPerAddr)
	lc := listenConfig(cfg.live.PingTimeout)
	served := make(chan error, len(servers))
	for i, srv := range servers {
		ln, err := lc.Listen(ctx, "tcp", addrs[i])
		if err != nil {
			for _, started := range servers[:i] {
				started.Close()
			}
			for range i { // their Serve goroutines end
				<-served
			}
			site.Close()
			return fmt.Errorf("listen: %w", err)
		}
		attrs := []any{"addr", ln.Addr().String(), "serves", names[i]}
		if srv == public {
			attrs = append(attrs, "url", openURL(ln.Addr().String(), cfg.proxy.PublicURL))
			if !hasUsers {
				attrs = append(attrs, "hint", "no users yet: add one with herenow user add NAME")
			}
		}
		logger.Info("listening", attrs...)
		go func() { served <- srv.Serve(ln) }()
	}
	select {
	case err := <-served:
		for _, srv := range servers {
			srv.Close()
		}
		for range len(servers) - 1 { // the others' Serve goroutines end
			<-served
		}
		site.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown(drainCtx))
	}
	errs = append(errs, site.Shutdown(drainCtx))
	for range servers {
		<-served
	}
	return errors.Join(errs...)
}

// openURL is the address to open in a browser for a server listening on
// addr: the public URL if there is one; else addr with localhost for a
// host that means every interface.
func openURL(addr string, public *url.URL) string {
	if public != nil {
		u := *public
		u.Path = "/"
		return u.String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// listenConfig is how every listener is opened. An accepted connection
// gives up once what it sent has gone unacknowledged for pingTimeout (see
// userTimeout), and has no TCP keepalive: a connection's liveness is the
// WebSocket pings and the SSE keep-alives, every --ping-interval, under
// that user timeout. Go's default keepalive (a probe after 15 s of
// silence, then every 15 s) combined with TCP_USER_TIMEOUT made Linux
// abort silent connections 30 s into a silence ("read: connection timed
// out"): with 10,000 idle clients, --ping-interval 10m and --heartbeat 1h,
// 1,700 to 3,200 of them were cut per run, in bulk; none with keepalive
// off (or with --ping-timeout 60s).
func listenConfig(pingTimeout time.Duration) net.ListenConfig {
	return net.ListenConfig{Control: userTimeout(pingTimeout), KeepAlive: -1}
}
