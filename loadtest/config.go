package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// minRepeats is the fewest isolated arrivals a run measures: fewer would
// make p95 and p99 meaningless.
const minRepeats = 20

// config is one run's settings, from the command line.
type config struct {
	URL         string
	N           int
	Inflight    int
	Procs       int
	Cookie      string
	PID         int
	Repeats     int
	Quiet       time.Duration
	Settle      time.Duration
	Timeout     time.Duration
	DialTimeout time.Duration
	FanoutWait  time.Duration
	CPUProfile  string
	GoMaxProcs  int
	Stall       int

	// Rooms: with Rooms > 0, -url is the server's lobby endpoint and
	// client i joins room r{i mod Rooms} (roomURL); the probe arrives in
	// r0. Lobby viewers hold -url itself; Tick is the window in which each
	// should get at most one frame.
	Rooms int
	Lobby int
	Tick  time.Duration

	// The idle window, and what is measured in it.
	IdleWindow    time.Duration
	IdleSettle    time.Duration // least time after the last connect before the idle window
	idleWindowSet bool          // -idle-window given: measure a window even without Redis
	RedisStats    string

	// Synthetic instances, written to Redis before the clients connect.
	RedisURL           string
	ClusterName        string
	SyntheticInstances int
	SyntheticPeople    int
}

// transport is how clients talk to the server, decided by the URL's scheme.
type transport string

const (
	transportWS  transport = "ws"  // ws:// or wss://: WebSocket, every text or binary message is a frame
	transportSSE transport = "sse" // http:// or https://: server-sent events, every dispatched event is a frame
)

func (c config) transport() transport {
	if strings.HasPrefix(c.URL, "ws") {
		return transportWS
	}
	return transportSSE
}

// parseConfig reads the command line (args without the program name).
func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "", "server endpoint on loopback: ws://HOST:PORT/PATH (WebSocket) or http://HOST:PORT/PATH (SSE); several, comma-separated, spread the clients (and the probe's arrivals) over several instances, in turn")
	fs.IntVar(&c.N, "n", 1000, "clients to hold")
	fs.IntVar(&c.Inflight, "inflight", 50, "most handshakes in flight at once during the join storm (over all processes)")
	fs.IntVar(&c.Procs, "procs", 1, "processes that together hold the clients (each may open about 20,000 files)")
	fs.StringVar(&c.Cookie, "cookie", "", "Cookie header sent on every handshake, e.g. 'jwt=...' (default: none, each client is a guest of its own)")
	fs.IntVar(&c.PID, "pid", 0, "server process id, for RSS and CPU from /proc (0: not measured)")
	fs.IntVar(&c.Repeats, "repeats", minRepeats, fmt.Sprintf("isolated arrivals to measure (at least %d)", minRepeats))
	fs.DurationVar(&c.Quiet, "quiet", 300*time.Millisecond, "no frame for this long means the server has settled")
	fs.DurationVar(&c.Settle, "settle", 0, "extra wait after each probe leaves, before waiting for quiet (cover the server's departure grace period)")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "the whole run; when it passes, report what was measured and exit 1")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", 30*time.Second, "longest one handshake may take")
	fs.DurationVar(&c.FanoutWait, "fanout-timeout", 10*time.Second, "longest one arrival may take to reach every client")
	fs.IntVar(&c.GoMaxProcs, "gomaxprocs", 1, "GOMAXPROCS of each of the tool's processes (0: Go's default); one leaves the other cores to the server and spends less CPU per frame")
	fs.IntVar(&c.Rooms, "rooms", 0, "spread the clients over this many rooms, client i in room r{i mod K} (-url is then the lobby's /live/ws or /live/events, and a room's endpoint is /r/ROOM/live/...); the probe arrives in r0, fan-out is measured to r0's clients, and the other rooms' clients must receive nothing (0: every client at -url)")
	fs.IntVar(&c.Lobby, "lobby", 0, "extra clients that hold -url itself (the lobby) through the run: their frames per second and most frames within one -tick during the storm and the arrivals")
	fs.DurationVar(&c.Tick, "tick", 100*time.Millisecond, "the server's --tick: the window in which a lobby viewer should receive at most one frame")
	fs.IntVar(&c.Stall, "stall", 0, "clients that complete the handshake after the storm and then never read, held through the arrivals")
	fs.StringVar(&c.RedisStats, "redis-stats", "", "redis://HOST:PORT/DB on loopback: sample its INFO stats and commandstats at the start and end of the idle window")
	fs.DurationVar(&c.IdleSettle, "idle-settle", idleSettleMin, "least time after the last connect before the idle window begins; with -synthetic-instances, long enough for the servers to have read the synthetic shares (two heartbeats and the read)")
	fs.DurationVar(&c.IdleWindow, "idle-window", 10*time.Second, "after the storm settled, hold still this long and measure Redis (-redis-stats) and the server's CPU (-pid); the window is measured when -redis-stats or -synthetic-instances is given, or this flag is; 0: none")
	fs.IntVar(&c.SyntheticInstances, "synthetic-instances", 0, "before the clients connect, write this many instances to Redis in the cluster protocol's v2 layout, keep them alive, and remove them at the end")
	fs.IntVar(&c.SyntheticPeople, "synthetic-people", 0, "people in each synthetic instance's share (a fifth users, the rest guests)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "redis://HOST:PORT/DB on loopback for the synthetic instances (default: -redis-stats)")
	fs.StringVar(&c.ClusterName, "cluster-name", "herenow", "the servers' --cluster-name: the synthetic instances' key prefix is this and a colon")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile to this file (FILE.1, FILE.2... for the workers of -procs)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./loadtest -url URL [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { c.idleWindowSet = c.idleWindowSet || f.Name == "idle-window" })
	if c.RedisURL == "" {
		c.RedisURL = c.RedisStats
	}
	return c, c.validate()
}

