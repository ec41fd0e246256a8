package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"herenow/handlers"
	"herenow/hub"
)

// config is everything herenow can be told.
type config struct {
	addr        string
	metricsAddr string
	data        string
	database    string
	redisURL    string
	clusterName string
	listLimit   int
	maxRooms    int
	roomList    string   // the --rooms flag's text
	rooms       []string // what it says: a fixed list of rooms, or nil
	grace       time.Duration
	tick        time.Duration
	logWindow   time.Duration
	sessionTTL  time.Duration
	logLevel    slog.Level
	live        handlers.LiveOptions
	login       handlers.LoginLimits
	// publicURL and trustedProxies are the flags' text; proxy is what they
	// say.
	publicURL      string
	trustedProxies string
	proxy          handlers.Proxy

	// Ordinary (not live) requests: the longest time to read one, body
	// included, and to write its response.
	readTimeout, writeTimeout time.Duration
}

// envPrefix turns a flag name into its environment variable: --list-limit
// is HERENOW_LIST_LIMIT.
const envPrefix = "HERENOW_"

func envName(flagName string) string {
	if flagName == "redis" {
		return "HERENOW_REDIS_URL" // it holds a URL, as the name says
	}
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags, falling back to environment variables, then to
// defaults. It returns the arguments left after the flags (a subcommand).
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, []string, error) {
	c := config{login: handlers.LoginLimits{MaxDelay: 2 * time.Second}}
	fs := newFlagSet(&c, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return c, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !set[f.Name] && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return c, nil, err
	}
	if c.proxy, err = parseProxy(c.publicURL, c.trustedProxies); err != nil {
		return c, nil, err
	}
	if c.listLimit < 0 || c.grace < 0 || c.logWindow < 0 || c.tick <= 0 || c.sessionTTL <= 0 || c.live.PingInterval <= 0 || c.live.PingTimeout <= 0 || c.live.Heartbeat <= 0 ||
		c.login.PerIP <= 0 || c.login.PerName <= 0 {
		return c, nil, errors.New("--list-limit, --grace and --log-window must not be negative; --tick, --session-ttl, the ping settings, --heartbeat and the login limits must be positive")
	}
	if c.live.MaxLive < 0 || c.live.MaxPerAddr < 0 || c.readTimeout <= 0 || c.writeTimeout <= 0 {
		return c, nil, errors.New("--max-live and --max-live-per-addr must not be negative; --read-timeout and --write-timeout must be positive")
	}
	if c.live.MaxLive == 0 {
		c.live.MaxLive = defaultMaxLive(openFileLimit())
	}
	if c.maxRooms <= 0 {
		return c, nil, errors.New("--max-rooms must be positive")
	}
	if c.rooms, err = parseRooms(c.roomList); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), nil
}

// defaultMaxRooms is --max-rooms unless set.
const defaultMaxRooms = 10000

// parseRooms reads --rooms: room names separated by commas, each folded to
// its small-letter form; nil when empty.
func parseRooms(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var rooms []string
	for part := range strings.SplitSeq(list, ",") {
		name, err := hub.RoomName(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("--rooms: %q: %w", part, err)
		}
		if !slices.Contains(rooms, name) {
			rooms = append(rooms, name)
		}
	}
	return rooms, nil
}

