package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"herenow/handlers"
	"herenow/hub"
	"herenow/internal/testkit"
	"herenow/static"
	"herenow/users"
)

// TestMain lets the test binary serve as a worker when a -procs test
// re-executes it, as the real binary does.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "worker" {
		if err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSummarizeNearestRank(t *testing.T) {
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(20 - i) // 20, 19, ..., 1: unsorted on purpose
	}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		name    string
		samples []float64
		want    latency
	}{
		{"none", nil, latency{}},
		{"one", []float64{7}, latency{N: 1, P50: 7, P95: 7, P99: 7, Max: 7}},
		{"two", []float64{9, 1}, latency{N: 2, P50: 1, P95: 9, P99: 9, Max: 9}},
		{"twenty: p95 is the 19th, p99 the 20th", twenty, latency{N: 20, P50: 10, P95: 19, P99: 20, Max: 20}},
		{"hundred", hundred, latency{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.samples)
			if got := summarize(tt.samples); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
			if after := fmt.Sprint(tt.samples); after != before {
				t.Errorf("summarize reordered its input: %s, was %s", after, before)
			}
		})
	}
}

func TestCheckLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"ws://127.0.0.1:8080/live/ws", true},
		{"ws://127.1.2.3:8099/ws", true},
		{"http://localhost:8080/live/events", true},
		{"ws://LOCALHOST/ws", true},
		{"ws://[::1]:8080/live/ws", true},
		{"wss://127.0.0.1/live/ws", true},
		{"ws://10.0.0.1:8080/live/ws", false},
		{"ws://0.0.0.0:8080/live/ws", false},
		{"ws://[::]:8080/live/ws", false},
		{"ws://example.com/ws", false},
		{"ws://localhost.example.com/ws", false},
		{"ws://127.0.0.1.example.com/ws", false},
		{"ftp://127.0.0.1/ws", false},
		{"127.0.0.1:8080", false},
		{"ws:///ws", false},
	}
	for _, tt := range tests {
		err := checkLoopbackURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("checkLoopbackURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestLoopbackOnlyDialer(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "192.168.1.1:80": false, "[2001:db8::1]:80": false} {
		if err := loopbackOnly(context.Background(), "tcp", addr, nil); (err == nil) != ok {
			t.Errorf("loopbackOnly(%s) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestSSEParserCountsDispatchedEvents(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   int
	}{
		{"one event", "data: hello\n\n", 1},
		{"event type and data", "event: frame\ndata: <div>1</div>\n\n", 1},
		{"several data lines are one event", "data: a\ndata: b\ndata: c\n\n", 1},
		{"two events", "data: a\n\ndata: b\n\n", 2},
		{"no blank line yet", "data: a\n", 0},
		{"comment only", ": keep-alive\n\n", 0},
		{"retry only", "retry: 2000\n\n", 0},
		{"event without data", "event: frame\nid: 3\n\n", 0},
		{"data without colon", "data\n\n", 1},
		{"empty data", "data:\n\n", 1},
		{"a longer name is not data", "database: x\n\n", 0},
		{"a shorter name is not data", "dat: x\n\n", 0},
		{"data in the value is not data", "event: data\n\n", 0},
		{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", 2},
		{"CR", "data: a\r\rdata: b\r\r", 2},
		{"blank lines between events", "\n\n\ndata: a\n\n\n\n", 1},
		{"herenow's shape", "retry: 2000\n\nevent: message\ndata: <span id=\"count\" hx-swap-oob=\"true\">3</span>\ndata: <li>x</li>\n\n: keep-alive\n\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := newSSEParser()
			if got := whole.feed([]byte(tt.stream)); got != tt.want {
				t.Errorf("fed at once: %d events, want %d", got, tt.want)
			}
			bytewise, got := newSSEParser(), 0
			for i := range len(tt.stream) {
				got += bytewise.feed([]byte{tt.stream[i]})
			}
			if got != tt.want {
				t.Errorf("fed a byte at a time: %d events, want %d", got, tt.want)
			}
		})
	}
}

func TestProcParsing(t *testing.T) {
	// A command name may hold spaces and parentheses.
	stat := []byte("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 1000 300 18446744073709551615")
	cpu, err := statCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 325 * clockTick; cpu != want {
		t.Errorf("statCPU = %v, want %v", cpu, want)
	}
	status := []byte("Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads:\t5\n")
	if kib, err := statusKiB(status, "VmRSS:"); err != nil || kib != 4321 {
		t.Errorf("statusKiB = %d, %v, want 4321", kib, err)
	}
	if _, err := statusKiB(status, "VmSwap:"); err == nil {
		t.Error("statusKiB found a field that is not there")
	}
	self, err := readProc(os.Getpid())
	if err != nil || self.RSSKiB <= 0 {
		t.Errorf("readProc(self) = %+v, %v", self, err)
	}
}

// presenceServer is a tiny presence server like loadtest/baseline: on every
// join and leave each client gets {"online":N}, over WebSocket at /ws and
// SSE at /events. With noisy set it also sends a frame every 5 ms, so it
// never goes quiet. It also answers herenow's lobby and room endpoints
// (/live/ws, /r/ROOM/live/ws, and /live/events...) but has no rooms: every
// client hears of every change, wherever it connected.
type presenceServer struct {
	noisy bool
	mu    sync.Mutex
	subs  map[chan []byte]struct{}
}

func newPresenceServer(t *testing.T, noisy bool) *httptest.Server {
	t.Helper()
	p := &presenceServer{noisy: noisy, subs: map[chan []byte]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", p.serveWS)
	mux.HandleFunc("/events", p.serveSSE)
	for _, prefix := range []string{"", "/r/{room}"} {
		mux.HandleFunc(prefix+"/live/ws", p.serveWS)
		mux.HandleFunc(prefix+"/live/events", p.serveSSE)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	if noisy {
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		go func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					p.broadcast()
				}
			}
		}()
	}
	return srv
}

func (p *presenceServer) join() chan []byte {
	ch := make(chan []byte, 64)
	p.mu.Lock()
	p.subs[ch] = struct{}{}
	p.mu.Unlock()
	p.broadcast()
	return ch
}

func (p *presenceServer) leave(ch chan []byte) {
	p.mu.Lock()
	delete(p.subs, ch)
	p.mu.Unlock()
	p.broadcast()
}

func (p *presenceServer) broadcast() {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Appendf(nil, `{"online":%d}`, len(p.subs))
	for ch := range p.subs {
		select {
		case ch <- msg:
		default:
		}
	}
}

func (p *presenceServer) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ch := p.join()
	defer p.leave(ch)
	ctx := c.CloseRead(context.Background())
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-ch:
			if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
				return
			}
		}
	}
}

