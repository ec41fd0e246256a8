// Command baseline is the cheapest presence server worth measuring, to put
// beside herenow in a load test: every WebSocket client (ws://ADDR/ws, any
// Origin) gets a 16-byte {"online":N} text message on each change, at most
// one broadcast per -every (the first change after a quiet spell goes out at
// once). One writer goroutine and one bounded queue per client,
// coder/websocket, nothing else: no cookies, no HTML, no diffs.
//
// What the load tool measures against it is what the machine itself costs:
// one loopback write and one read per client per change. Run it beside
// herenow, with the same load tool, the same N and the same flags, in the
// same session, and compare the two as ratios; an absolute figure from a
// shared box says little on its own.
//
//	go build -o /tmp/baseline ./loadtest/baseline && /tmp/baseline -addr 127.0.0.1:8099 &
//	go run ./loadtest -url ws://127.0.0.1:8099/ws -n 3000 -pid $!
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8099", "address to listen on")
	every := fs.Duration("every", 20*time.Millisecond, "shortest time between two broadcasts")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	logger.Info("listening", "addr", ln.Addr().String())
	counter := newCounter(*every)
	mux := http.NewServeMux()
	mux.Handle("GET /ws", counter)
	// Every request's context ends with ctx: the server does not track
	// hijacked connections, so that is how their handlers learn to stop.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		counter.handlers.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	srv.Close()
	<-served
	counter.handlers.Wait()
	return nil
}

// counter counts the connected clients and tells each of them the count
// whenever it changes.
type counter struct {
	every    time.Duration
	handlers sync.WaitGroup // one per connected client

	mu       sync.Mutex
	clients  map[chan []byte]struct{}
	pending  bool      // a broadcast is scheduled
	lastSent time.Time // when the last broadcast went out
}

func newCounter(every time.Duration) *counter {
	return &counter{every: every, clients: make(map[chan []byte]struct{})}
}

// changed schedules one broadcast: at once after a quiet spell, else one
// -every after the last, so a burst of changes costs one message.
func (c *counter) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending {
		return
	}
	c.pending = true
	time.AfterFunc(max(time.Until(c.lastSent.Add(c.every)), 0), c.broadcast)
}

// broadcast queues the count for every client. It never waits: a client
// whose queue is full misses this count, and the next one supersedes it.
func (c *counter) broadcast() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending, c.lastSent = false, time.Now()
	msg := fmt.Appendf(nil, `{"online":%d}`, len(c.clients))
	for queue := range c.clients {
		select {
		case queue <- msg:
		default:
		}
	}
}

// ServeHTTP holds one client: it counts it while connected and writes it
// every count queued for it.
func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.handlers.Add(1)
	defer c.handlers.Done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer conn.CloseNow()
	queue := make(chan []byte, 4)
	c.mu.Lock()
	c.clients[queue] = struct{}{}
	c.mu.Unlock()
	c.changed()
	defer func() {
		c.mu.Lock()
		delete(c.clients, queue)
		c.mu.Unlock()
		c.changed()
	}()
	// The client sends nothing; CloseRead reads (and answers pings and the
	// close handshake) in a goroutine of its own and ends ctx when it goes.
	ctx := conn.CloseRead(r.Context())
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-queue:
			if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
				return
			}
		}
	}
}