// newFlagSet defines every flag, bound to c's fields.
func newFlagSet(c *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("herenow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "address for /metrics and /debug/pprof/ (e.g. 127.0.0.1:9090); off when empty")
	fs.StringVar(&c.data, "data", "./data", "directory for the user database and the generated signing secret")
	fs.StringVar(&c.redisURL, "redis", "", "redis:// URL of the Redis that several instances share presence through; in memory, one instance, when empty")
	fs.StringVar(&c.clusterName, "cluster-name", "herenow", "names this cluster's keys in Redis, so several clusters can share one Redis")
	fs.StringVar(&c.database, "database", "", "user database: a postgres:// URL, or a SQLite file; DATA/users.db when empty")
	fs.IntVar(&c.listLimit, "list-limit", 100, "most users named in the online list; the rest are counted")
	fs.IntVar(&c.maxRooms, "max-rooms", defaultMaxRooms, "most rooms in use at once; past it a new room's page answers 503")
	fs.StringVar(&c.roomList, "rooms", "", "comma-separated room names: the only rooms there are; any valid name when empty")
	fs.DurationVar(&c.grace, "grace", 5*time.Second, "how long someone whose last tab closed still counts as online")
	fs.DurationVar(&c.tick, "tick", 100*time.Millisecond, "shortest time between two live updates")
	fs.DurationVar(&c.logWindow, "log-window", time.Minute, "the activity log summarises guests once per this (with --redis too: the same on every instance) and, on one instance, folds arrivals (or departures) within it into one entry; 0: every change its own entry")
	fs.DurationVar(&c.sessionTTL, "session-ttl", 12*time.Hour, "how long a login lasts")
	fs.DurationVar(&c.live.PingInterval, "ping-interval", 30*time.Second, "how often WebSocket clients are pinged; SSE streams get a heartbeat at least this often")
	fs.DurationVar(&c.live.Heartbeat, "heartbeat", 10*time.Second, "how often every live page is told its connection is alive; a page that hears nothing for twice this says \"Reconnecting…\"")
	fs.DurationVar(&c.live.PingTimeout, "ping-timeout", 10*time.Second, "how long a ping, or data sent to any client (TCP_USER_TIMEOUT), may go unanswered")
	fs.IntVar(&c.live.MaxLive, "max-live", 0, "most live connections at once (WebSocket and SSE together); "+
		"0: the open-file limit less a reserve of a quarter of it, at least 32 and at most 512, for pages, database, Redis and listeners")
	fs.IntVar(&c.live.MaxPerAddr, "max-live-per-addr", 64, "most live connections from one client address (an IPv6 /64 counts as one); 0: no cap")
	fs.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second, "longest time to read an ordinary request, body included (live streams are exempt)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", time.Minute, "longest time to write an ordinary response (live streams are exempt)")
	fs.IntVar(&c.login.PerIP, "login-limit-ip", 20, "login attempts allowed per minute from one address, whatever their outcome")
	fs.IntVar(&c.login.PerName, "login-limit-name", 5, "failed logins allowed per minute against one username from one address; past as many from everywhere, attempts on it are slowed")
	fs.StringVar(&c.publicURL, "public-url", "", "the address people use, e.g. https://presence.example.com; https makes cookies Secure and sends HSTS")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of the reverse proxies whose X-Forwarded-For, X-Forwarded-Proto and X-Request-Id are believed")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "least severe log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: herenow [flags]              serve the page\n")
		fmt.Fprintf(stderr, "       herenow [flags] user add|passwd|delete NAME\n")
		fmt.Fprintf(stderr, "       herenow [flags] user rename NAME NEWNAME\n")
		fmt.Fprintf(stderr, "       herenow [flags] user list\n\nFlags, each also read from its environment variable:\n\n")
		printFlags(stderr, fs)
		fmt.Fprintf(stderr, "\nHERENOW_JWT_SECRET (environment only) signs sessions; without it a secret\nis generated in the data directory.\n")
	}
	return fs
}

// helpWidth is how wide --help's lines may be.
const helpWidth = 80

// printFlags writes fs's flags as a table (flag, environment variable,
// default) like the README's, each flag's description under its line.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	nameWidth, envWidth := len("FLAG"), len("ENVIRONMENT")
	fs.VisitAll(func(f *flag.Flag) {
		nameWidth, envWidth = max(nameWidth, len("--"+f.Name)), max(envWidth, len(envName(f.Name)))
	})
	row := func(name, env, def string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-*s  %-*s  %s", nameWidth, name, envWidth, env, def), " "))
	}
	row("FLAG", "ENVIRONMENT", "DEFAULT")
	fs.VisitAll(func(f *flag.Flag) {
		row("--"+f.Name, envName(f.Name), defaultText(f))
		const indent = "      "
		for _, line := range wrapWords(f.Usage, helpWidth-len(indent)) {
			fmt.Fprintln(w, indent+line)
		}
	})
}

// defaultText is a flag's default as the README writes it: a duration as
// "12h", not "12h0m0s"; the log level in small letters, "info".
func defaultText(f *flag.Flag) string {
	switch f.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		d, err := time.ParseDuration(f.DefValue)
		if err != nil {
			return f.DefValue
		}
		return shortDuration(d)
	case *slog.Level:
		return strings.ToLower(f.DefValue)
	}
	return f.DefValue
}