func (p *presenceServer) serveSSE(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n: hello\n\n")
	w.(http.Flusher).Flush()
	ch := p.join()
	defer p.leave(ch)
	for {
		select {
		case <-r.Context().Done():
			return
		case msg := <-ch:
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", msg)
			w.(http.Flusher).Flush()
		}
	}
}

// herenowPing is how often the test's herenow pings a WebSocket client and
// sends an SSE stream a keep-alive comment: often enough that keep-alives
// flow during the arrivals, where they must not count as bytes to another
// room.
const herenowPing = 50 * time.Millisecond

// newHerenow starts herenow's own handlers with rooms, as main's
// openPresence builds them, on a SQLite store of the test's: a 10 ms tick,
// no grace period (a departure is announced at once) and no cap on live
// connections.
func newHerenow(t *testing.T) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	store, err := users.Open(ctx, filepath.Join(t.TempDir(), "users.db"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	metrics := handlers.NewMetrics()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	room := hub.Config{Render: handlers.Renderer{Metrics: metrics}, Logger: logger, Tick: 10 * time.Millisecond,
		ListLimit: 100, LogSize: 50, QueueSize: 16}
	site, err := hub.NewSite(hub.SiteConfig{
		Room:        room,
		RoomRender:  func(name string) hub.Renderer { return handlers.Renderer{Metrics: metrics, Room: name} },
		Lobby:       room,
		MaxRooms:    100,
		PanelLimit:  20,
		RenderPanel: handlers.RenderPanel,
	})
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	server, err := handlers.NewServer(ctx, logger, store, site.Lobby(), assets, handlers.Options{
		Secret: []byte("load test secret, at least thirty-two bytes"), TokenTTL: time.Hour,
		Login:   handlers.LoginLimits{PerIP: 20, PerName: 5},
		Live:    handlers.LiveOptions{PingInterval: herenowPing, PingTimeout: 10 * time.Second},
		Metrics: metrics, Site: site,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)
	t.Cleanup(site.Close) // runs first: ends the live connections srv.Close would wait for
	return srv
}

// runTool runs the program with args and returns its JSON result.
func runTool(t *testing.T, args ...string) (result, error) {
	t.Helper()
	res, _, err := runToolOutput(t, args...)
	return res, err
}

// runToolOutput is runTool that also returns what the tool wrote on
// stderr: its log and table.
func runToolOutput(t *testing.T, args ...string) (result, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	// -gomaxprocs 0 leaves the test process, which is also the server, alone.
	args = append([]string{"loadtest", "-gomaxprocs", "0"}, args...)
	err := run(context.Background(), args, func(string) string { return "" }, nil, &stdout, &stderr)
	var res result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("stdout is not one JSON result (%v): %q\nstderr:\n%s", jerr, stdout.String(), stderr.String())
	}
	if strings.Count(stdout.String(), "\n") != 1 {
		t.Errorf("stdout has %d lines, want 1", strings.Count(stdout.String(), "\n"))
	}
	if !strings.Contains(stderr.String(), "fan-out") {
		t.Errorf("stderr has no table:\n%s", stderr.String())
	}
	return res, stderr.String(), err
}

func TestRunMeasuresEveryArrival(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load test")
	}
	srv := newPresenceServer(t, false)
	base := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct{ name, url, procs string }{
		{"websocket", "ws://" + base + "/ws", "1"},
		{"sse", "http://" + base + "/events", "1"},
		{"websocket in two processes", "ws://" + base + "/ws", "2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 30
			res, err := runTool(t, "-url", tt.url, "-n", fmt.Sprint(n), "-inflight", "4", "-procs", tt.procs,
				"-quiet", "40ms", "-timeout", "60s", "-pid", fmt.Sprint(os.Getpid()))
			if err != nil {
				t.Fatalf("run: %v (result %+v)", err, res)
			}
			if res.Connected != n || res.FailedHandshakes != 0 || res.ReadErrors != 0 || res.DropsTotal != 0 {
				t.Errorf("connected %d, failed %d, read errors %d, drops %v; want %d, 0, 0, none",
					res.Connected, res.FailedHandshakes, res.ReadErrors, res.Drops, n)
			}
			if res.Arrivals != minRepeats || res.Fanout.N != minRepeats || len(res.FanoutSamplesMS) != minRepeats {
				t.Errorf("arrivals %d, fan-out samples %d (%d listed), want %d", res.Arrivals, res.Fanout.N, len(res.FanoutSamplesMS), minRepeats)
			}
			f := res.Fanout
			if !(0 < f.P50 && f.P50 <= f.P95 && f.P95 <= f.P99 && f.P99 <= f.Max) {
				t.Errorf("fan-out percentiles out of order: %+v", f)
			}
			if res.FanoutFirst.P50 > f.P50 {
				t.Errorf("the first client (p50 %.2f ms) came after the last (p50 %.2f ms)", res.FanoutFirst.P50, f.P50)
			}
			// Every client joined with a snapshot-like frame for each later
			// join at least once, and got one frame per arrival and one per
			// departure of each probe.
			if res.FramesPerClient < 2*minRepeats {
				t.Errorf("%.1f frames per client, want at least %d (an arrival and a departure per probe)", res.FramesPerClient, 2*minRepeats)
			}
			if res.StormFramesPerClient < 1 || res.StormBytesPerClient < float64(len(`{"online":1}`)) {
				t.Errorf("storm: %.1f frames, %.0f bytes per client", res.StormFramesPerClient, res.StormBytesPerClient)
			}
			if res.Server == nil || res.Server.RSSFullKiB <= 0 || res.Tool.CPUMS <= 0 {
				t.Errorf("server %+v, tool %+v: want figures", res.Server, res.Tool)
			}
		})
	}
}

