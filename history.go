package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"herenow/hub"
	"herenow/users"
)

// logKeeper keeps a single instance's activity logs in the user store
// across restarts. The hubs hand it entries under their locks (Logged,
// Forgotten), which only queue them; one goroutine, run, writes them, so a
// hub never waits for the database. When the queue is full, a write is
// dropped and counted, not waited for.
type logKeeper struct {
	store  *users.Store
	keep   int // entries kept per room: the hubs' LogSize
	logger *slog.Logger

	mu      sync.Mutex // guards closed and dropped, and sends on queue
	closed  bool
	dropped int
	queue   chan logWrite
	done    chan struct{}
}

// logWrite is one room's entries to keep, or its log to forget.
type logWrite struct {
	room    string
	entries []users.LogEntry
	forget  bool
}

// logQueue is how many writes may wait for the database.
const logQueue = 1024

// logWriteTimeout bounds one write, shutdown's included.
const logWriteTimeout = 5 * time.Second

func newLogKeeper(store *users.Store, keep int, logger *slog.Logger) *logKeeper {
	return &logKeeper{store: store, keep: keep, logger: logger, queue: make(chan logWrite, logQueue), done: make(chan struct{})}
}

// history reads the logs kept, for hub.SiteConfig.History.
func (k *logKeeper) history(ctx context.Context) (map[string][]hub.Entry, error) {
	logs, err := k.store.Logs(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]hub.Entry, len(logs))
	for room, entries := range logs {
		es := make([]hub.Entry, len(entries))
		for i, e := range entries {
			es[i] = hub.Entry(e)
		}
		out[room] = es
	}
	return out, nil
}

// Logged queues a room's new or changed entries (hub.SiteConfig.Logged).
func (k *logKeeper) Logged(room string, entries []hub.Entry) {
	w := logWrite{room: room, entries: make([]users.LogEntry, len(entries))}
	for i, e := range entries {
		w.entries[i] = users.LogEntry(e)
	}
	k.send(w)
}

// Forgotten queues forgetting a room's log (hub.SiteConfig.Forgotten).
func (k *logKeeper) Forgotten(room string) { k.send(logWrite{room: room, forget: true}) }

func (k *logKeeper) send(w logWrite) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	select {
	case k.queue <- w:
	default:
		k.dropped++
	}
}

// run writes what is queued until stop, then what is left.
func (k *logKeeper) run() {
	defer close(k.done)
	for w := range k.queue {
		ctx, cancel := context.WithTimeout(context.Background(), logWriteTimeout)
		var err error
		if w.forget {
			err = k.store.ForgetLog(ctx, w.room)
		} else {
			err = k.store.SaveLog(ctx, w.room, w.entries, k.keep)
		}
		cancel()
		if err != nil {
			k.logger.Warn("keep the activity log", "room", w.room, "err", err)
		}
		k.mu.Lock()
		dropped := k.dropped
		k.dropped = 0
		k.mu.Unlock()
		if dropped > 0 {
			k.logger.Warn("activity log writes dropped: the database is slower than the log", "dropped", dropped)
		}
	}
}

// stop refuses further entries and waits until run has written those
// queued. Call it once the hubs are closed.
func (k *logKeeper) stop() {
	k.mu.Lock()
	if !k.closed {
		k.closed = true
		close(k.queue)
	}
	k.mu.Unlock()
	<-k.done
}
