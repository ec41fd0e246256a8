// Command loadtest measures a "who is online" server on this machine: it
// opens N WebSocket or Server-Sent Events clients against a server on
// loopback, then measures the join storm, the fan-out latency of isolated
// arrivals, and what it all cost the server (from /proc) and itself.
//
// It treats every message the server sends as one opaque frame (a
// WebSocket text or binary message, or a dispatched SSE event) and never
// parses its content, so herenow and the baseline server
// (./loadtest/baseline) are measured the same way with the same flags.
//
// # What it does
//
//  1. Join storm: opens -n clients, at most -inflight handshakes at a time,
//     each without a cookie (a guest of its own) unless -cookie is given,
//     and times the first dial to the last connect. With -procs K the
//     binary re-executes itself as K worker processes, each holding about
//     N/K clients (a process here may open at most 20,000 files); the
//     coordinator drives them with JSON lines over their stdin and stdout.
//     With -synthetic-instances N, before the storm it writes N instances
//     that exist only in Redis, in the cluster protocol's v2 layout
//     (synthetic.go): each a share of -synthetic-people people, an entry in
//     the instances hash, its people in online, and an alive key renewed
//     every 2 s; at the end it deletes all it wrote.
//     With -rooms K, -url is the server's lobby endpoint (/live/ws or
//     /live/events) and client i joins room r{i mod K} instead
//     (/r/r{i mod K}/live/ws or /live/events), whichever process holds it.
//     With -lobby M, M more clients hold -url itself from before the storm
//     to the end: lobby viewers, counted apart from the rest.
//  2. Waits until no client received a frame for -quiet, and samples the
//     server's RSS and CPU (utime+stime) from /proc/PID of -pid.
//  3. The idle window, when -redis-stats or -synthetic-instances is given
//     (or -idle-window itself): once the last connect is 3 s old and no
//     client received a frame for 1 s, the tool holds still for
//     -idle-window and reports what happened meanwhile: frames received,
//     the -pid server's CPU, and the -redis-stats Redis's commands/s and
//     bytes/s in and out (INFO stats) and its most called commands
//     (INFO commandstats). Redis's figures leave out the tool's own INFO
//     and alive-key renewals (shown apart) and are also given per
//     instance: divided by the distinct host:port pairs of -url.
//  4. Isolated arrivals, -repeats times: a probe client connects at t0; the
//     latency is until every held client has received its first frame
//     after t0 (wall-clock UnixNano, so it holds across processes). The
//     probe then leaves, and the tool waits -settle (set it beyond the
//     server's departure grace period, or run herenow with --grace 0) and
//     then for -quiet before the next arrival. With -rooms, the probe
//     arrives in r0 and the latency is to r0's clients only (fan-out within
//     the room); what the clients of every other room receive from the
//     quiet before an arrival to the quiet after its departure is counted,
//     and must be 0.
//  5. Closes every client and samples the server once more.
//
// It prints a table on stderr and one JSON line with every figure on
// stdout. It stops after -timeout, reports what it measured and exits 1.
//
// # Flags
//
//	-url URL            ws://HOST:PORT/PATH (WebSocket) or http://HOST:PORT/PATH (SSE);
//	                    HOST must be 127.0.0.0/8, ::1 or localhost
//	-n 1000             clients to hold
//	-inflight 50        most handshakes in flight during the storm, over all processes
//	-procs 1            processes that together hold the clients
//	-cookie ''          Cookie header on every handshake (probe included), e.g. 'jwt=...'
//	-pid 0              the server's pid, for its RSS and CPU (0: not measured)
//	-repeats 20         isolated arrivals to measure (at least 20)
//	-quiet 300ms        no frame for this long means the server has settled
//	-settle 0           extra wait after each probe leaves
//	-timeout 5m         the whole run
//	-dial-timeout 30s   one handshake
//	-fanout-timeout 10s one arrival; a slower one is counted as incomplete
//	-gomaxprocs 1       GOMAXPROCS of each tool process (0: Go's default). On a
//	                    small box beside the server, one thread per process
//	                    costs the tool about a third less CPU per frame.
//	-cpuprofile FILE    the tool's own CPU profile (FILE.1, FILE.2... per worker)
//	-redis-stats URL    redis://HOST:PORT/DB (loopback) to measure over the idle window
//	-idle-window 10s    the idle window; 0: none
//	-synthetic-instances 0  instances written to Redis before the storm
//	-synthetic-people 0     people in each synthetic instance (a fifth users)
//	-redis-url URL      the Redis for the synthetic instances (default: -redis-stats)
//	-cluster-name herenow   the servers' --cluster-name: keys are under "NAME:"
//	-rooms 0            spread the clients over this many rooms (0: all at -url)
//	-lobby 0            lobby viewers at -url itself, beside the -n clients
//	-tick 100ms         the server's --tick: a lobby viewer's window for "most frames per tick"
//
// # Examples
//
// herenow, with its grace period off so that a departure is announced at
// once, and the baseline, each with 3,000 WebSocket guests. Start each server
// afresh before a run: RSS per connection means nothing on a server whose
// heap an earlier run already grew.
//
//	go build -o /tmp/hn . && /tmp/hn --addr 127.0.0.1:8181 --data "$(mktemp -d)" --grace 0 & HN=$!
//	go run ./loadtest -url ws://127.0.0.1:8181/live/ws -n 3000 -pid $HN
//
//	go build -o /tmp/baseline ./loadtest/baseline && /tmp/baseline -addr 127.0.0.1:8099 & BASE=$!
//	go run ./loadtest -url ws://127.0.0.1:8099/ws -n 3000 -pid $BASE
//
// 10,000 clients: on two shared cores each storm takes a minute or two
// (every join is a frame to everyone already connected), so allow more time:
//
//	go run ./loadtest -url ws://127.0.0.1:8181/live/ws -n 10000 -pid $HN -timeout 10m
//	go run ./loadtest -url http://127.0.0.1:8181/live/events -n 10000 -pid $HN -timeout 10m
//
// 19,000 clients, in two processes of 9,500:
//
//	go run ./loadtest -url ws://127.0.0.1:8181/live/ws -n 19000 -procs 2 -pid $HN -timeout 15m
//
// Every client as the same signed-in user (each arrival is then a new tab),
// or with herenow's default 5 s grace period:
//
//	TOKEN=$(curl -s -o /dev/null -c - --data-urlencode username=alice --data-urlencode "password=$PASS" \
//		http://127.0.0.1:8181/login | awk '$6 == "jwt" {print $7}')
//	go run ./loadtest -url ws://127.0.0.1:8181/live/ws -cookie "jwt=$TOKEN" -n 1000
//	go run ./loadtest -url ws://127.0.0.1:8181/live/ws -n 1000 -settle 5.5s
//
// Redis's idle cost of three instances, and one real instance beside nine
// synthetic ones of 50,000 people each:
//
//	go run ./loadtest -url ws://127.0.0.1:8201/live/ws,ws://127.0.0.1:8202/live/ws,ws://127.0.0.1:8203/live/ws \
//		-n 3000 -redis-stats redis://127.0.0.1:6379/0 -idle-window 20s
//	go run ./loadtest -url ws://127.0.0.1:8201/live/ws -n 1000 -pid $HN \
//		-synthetic-instances 9 -synthetic-people 50000 -redis-stats redis://127.0.0.1:6379/0
//
// 10,000 clients in 1,000 rooms of 10, with 100 lobby viewers:
//
//	go run ./loadtest -url ws://127.0.0.1:8181/live/ws -n 10000 -rooms 1000 -lobby 100 -pid $HN -timeout 10m
//
// The JSON line goes to stdout, so `... > run.json` keeps the figures and
// the table still shows.
//
// # Reading the figures
//
// Percentiles are nearest-rank: with 20 arrivals, p95 is the 19th fastest
// and p99 the slowest. An arrival's latency includes the probe's own
// handshake. Server CPU per arrival covers one arrival, its departure and
// the quiet waits between them (two fan-outs); per join is the storm's CPU,
// until the storm settled, over the clients connected. RSS per connection
// is (full - before) / connected, at full load once the storm settled.
// Bytes count WebSocket message payloads, or every byte of the event
// stream (comments and keep-alives included). Drops are connections the
// server closed, by close code ("abnormal": cut without a close frame;
// "eof": event stream ended). With synthetic instances, the server's RSS
// per connection also holds whatever it keeps of their people, if it read
// them before the storm settled.
//
// With -rooms, "other rooms" counts frames and content bytes: WebSocket
// payloads, or an event stream's bytes outside comments and line ends, so
// that the keep-alive comments every stream gets are not taken for news of
// another room. The lobby viewers' figures cover the storm (its first dial
// until it settled) and the arrivals (the first until the quiet after the
// last): frames per viewer, per second and per tick, and the most one
// viewer received within any window of -tick and of half a -tick, by
// the time it read them. A server that flushes once a tick sends its
// frames a tick apart, so the full-tick figure can count two flushes
// when one was read a little late; the half-tick one shows what one flush
// sent. Lobby viewers are left out of every other figure (frames per
// client, RSS per connection, CPU per join).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