func TestRunStopsAtTimeout(t *testing.T) {
	srv := newPresenceServer(t, true) // never quiet
	start := time.Now()
	res, err := runTool(t, "-url", "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", "-n", "5", "-timeout", "500ms")
	if !errors.Is(err, errReported) {
		t.Errorf("run = %v, want errReported", err)
	}
	if !res.TimedOut || res.Connected != 5 {
		t.Errorf("timed out %v with %d connected, want true with 5", res.TimedOut, res.Connected)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v after a 500ms timeout", took)
	}
}

func TestRunRefusesWhatItCannotDo(t *testing.T) {
	for _, args := range [][]string{
		{"-url", "ws://10.1.2.3:8080/ws"},
		{"-url", "ws://127.0.0.1:1/ws", "-repeats", "19"},
		{"-url", "ws://127.0.0.1:1/ws", "-procs", "4", "-inflight", "3"},
		{"-url", "ws://127.0.0.1:1/ws", "-n", "100000"}, // more files than one process may open
		{"-n", "10"},
		{"-url", "ws://127.0.0.1:1/ws", "-synthetic-instances", "2"},                                           // no Redis to write to
		{"-url", "ws://127.0.0.1:1/ws", "-redis-stats", "redis://10.0.0.1:6379/0"},                             // not this machine
		{"-url", "ws://127.0.0.1:1/ws", "-synthetic-instances", "1", "-redis-url", "redis://192.168.1.1:6379"}, // nor this
		{"-url", "ws://127.0.0.1:1/ws", "-idle-window", "-1s"},
		{"-url", "ws://127.0.0.1:1/live/ws", "-rooms", "-1"},
		{"-url", "ws://127.0.0.1:1/live/ws", "-lobby", "-1"},
		{"-url", "ws://127.0.0.1:1/live/ws", "-rooms", "3", "-n", "2"}, // rooms left empty
		{"-url", "ws://127.0.0.1:1/live/ws", "-lobby", "2", "-tick", "0s"},
		{"-url", "ws://127.0.0.1:1/ws", "-rooms", "3"},                          // not a lobby endpoint: the baseline has no rooms
		{"-url", "ws://127.0.0.1:1/r/a/live/ws", "-rooms", "3"},                 // a room's, not the lobby's
		{"-url", "ws://127.0.0.1:1/live/events", "-rooms", "3"},                 // the other transport's
		{"-url", "http://127.0.0.1:1/live/ws", "-rooms", "3"},                   // and the other way round
		{"-url", "ws://127.0.0.1:1/live/ws?x=1", "-rooms", "3"},                 // a query the room's URL would lose
		{"-url", "ws://127.0.0.1:1/live/ws,ws://127.0.0.1:2/ws", "-rooms", "3"}, // every URL
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"loadtest"}, args...), func(string) string { return "" }, nil, &stdout, &stderr)
		if err == nil || stdout.Len() != 0 {
			t.Errorf("%q: err %v, stdout %q; want an error and no result", args, err, stdout.String())
		}
	}
}