func (c config) validate() error {
	if c.URL == "" {
		return errors.New("-url is required")
	}
	if err := checkLoopbackURLs(c.URL); err != nil {
		return err
	}
	switch {
	case c.N < 1:
		return fmt.Errorf("-n %d: need at least one client", c.N)
	case c.Procs < 1:
		return fmt.Errorf("-procs %d: need at least one process", c.Procs)
	case c.Inflight < c.Procs:
		return fmt.Errorf("-inflight %d: need at least one handshake in flight per process (-procs %d)", c.Inflight, c.Procs)
	case c.Repeats < minRepeats:
		return fmt.Errorf("-repeats %d: need at least %d for a p99", c.Repeats, minRepeats)
	case c.Quiet <= 0 || c.Settle < 0 || c.Timeout <= 0 || c.DialTimeout <= 0 || c.FanoutWait <= 0:
		return errors.New("-quiet, -timeout, -dial-timeout and -fanout-timeout must be positive, -settle not negative")
	case c.GoMaxProcs < 0:
		return fmt.Errorf("-gomaxprocs %d: not a thread count", c.GoMaxProcs)
	case c.PID < 0:
		return fmt.Errorf("-pid %d: not a process id", c.PID)
	case strings.ContainsAny(c.Cookie, "\r\n"):
		return errors.New("-cookie: must be one line")
	case c.Rooms < 0 || c.Lobby < 0:
		return errors.New("-rooms and -lobby must not be negative")
	case c.Rooms > c.N:
		return fmt.Errorf("-rooms %d: more rooms than clients (-n %d) leaves rooms empty", c.Rooms, c.N)
	case c.Tick <= 0:
		return fmt.Errorf("-tick %v: must be positive", c.Tick)
	case c.IdleWindow < 0:
		return fmt.Errorf("-idle-window %v: not a duration to wait", c.IdleWindow)
	case c.SyntheticInstances < 0 || c.SyntheticPeople < 0:
		return errors.New("-synthetic-instances and -synthetic-people must not be negative")
	case c.SyntheticInstances > 0 && c.RedisURL == "":
		return errors.New("-synthetic-instances needs a Redis: give -redis-url or -redis-stats")
	case c.SyntheticInstances > 0 && c.ClusterName == "":
		return errors.New("-cluster-name: must not be empty")
	}
	if c.Rooms > 0 {
		if _, err := roomURLs(c.URL, 0); err != nil {
			return err
		}
	}
	if c.RedisStats != "" {
		if _, err := redisOptions("-redis-stats", c.RedisStats); err != nil {
			return err
		}
	}
	if c.SyntheticInstances > 0 {
		if _, err := redisOptions("-redis-url", c.RedisURL); err != nil {
			return err
		}
	}
	return nil
}

// probeURL is where the probe arrives and the stalled clients connect:
// room r0 with -rooms, -url itself without.
func (c config) probeURL() string {
	if c.Rooms == 0 {
		return c.URL
	}
	u, _ := roomURLs(c.URL, 0) // validate checked it
	return u
}

// roomURLs rewrites every lobby endpoint of a comma-separated list into
// room r{room}'s: ws://HOST/live/ws becomes ws://HOST/r/r{room}/live/ws, and
// http://HOST/live/events http://HOST/r/r{room}/live/events. It refuses any
// other path: the tool would measure a server that has no rooms.
func roomURLs(list string, room int) (string, error) {
	urls := strings.Split(list, ",")
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("-url: %w", err)
		}
		want := "/live/events"
		if (config{URL: raw}).transport() == transportWS {
			want = "/live/ws"
		}
		if u.Path != want || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("-url %q: with -rooms the path must be the lobby's %s (a room's is /r/ROOM%s)", raw, want, want)
		}
		u.Path = "/r/" + roomName(room) + want
		urls[i] = u.String()
	}
	return strings.Join(urls, ","), nil
}

// roomName is the name of the tool's room i.
func roomName(i int) string { return "r" + strconv.Itoa(i) }

// idleWindow is how long the idle window lasts, 0 for none.
func (c config) idleWindow() time.Duration {
	if c.RedisStats != "" || c.SyntheticInstances > 0 || c.idleWindowSet {
		return c.IdleWindow
	}
	return 0
}

// checkLoopbackURL refuses any URL whose host is not this machine's
// loopback: 127.0.0.0/8, ::1 or localhost. The dialer checks the address it
// actually connects to as well (see loopbackOnly).
// checkLoopbackURLs checks every URL of a comma-separated -url, and that
// they all use one transport.
func checkLoopbackURLs(list string) error {
	urls := strings.Split(list, ",")
	for _, u := range urls {
		if err := checkLoopbackURL(u); err != nil {
			return err
		}
		if (config{URL: u}).transport() != (config{URL: urls[0]}).transport() {
			return fmt.Errorf("-url mixes WebSocket and SSE endpoints: %s", list)
		}
	}
	return nil
}

func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return fmt.Errorf("-url %q: scheme must be ws, wss (WebSocket), http or https (SSE)", raw)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("-url %q: no host", raw)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("-url %q: host %q is not loopback (127.0.0.0/8, ::1 or localhost); this tool only loads this machine", raw, host)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// share splits total into parts as equal as can be, the larger ones first.
func share(total, parts, i int) int {
	n := total / parts
	if i < total%parts {
		n++
	}
	return n
}