// errReported is a failure already shown in the report.
var errReported = errors.New("run incomplete")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program: a measurement, or a worker serving one when
// roleEnv says so.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	if getenv(roleEnv) == "worker" {
		return serveWorker(stdin, stdout)
	}
	cfg, err := parseConfig(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// Each process needs a file per client, one for a probe and a few of
	// its own.
	if perProc := share(cfg.N, cfg.Procs, 0) + share(cfg.Lobby, cfg.Procs, 0); uint64(perProc)+64 > limit {
		return fmt.Errorf("-n %d and -lobby %d in %d process(es) is %d clients per process, but a process may open only %d files: raise -procs",
			cfg.N, cfg.Lobby, cfg.Procs, perProc, limit)
	}
	if ports := localPortRange(); ports > 0 && cfg.N+cfg.Lobby+1 > ports {
		fmt.Fprintf(stderr, "loadtest: warning: %d clients but only %d ephemeral ports toward one server address\n", cfg.N+cfg.Lobby, ports)
	}

	if cfg.GoMaxProcs > 0 {
		runtime.GOMAXPROCS(cfg.GoMaxProcs)
	}
	if cfg.CPUProfile != "" {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Workers' stderr is copied into it alongside the coordinator's log.
	stderr = &syncWriter{w: stderr}
	res := measure(ctx, cfg, stderr)
	writeTable(stderr, res)
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if res.TimedOut || res.Error != "" {
		return errReported
	}
	return nil
}

// syncWriter lets several goroutines write to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