func TestDropsAreCountedByCloseCode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		go c.CloseRead(context.Background()) // answer the close handshake
		c.Write(r.Context(), websocket.MessageText, []byte("hello"))
		c.Close(websocket.StatusTryAgainLater, "too slow")
	}))
	defer srv.Close()
	f := newFleet(transportWS, "ws"+strings.TrimPrefix(srv.URL, "http"), "", 5*time.Second)
	if r := f.storm(context.Background(), 4, 2); r.Connected != 4 {
		t.Fatalf("storm: %+v", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.alive.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c := f.counters()
	if c.Alive != 0 || c.Drops["1013"] != 4 || c.ReadErrors != 0 || c.Frames != 4 || c.Bytes != 4*int64(len("hello")) {
		t.Errorf("counters %+v: want 0 alive, 4 drops with 1013, 4 frames of 5 bytes", c)
	}
}

func TestSeveralURLsMustAllBeLoopbackAndOneTransport(t *testing.T) {
	for list, ok := range map[string]bool{
		"ws://127.0.0.1:1/live/ws,ws://127.0.0.1:2/live/ws,ws://[::1]:3/live/ws": true,
		"ws://127.0.0.1:1/live/ws,ws://10.0.0.1:2/live/ws":                       false,
		"ws://127.0.0.1:1/live/ws,http://127.0.0.1:2/live/events":                false,
	} {
		if err := checkLoopbackURLs(list); (err == nil) != ok {
			t.Errorf("checkLoopbackURLs(%q) = %v, want ok=%v", list, err, ok)
		}
	}
}

// redisServer runs a Redis of the test's own on a free loopback port until
// the test ends, and returns its address (as cluster/redis_test.go does).
func redisServer(t *testing.T) string {
	t.Helper()
	addr := testkit.FreeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (go tool task redis installs it): %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	probe := redis.NewClient(&redis.Options{Addr: addr})
	defer probe.Close()
	testkit.WaitUntil(t, 5*time.Second, "redis-server to answer", func() bool { return probe.Ping(context.Background()).Err() == nil })
	return addr
}

func TestRedisWindowCountsOtherClientsOnly(t *testing.T) {
	addr := redisServer(t)
	ctx := context.Background()
	client, err := newRedisClient("-redis-stats", "redis://"+addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	stats := redisStats{client: client}
	other := redis.NewClient(&redis.Options{Addr: addr})
	defer other.Close()
	if err := other.Ping(ctx).Err(); err != nil { // its connection's greeting comes before the window
		t.Fatal(err)
	}

	// A window in which another client sends 100 SETs and 50 GETs.
	start, info, err := stats.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		other.Set(ctx, fmt.Sprint("k", i), "v", 0)
		if i%2 == 0 {
			other.Get(ctx, "k0")
		}
	}
	end, _, err := stats.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := redisWindow(start, end, info, time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	if busy.Total.CommandsPerS != 150 || busy.PerInstance.CommandsPerS != 75 || busy.Total.InBytesPerS <= 0 || busy.Total.OutBytesPerS <= 0 {
		t.Errorf("busy window: total %+v, per instance %+v; want 150 commands/s, 75 per instance, bytes both ways", busy.Total, busy.PerInstance)
	}
	if len(busy.Top) != 2 || busy.Top[0].Name != "set" || busy.Top[0].CallsPerS != 100 || busy.Top[1].Name != "get" || busy.Top[1].CallsPerS != 50 {
		t.Errorf("top commands %+v, want set 100/s, get 50/s (and not the tool's info)", busy.Top)
	}
	if busy.Tool.CommandsPerS != 1 || busy.Tool.OutBytesPerS < 1000 {
		t.Errorf("tool's own %+v, want its one INFO and its reply", busy.Tool)
	}

	// A window in which nobody but the tool says anything.
	start, info, err = stats.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	end, _, err = stats.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := redisWindow(start, end, info, time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if quiet.Total != (redisRates{}) || len(quiet.Top) != 0 {
		t.Errorf("quiet window: %+v, top %+v; want nothing (the tool's INFO left out)", quiet.Total, quiet.Top)
	}
}

func TestParseInfo(t *testing.T) {
	info := "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:42\r\ninstantaneous_ops_per_sec:0\r\n" +
		"total_net_input_bytes:1000\r\ntotal_net_output_bytes:2000\r\n\r\n# Commandstats\r\n" +
		"cmdstat_evalsha:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\ncmdstat_client|setinfo:calls=2,usec=1,usec_per_call=0.50\r\n"
	s, err := parseInfo(info)
	if err != nil {
		t.Fatal(err)
	}
	if s.Commands != 42 || s.InBytes != 1000 || s.OutBytes != 2000 ||
		s.Calls["evalsha"] != (commandStat{Calls: 7, USec: 70}) || s.Calls["client|setinfo"] != (commandStat{Calls: 2, USec: 1}) {
		t.Errorf("parseInfo = %+v", s)
	}
	if _, err := parseInfo("# Stats\r\ntotal_commands_processed:1\r\n"); err == nil {
		t.Error("parseInfo accepted an INFO without byte counts")
	}
}

// redisState is every key and its content, for comparing.
func redisState(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, k := range keys {
		switch c.Type(ctx, k).Val() {
		case "hash":
			state[k] = fmt.Sprint(c.HGetAll(ctx, k).Val())
		default:
			state[k] = c.Get(ctx, k).Val()
		}
	}
	return state
}

func TestSyntheticInstancesAreWrittenAndRemoved(t *testing.T) {
	addr := redisServer(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	// A real instance's state, and another cluster's, to be left alone.
	c.HSet(ctx, "hn:instances", "real-1", "0123456789abcdef:5")
	c.HSet(ctx, "hn:online", "u-1", 1)
	c.HSet(ctx, "hn:share:real-1", "u-1", heldValue(1, "alice", false))
	c.HSet(ctx, "other:online", "g-syn0-1", 1)
	before := redisState(t, c)

	const instances, people = 3, 2100 // more than one HSET, and more than one round trip
	w, err := newSyntheticWriter(c, "hn", instances, people, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.stop(ctx)

	if n := c.HLen(ctx, "hn:online").Val(); n != instances*people+1 {
		t.Errorf("online has %d people, want %d", n, instances*people+1)
	}
	seqs := c.HGetAll(ctx, "hn:instances").Val()
	for i := range instances {
		id := fmt.Sprint("synthetic-", i)
		share := c.HGetAll(ctx, "hn:share:"+id).Val()
		users := 0
		for key, value := range share {
			user := strings.HasPrefix(key, "u-")
			if user {
				users++
			}
			name := key[2:]
			if want := heldValue(1, name, !user); value != want || !strings.HasPrefix(name, fmt.Sprintf("syn%d-", i)) {
				t.Fatalf("%s: %q → %q, want a synthetic name → %q", id, key, value, want)
			}
			if n := c.HGet(ctx, "hn:online", key).Val(); n != "1" {
				t.Fatalf("online[%s] = %q, want 1", key, n)
			}
		}
		if len(share) != people || users != people/5 {
			t.Errorf("%s: %d people, %d users; want %d, %d", id, len(share), users, people, people/5)
		}
		epoch := c.Get(ctx, "hn:alive:"+id).Val()
		if len(epoch) != 16 || strings.Trim(epoch, "0123456789abcdef") != "" || seqs[id] != epoch+":1" {
			t.Errorf("%s: alive %q, instances %q; want a 16-hex-digit epoch and epoch:1", id, epoch, seqs[id])
		}
		if ttl := c.PTTL(ctx, "hn:alive:"+id).Val(); ttl <= 0 || ttl > syntheticTTL {
			t.Errorf("%s: alive key's TTL %v, want up to %v", id, ttl, syntheticTTL)
		}
	}

	if err := w.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if after := redisState(t, c); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after stop Redis holds\n%v\nwant what was there before\n%v", after, before)
	}
}

func TestSyntheticAliveKeysAreRenewed(t *testing.T) {
	addr := redisServer(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	w, err := newSyntheticWriter(c, "hn", 2, 10, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	w.ttl, w.refresh = time.Minute, 20*time.Millisecond
	if err := w.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.stop(ctx)
	// Whatever happens to the keys, the next renewal sets them again.
	c.Del(ctx, "hn:alive:synthetic-1")
	c.PExpire(ctx, "hn:alive:synthetic-0", time.Second)
	testkit.WaitUntil(t, 5*time.Second, "the alive keys to be renewed", func() bool {
		return c.PTTL(ctx, "hn:alive:synthetic-0").Val() > time.Second && c.PTTL(ctx, "hn:alive:synthetic-1").Val() > time.Second
	})
	if w.renewals().Commands["set"] < 2 {
		t.Errorf("renewals counted %+v, want at least one per instance", w.renewals())
	}
	if err := w.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.DBSize(ctx).Val(); n != 0 {
		t.Errorf("%d keys left after stop, want none (and no renewal after it)", n)
	}
}

func TestRenewalsAreLeftOutOfTheRedisFigures(t *testing.T) {
	url := "redis://" + redisServer(t) + "/0"
	ctx := context.Background()
	c, err := newRedisClient("-redis-stats", url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := newSyntheticWriter(c, "hn", 3, 10, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	w.refresh = 5 * time.Millisecond
	if err := w.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.stop(ctx)
	m := &measurement{cfg: config{RedisStats: url, RedisURL: url}, synthetic: w}
	stats := &redisStats{client: c}

	start, info, renew0, err := m.sampleRedis(ctx, stats)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, 5*time.Second, "ten rounds of renewals", func() bool { return w.renewals().Commands["set"] >= renew0.Commands["set"]+30 })
	end, _, renew1, err := m.sampleRedis(ctx, stats)
	if err != nil {
		t.Fatal(err)
	}
	f, err := redisWindow(start, end, info.plus(renew1.minus(renew0)), time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if f.Total != (redisRates{}) || len(f.Top) != 0 || f.Tool.CommandsPerS < 31 {
		t.Errorf("total %+v, top %+v, tool's own %+v: want nothing but the tool's own renewals and INFO", f.Total, f.Top, f.Tool)
	}
}

func TestRunMeasuresAnIdleWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load test")
	}
	addr := redisServer(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	c.Ping(ctx)
	// The test plays a server talking to Redis all along, the window included.
	stopTalking := make(chan struct{})
	talked := make(chan struct{})
	go func() {
		defer close(talked)
		for {
			select {
			case <-stopTalking:
				return
			case <-time.After(5 * time.Millisecond):
				c.Exists(ctx, "hn:alive:real-1")
			}
		}
	}()
	// One server under two names: two servers for the tool's count.
	srv := newPresenceServer(t, false)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	urls := "ws://127.0.0.1:" + port + "/ws,ws://localhost:" + port + "/ws"
	res, err := runTool(t, "-url", urls, "-n", "6", "-quiet", "40ms", "-timeout", "60s", "-pid", fmt.Sprint(os.Getpid()),
		"-redis-stats", "redis://"+addr+"/0", "-idle-window", "2500ms", // a renewal of the synthetic alive keys or two

		"-synthetic-instances", "2", "-synthetic-people", "30", "-cluster-name", "hn")
	close(stopTalking)
	<-talked
	if err != nil {
		t.Fatalf("run: %v (result %+v)", err, res)
	}
	i := res.Idle
	if i == nil || i.Redis == nil || i.Server == nil {
		t.Fatalf("idle figures %+v: want Redis's and the server's", i)
	}
	if i.WindowMS < 2500 || i.SettleMS < ms(idleSettleMin) || i.Frames != 0 {
		t.Errorf("window %.0f ms, %.0f ms after the last connect, %d frames; want at least 2.5 s, %v after, none", i.WindowMS, i.SettleMS, i.Frames, idleSettleMin)
	}
	if r := i.Redis; r.Instances != 2 || r.Total.CommandsPerS < 10 || len(r.Top) != 1 || r.Top[0].Name != "exists" ||
		r.PerInstance.CommandsPerS != r.Total.CommandsPerS/2 || r.Tool.CommandsPerS < 2/2.5 {
		t.Errorf("redis %+v: want the test's EXISTS only, several a second, halved per instance, and the tool's renewals apart", r)
	}
	if s := res.Synthetic; s == nil || !s.Removed || s.Instances != 2 || s.PeoplePerInstance != 30 {
		t.Errorf("synthetic %+v: want 2 instances of 30, removed", s)
	}
	if n := c.DBSize(ctx).Val(); n != 0 {
		t.Errorf("%d keys left in Redis after the run, want none", n)
	}
}

func TestRoomURLsRewriteTheLobbyEndpoint(t *testing.T) {
	tests := []struct {
		list string
		room int
		want string
	}{
		{"ws://127.0.0.1:8080/live/ws", 0, "ws://127.0.0.1:8080/r/r0/live/ws"},
		{"http://localhost:8080/live/events", 999, "http://localhost:8080/r/r999/live/events"},
		{"ws://127.0.0.1:1/live/ws,ws://[::1]:2/live/ws", 7, "ws://127.0.0.1:1/r/r7/live/ws,ws://[::1]:2/r/r7/live/ws"},
	}
	for _, tt := range tests {
		if got, err := roomURLs(tt.list, tt.room); err != nil || got != tt.want {
			t.Errorf("roomURLs(%q, %d) = %q, %v; want %q", tt.list, tt.room, got, err, tt.want)
		}
	}
	if _, err := roomURLs("ws://127.0.0.1:1/live/ws/", 0); err == nil {
		t.Error("roomURLs accepted a path that is not the lobby's")
	}
}

func TestTickWindowCountsTheLatestFrames(t *testing.T) {
	const tick = int64(100 * time.Millisecond)
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	var w tickWindow
	for _, step := range []struct {
		at         int64 // ms
		events     int
		tick, half int
	}{
		{at: 0, events: 1, tick: 1, half: 1},
		{at: 100, events: 1, tick: 1, half: 1}, // exactly a tick later: a tick of its own
		{at: 150, events: 1, tick: 2, half: 1}, // within the tick of the one at 100, not within half of it
		{at: 160, events: 2, tick: 4, half: 3}, // two at once (an event stream's read)
		{at: 1000, events: 1, tick: 1, half: 1},
		{at: 1001, events: 40, tick: 16, half: 16}, // counted up to the ring's length
	} {
		tk, half := w.add(ms(step.at), step.events, tick)
		if tk != step.tick || half != step.half {
			t.Errorf("%d frame(s) at %d ms: %d within a tick, %d within half; want %d, %d", step.events, step.at, tk, half, step.tick, step.half)
		}
	}
}

func TestSSEParserCountsFieldBytesOnly(t *testing.T) {
	for stream, want := range map[string]int64{
		": keep-alive\n\n":                     0,
		"data: hello\n\n":                      len64("data: hello"),
		"event: message\r\ndata: x\r\n\r\n":    len64("event: message") + len64("data: x"),
		"retry: 2000\n\n: hi\n\ndata: a:b\n\n": len64("retry: 2000") + len64("data: a:b"),
		"data: :not a comment\n\n":             len64("data: :not a comment"),
	} {
		p := newSSEParser()
		var got int64
		for i := range len(stream) { // a byte at a time: lines span reads
			p.feed([]byte{stream[i]})
			got += p.takeFieldBytes()
		}
		if got != want {
			t.Errorf("%q: %d field bytes, want %d", stream, got, want)
		}
	}
}

func len64(s string) int64 { return int64(len(s)) }

// tableRow returns the row of the tool's table named name, its value
// trimmed, or "" if there is none.
func tableRow(stderr, name string) string {
	for line := range strings.Lines(stderr) {
		if rest, ok := strings.CutPrefix(line, name+"  "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// TestRunWithRoomsAgainstHerenow measures herenow's own handlers with 32
// clients over 3 rooms and 4 lobby viewers: the probe's arrivals in r0
// reach r0's clients and nobody in r1 or r2, and the lobby viewers hear
// of the storm and of the arrivals.
func TestRunWithRoomsAgainstHerenow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load test")
	}
	srv := newHerenow(t)
	base := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct{ name, url, procs string }{
		{"websocket", "ws://" + base + "/live/ws", "1"},
		{"sse", "http://" + base + "/live/events", "1"},
		{"websocket in two processes", "ws://" + base + "/live/ws", "2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, stderr, err := runToolOutput(t, "-url", tt.url, "-n", "32", "-rooms", "3", "-lobby", "4", "-tick", "10ms", "-procs", tt.procs,
				"-quiet", "60ms", "-timeout", "90s")
			if err != nil {
				t.Fatalf("run: %v (result %+v)", err, res)
			}
			if res.Connected != 32 || res.FailedHandshakes != 0 || res.ReadErrors != 0 || res.DropsTotal != 0 {
				t.Errorf("connected %d, failed %d, read errors %d, drops %v; want 32, 0, 0, none",
					res.Connected, res.FailedHandshakes, res.ReadErrors, res.Drops)
			}
			// r0 holds clients 0, 3, ..., 30: 11 of the 32, whichever
			// process holds them (the second of two begins at client 16).
			rm := res.Rooms
			if rm == nil || rm.Rooms != 3 || rm.ProbeRoom != "r0" || rm.ProbeRoomClients != 11 || rm.Other.Clients != 21 {
				t.Fatalf("rooms %+v: want 3, the probe in r0 with 11 clients, 21 in the others", rm)
			}
			if res.Fanout.N != minRepeats || res.FanoutIncomplete != 0 || res.ProbeFailures != 0 {
				t.Errorf("fan-out %+v, %d incomplete, %d probe failures: want every arrival measured", res.Fanout, res.FanoutIncomplete, res.ProbeFailures)
			}
			if o := rm.Other; o.Arrivals != minRepeats || o.Frames != 0 || o.Bytes != 0 || o.ArrivalsWithTraffic != 0 {
				t.Errorf("other rooms %+v: want nothing during %d arrivals", o, minRepeats)
			}
			if row, want := tableRow(stderr, "other rooms"), "21 clients: 0 frames, 0 B during 20 arrivals: none, as it must be"; !strings.HasSuffix(row, want) {
				t.Errorf("the table's row %q does not say %q:\n%s", row, want, stderr)
			}
			l := res.Lobby
			if l == nil || l.Viewers != 4 || l.Connected != 4 || l.Failed != 0 {
				t.Fatalf("lobby %+v: want 4 viewers connected", l)
			}
			if l.Storm.Frames == 0 || l.Storm.FramesPerViewerPerS <= 0 || l.Storm.MaxPerTick < 1 || l.Arrivals.Frames == 0 || l.Arrivals.MaxPerTick < 1 {
				t.Errorf("lobby storm %+v, arrivals %+v: want frames in both", l.Storm, l.Arrivals)
			}
		})
	}
}

// TestRunWithRoomsCountsWhatReachesOtherRooms runs the tool against a
// server that has no rooms, whatever the path: every client hears of every
// arrival, and the tool must say so, and count the lobby's frames exactly.
func TestRunWithRoomsCountsWhatReachesOtherRooms(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a load test")
	}
	srv := newPresenceServer(t, false)
	base := strings.TrimPrefix(srv.URL, "http://")
	// 9 clients, 2 viewers and the probe: {"online":12} on its arrival,
	// {"online":11} on its departure, 13 bytes each.
	const msg = len(`{"online":12}`)
	for _, tt := range []struct {
		name, url string
		content   int // content bytes per frame
	}{
		{"websocket", "ws://" + base + "/live/ws", msg},
		{"sse", "http://" + base + "/live/events", len("event: message") + len("data: ") + msg},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A tick of 10 s: an arrival and its departure fall in half of one.
			res, stderr, err := runToolOutput(t, "-url", tt.url, "-n", "9", "-rooms", "3", "-lobby", "2", "-tick", "10s",
				"-quiet", "40ms", "-timeout", "60s")
			if err != nil {
				t.Fatalf("run: %v (result %+v)", err, res)
			}
			o := res.Rooms.Other
			// Each of the 6 clients of r1 and r2 hears of each arrival and
			// each departure.
			if want := int64(6 * 2 * minRepeats); o.Clients != 6 || o.Frames != want || o.Bytes != want*int64(tt.content) ||
				o.ArrivalsWithTraffic != minRepeats || o.MaxBytesPerArrival != int64(6*2*tt.content) {
				t.Errorf("other rooms %+v: want 6 clients, %d frames of %d bytes, in every arrival", o, want, tt.content)
			}
			if !strings.Contains(tableRow(stderr, "other rooms"), "NOT ZERO") {
				t.Errorf("the table does not say the other rooms heard the arrivals:\n%s", stderr)
			}
			l := res.Lobby
			if l == nil || l.Connected != 2 {
				t.Fatalf("lobby %+v: want 2 viewers", l)
			}
			// The storm: a frame to each viewer per join, 9 of them. The
			// arrivals: two frames to each viewer per arrival.
			if l.Storm.Frames != 2*9 || l.Arrivals.Frames != 2*2*minRepeats || l.Arrivals.FramesPerViewerPerArrival != 2 {
				t.Errorf("lobby storm %+v, arrivals %+v: want 18 frames, then 80 (2 per viewer per arrival)", l.Storm, l.Arrivals)
			}
			if l.Arrivals.MaxPerHalfTick < 2 || l.Arrivals.MaxPerTick < l.Arrivals.MaxPerHalfTick || l.TickMS != 10000 {
				t.Errorf("lobby arrivals %+v, tick %.0f ms: want an arrival and its departure within half a tick", l.Arrivals, l.TickMS)
			}
		})
	}
}
