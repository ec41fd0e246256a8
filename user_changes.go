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
	// deleted or whose password changed, and for sessions ended at logout
	// on any instance: how long, at most, their live connections outlast
	// the change elsewhere. Two indexed queries.
	userChangesEvery = time.Second
	// userChangesBatch is the most changes, or revocations, read at once.
	userChangesBatch = 500
	// userChangesKept is how long a change stays in the database for
	// instances to read; pruneEvery, how often each instance prunes older
	// ones.
	userChangesKept = time.Hour
	pruneEvery      = 10 * time.Minute
)

// userChanges watches the user database for users deleted, or whose
// password changed, by any process sharing it (the user command, another
// instance), and for sessions ended at logout on any instance sharing it
// (this one too), and tells the server, which ends the live connections
// whose session no longer holds. Every instance polls the database itself,
// so this works with or without --redis.
type userChanges struct {
	store  *users.Store
	logger *slog.Logger
	every  time.Duration // how often to poll
	seq    int64         // the last change read
	// revokedSeq is the last revocation read.
	revokedSeq int64
	// unreadable is set while the database does not answer, so that an
	// outage is logged when it starts and ends, not once a second.
	unreadable bool
	// pokes asks for a poll at once; buffered, one pending poke is enough.
	pokes chan struct{}

	mu      sync.Mutex
	changed func(ctx context.Context, userID int64)
	revoked func(jti string, until time.Time)
}

// watchUserChanges starts from the latest change and revocation recorded:
// live connections opened from now on are checked against the database
// when they open, and the server, made after this, reads the sessions
// revoked until then (handlers.NewServer).
func watchUserChanges(ctx context.Context, store *users.Store, logger *slog.Logger) (*userChanges, error) {
	seq, err := store.LastChange(ctx)
	if err != nil {
		return nil, err
	}
	revokedSeq, err := store.LastRevocation(ctx)
	if err != nil {
		return nil, err
	}
	return &userChanges{store: store, logger: logger, every: userChangesEvery, seq: seq, revokedSeq: revokedSeq,
		pokes: make(chan struct{}, 1)}, nil
}

// OnUserChanged sets the func told of each changed user.
func (w *userChanges) OnUserChanged(changed func(ctx context.Context, userID int64)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed = changed
}

// OnRevoked sets the func told of each session ended at logout.
func (w *userChanges) OnRevoked(revoked func(jti string, until time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.revoked = revoked
}

// poke makes the poller read the database at once rather than at its next
// tick, for whoever knows that something changed there (such as the
// cluster link, told of a logout on another instance). It never blocks.
func (w *userChanges) poke() {
	select {
	case w.pokes <- struct{}{}:
	default:
	}
}

// run polls until ctx ends or the func it returns is called; that func
// waits for the poller to stop.
func (w *userChanges) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		poll, prune := time.NewTicker(w.every), time.NewTicker(pruneEvery)
		defer poll.Stop()
		defer prune.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-poll.C:
				w.poll(ctx)
			case <-w.pokes:
				w.poll(ctx)
			case <-prune.C:
				w.prune(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// prune forgets the changes older than userChangesKept, and the
// revocations whose tokens have long been refused anyway (by the
// database's clock, which every instance shares).
func (w *userChanges) prune(ctx context.Context) {
	if err := w.store.PruneChanges(ctx, time.Now().Add(-userChangesKept)); err != nil && ctx.Err() == nil {
		w.logger.Warn("prune user changes", "err", err)
	}
	if err := w.store.PruneRevocations(ctx); err != nil && ctx.Err() == nil {
		w.logger.Warn("prune revocations", "err", err)
	}
}

// poll reads the changes and the revocations since the last ones read.
func (w *userChanges) poll(ctx context.Context) {
	w.mu.Lock()
	changed, revoked := w.changed, w.revoked
	w.mu.Unlock()
	err := w.readChanges(ctx, changed)
	if err == nil {
		err = w.readRevocations(ctx, revoked)
	}
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
}

// readChanges reads the changes since the last one read, a few batches at
// most, and tells of each changed user once.
func (w *userChanges) readChanges(ctx context.Context, changed func(ctx context.Context, userID int64)) error {
	for range 10 {
		batch, err := w.store.ChangesSince(ctx, w.seq, userChangesBatch)
		if err != nil {
			return err
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
			return nil
		}
	}
	return nil
}

// readRevocations reads the revocations since the last one read, a few
// batches at most, and tells of each. Those made here come back too:
// ending a session twice changes nothing.
func (w *userChanges) readRevocations(ctx context.Context, revoked func(jti string, until time.Time)) error {
	for range 10 {
		batch, err := w.store.RevocationsSince(ctx, w.revokedSeq, userChangesBatch)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if revoked != nil {
				revoked(r.JTI, r.Until)
			}
			w.revokedSeq = r.Seq
		}
		if len(batch) < userChangesBatch {
			return nil
		}
	}
	return nil
}
