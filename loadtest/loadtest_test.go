package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
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
// never goes quiet.
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

// runTool runs the program with args and returns its JSON result.
func runTool(t *testing.T, args ...string) (result, error) {
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
	return res, err
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
