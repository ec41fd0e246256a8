package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"herenow/users"
)

const (
	// userChangesEvery is how often the user database is asked for users
	// deleted or whose password changed: how long, at most, their live
	// connections outlast the change. One indexed query.
	userChangesEvery = time.Second
	// userChangesBatch is the most changes read at once.
	userChangesBatch = 500
	// userChangesKept is how long a change stays in the database for
	// instances to read; pruneEvery, how often each instance prunes older
	// ones.
	userChangesKept = time.Hour
	pruneEvery      = 10 * time.Minute
)

// userChanges watches the user database for users deleted, or whose
// password changed, by any process sharing it (the user command, another
// instance), and tells the server, which ends the live connections whose
// session no longer holds. Every instance polls the database itself, so
// this works with or without --redis.
type userChanges struct {
	store  *users.Store
	logger *slog.Logger
	seq    int64 // the last change read
	// unreadable is set while the database does not answer, so that an
	// outage is logged when it starts and ends, not once a second.
	unreadable bool

	mu      sync.Mutex
	changed func(ctx context.Context, userID int64)
}

// watchUserChanges starts from the latest change recorded: live
// connections opened from now on are checked against the database when
// they open.
func watchUserChanges(ctx context.Context, store *users.Store, logger *slog.Logger) (*userChanges, error) {
	seq, err := store.LastChange(ctx)
	if err != nil {
		return nil, err
	}
	return &userChanges{store: store, logger: logger, seq: seq}, nil
}

// OnUserChanged sets the func told of each changed user.
func (w *userChanges) OnUserChanged(changed func(ctx context.Context, userID int64)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed = changed
}

// run polls until ctx ends or the func it returns is called; that func
// waits for the poller to stop.
func (w *userChanges) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		poll, prune := time.NewTicker(userChangesEvery), time.NewTicker(pruneEvery)
		defer poll.Stop()
		defer prune.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-poll.C:
				w.poll(ctx)
			case <-prune.C:
				if err := w.store.PruneChanges(ctx, time.Now().Add(-userChangesKept)); err != nil && ctx.Err() == nil {
					w.logger.Warn("prune user changes", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// poll reads the changes since the last one read, a few batches at most,
// and tells of each changed user once.
func (w *userChanges) poll(ctx context.Context) {
	w.mu.Lock()
	changed := w.changed
	w.mu.Unlock()
	for range 10 {
		batch, err := w.store.ChangesSince(ctx, w.seq, userChangesBatch)
		if err != nil {
			if ctx.Err() == nil && !w.unreadable {
				w.unreadable = true
				w.logger.Warn("cannot read user changes; retrying every second", "err", err)
			}
			return
		}
		if w.unreadable {
			w.unreadable = false
			w.logger.Info("reading user changes again")
		}
		seen := make(map[int64]bool, len(batch))
		for _, c := range batch {
			if !seen[c.UserID] && changed != nil {
				seen[c.UserID] = true
				w.logger.Info("user changed elsewhere: ending sessions that no longer hold", "user_id", c.UserID)
				changed(ctx, c.UserID)
			}
			w.seq = c.Seq
		}
		if len(batch) < userChangesBatch {
			return
		}
	}
}