// shortDuration writes d without zero minutes and seconds: "12h", "1m",
// "1h30m", "100ms".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// wrapWords breaks text into lines of at most width bytes, between words;
// a longer word has a line of its own.
func wrapWords(text string, width int) []string {
	var lines []string
	var line string
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// parseProxy reads --public-url and --trusted-proxies.
func parseProxy(publicURL, trustedProxies string) (handlers.Proxy, error) {
	var p handlers.Proxy
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return p, fmt.Errorf("--public-url %q: want the site's scheme and host, such as https://presence.example.com (herenow is served from /)", publicURL)
		}
		u.Path = ""
		p.PublicURL = u
	}
	for s := range strings.SplitSeq(trustedProxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			if addr, aerr := netip.ParseAddr(s); aerr == nil && addr.Zone() == "" {
				pfx = netip.PrefixFrom(addr, addr.BitLen()) // a single proxy's address
			}
		}
		if !pfx.IsValid() || pfx.Addr().Is4In6() {
			return p, fmt.Errorf("--trusted-proxies: %q is not a CIDR prefix (such as 10.0.0.0/8 or 127.0.0.1/32) or an address", s)
		}
		p.TrustedProxies = append(p.TrustedProxies, pfx.Masked())
	}
	return p, nil
}

// defaultMaxLive is the live-connection cap when none is set: the
// open-file limit less a reserve of a quarter of it (at least 32, at most
// 512 descriptors) for page requests, the database, Redis and the
// listeners. nofile 1024 gives 768; 64 gives 32. With no limit known
// (nofile 0) there is no cap.
func defaultMaxLive(nofile uint64) int {
	if nofile == 0 {
		return 0
	}
	reserve := min(max(nofile/4, 32), 512)
	if nofile <= reserve {
		return 1
	}
	return int(min(nofile-reserve, 1<<30))
}

// usersDSN is where the user store lives: --database, else SQLite in the
// data directory.
func (c config) usersDSN() string {
	if c.database != "" {
		return c.database
	}
	return filepath.Join(c.data, "users.db")
}

// warnIfOpenToOthers warns when the data directory may be read or written
// by users other than its owner: herenow creates its files there 0600, but
// others could still list, replace or remove them.
func warnIfOpenToOthers(logger *slog.Logger, dir string) {
	info, err := os.Stat(dir)
	if err != nil {
		return // creating it failed loudly already, or will
	}
	if mode := info.Mode().Perm(); mode&0o066 != 0 {
		logger.Warn("the data directory is readable or writable by other users; chmod 700 it",
			"dir", dir, "mode", mode.String())
	}
}

// minSecretLen is the shortest signing secret accepted: HS256 wants at
// least 256 bits.
const minSecretLen = 32

// loadSecret returns the session signing secret: HERENOW_JWT_SECRET if set,
// else the one kept in the data directory, generated on first start so that
// a restart does not sign everyone out. Instances that share presence
// (shared) must share the secret too, so only the environment will do.
func loadSecret(dataDir string, getenv func(string) string, shared bool) ([]byte, error) {
	if s := getenv("HERENOW_JWT_SECRET"); s != "" {
		if len(s) < minSecretLen {
			return nil, fmt.Errorf("HERENOW_JWT_SECRET must be at least %d characters", minSecretLen)
		}
		return []byte(s), nil
	}
	if shared {
		return nil, errors.New("several instances need one signing secret: set HERENOW_JWT_SECRET (the same on every instance) when --redis is given")
	}
	path := filepath.Join(dataDir, "jwt-secret")
	// An older herenow may have left it readable by others.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("make the signing secret private: %w", err)
		}
	}
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < minSecretLen {
			return nil, fmt.Errorf("signing secret in %s is too short; delete it to generate a new one", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read signing secret: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := []byte(hex.EncodeToString(raw))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create signing secret: %w", err)
	}
	if _, err := f.Write(secret); err != nil {
		f.Close()
		return nil, fmt.Errorf("write signing secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write signing secret: %w", err)
	}
	return secret, nil
}
