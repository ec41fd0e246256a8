// Command herenow serves a live "who is online" page. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/crypto/bcrypt"

	"herenow/handlers"
	"herenow/static"
	"herenow/users"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "herenow:", err)
		os.Exit(1)
	}
}

// run is the whole program: it serves until ctx ends, or runs a user
// subcommand.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, rest, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	warnIfOpenToOthers(logger, cfg.data)
	store, err := users.Open(ctx, cfg.usersDSN(), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("open user store: %w", err)
	}
	defer store.Close()
	if len(rest) > 0 {
		return runUserCommand(ctx, store, rest, stdin, stdout, stderr)
	}

	secret, err := loadSecret(cfg.data, getenv, cfg.redisURL != "")
	if err != nil {
		return err
	}
	assets, err := static.Load(cfg.live.StaleAfter())
	if err != nil {
		return err
	}
	link, closeLink, err := joinCluster(cfg.redisURL, cfg.clusterName, logger)
	if err != nil {
		return err
	}
	defer closeLink()
	metrics := handlers.NewMetrics()
	site, stopKeeping, err := openPresence(ctx, cfg, logger, link, metrics, store)
	if err != nil {
		return err
	}
	defer stopKeeping() // once serve has shut the site down: its last entries are written
	h := site.Lobby()
	metrics.WatchHub(h)
	hasUsers, err := store.HasUsers(ctx)
	if err != nil {
		return err
	}
	changes, err := watchUserChanges(ctx, store, logger)
	if err != nil {
		return err
	}
	app, err := handlers.NewServer(ctx, logger, store, h, assets, handlers.Options{
		Secret: secret, TokenTTL: cfg.sessionTTL, Login: cfg.login, Live: cfg.live, Metrics: metrics,
		Ready: link.Ready, UserChanges: changes, Proxy: cfg.proxy, Site: site})
	if err != nil {
		return err
	}
	return serveLinked(ctx, link, site, func(ctx context.Context) error {
		defer changes.run(ctx)() // ends the watcher of the user database and waits for it
		return serve(ctx, logger, cfg, site, app, metrics.OpsHandler(), hasUsers)
	})
}
