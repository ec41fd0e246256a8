package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterKeys is the cluster protocol's key layout, version 2, as the
// synthetic instances write it. It mirrors cluster/ (see
// docs/design/cluster-v2.md, section 2, "The wire protocol") and must change
// with it: a real instance reads these keys as another instance's.
type clusterKeys struct {
	prefix string // --cluster-name + ":"
}

func (k clusterKeys) share(id string) string { return k.prefix + "share:" + id } // hash: person key → heldValue
func (k clusterKeys) instances() string      { return k.prefix + "instances" }   // hash: id → "<epoch>:<seq>"
func (k clusterKeys) online() string         { return k.prefix + "online" }      // hash: person key → instances holding them
func (k clusterKeys) alive(id string) string { return k.prefix + "alive:" + id } // string: the epoch, with a TTL

// heldValue is a share's value for one person: "conns\x1fname\x1fguest".
func heldValue(conns int, name string, guest bool) string {
	g := "0"
	if guest {
		g = "1"
	}
	return strconv.Itoa(conns) + "\x1f" + name + "\x1f" + g
}

// instanceSeq is an instance's "<epoch>:<seq>" in the instances hash.
func instanceSeq(epoch string, seq int) string { return epoch + ":" + strconv.Itoa(seq) }

const (
	// syntheticTTL and syntheticRefresh are the alive key's TTL and how
	// often the tool renews it, as a real instance does (TTL and H).
	syntheticTTL     = 10 * time.Second
	syntheticRefresh = 2 * time.Second
	// syntheticBatch is the most commands in one pipelined round trip, and
	// syntheticFields the most fields in one HSET or HDEL.
	syntheticBatch  = 5000
	syntheticFields = 1000
)

// syntheticPerson is person j of synthetic instance i: one in five a user,
// the rest guests, each with a name of their own (no two instances share
// a person).
func syntheticPerson(i, j int) (key, value string) {
	name := fmt.Sprintf("syn%d-%d", i, j)
	if j%5 == 0 {
		return "u-" + name, heldValue(1, name, false)
	}
	return "g-" + name, heldValue(1, name, true)
}

// syntheticWriter holds the state of instances that exist only in Redis:
// each with a share of people, an entry in the instances hash, its people
// counted in online, and an alive key it renews until stopped. It writes
// no stream entry: a real instance finds them through the instances hash.
type syntheticWriter struct {
	client  *redis.Client
	keys    clusterKeys
	ids     []string // "synthetic-0", "synthetic-1", ...
	epochs  []string // each id's epoch: 16 hex digits
	people  int      // per instance
	ttl     time.Duration
	refresh time.Duration
	logf    func(format string, args ...any)

	cancel context.CancelFunc
	done   chan struct{}

	renewing sync.Mutex // held through each round of renewals (see holdRenewals)

	// What the renewals sent Redis, so a measurement of Redis can leave
	// the tool's own traffic out.
	renewCommands atomic.Int64
	renewInBytes  atomic.Int64 // requests, as Redis counts its input
	renewOutBytes atomic.Int64 // replies
	renewFailures atomic.Int64

	stopOnce sync.Once
	stopErr  error
}

func newSyntheticWriter(client *redis.Client, clusterName string, instances, people int, logf func(string, ...any)) (*syntheticWriter, error) {
	w := &syntheticWriter{client: client, keys: clusterKeys{prefix: clusterName + ":"}, people: people,
		ttl: syntheticTTL, refresh: syntheticRefresh, logf: logf}
	for i := range instances {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("synthetic epoch: %w", err)
		}
		w.ids = append(w.ids, "synthetic-"+strconv.Itoa(i))
		w.epochs = append(w.epochs, hex.EncodeToString(b[:]))
	}
	return w, nil
}

// start removes what an earlier run cut short may have left, writes every
// instance's state and renews the alive keys until stop.
func (w *syntheticWriter) start(ctx context.Context) error {
	if err := w.remove(ctx); err != nil {
		return fmt.Errorf("synthetic: remove leftovers: %w", err)
	}
	if err := w.write(ctx); err != nil {
		return fmt.Errorf("synthetic: write: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	w.cancel, w.done = cancel, make(chan struct{})
	go w.renew(rctx)
	return nil
}

// write stores every share and its people in online first, then the alive
// keys, and the instances entries last, so that an instance is announced
// only once its share is whole.
func (w *syntheticWriter) write(ctx context.Context) error {
	b := newBatch(w.client)
	for i, id := range w.ids {
		fields := make([]any, 0, 2*syntheticFields)
		for j := range w.people {
			key, value := syntheticPerson(i, j)
			fields = append(fields, key, value)
			if len(fields) == cap(fields) || j == w.people-1 {
				b.pipe.HSet(ctx, w.keys.share(id), fields...)
				fields = make([]any, 0, 2*syntheticFields)
				if err := b.added(ctx); err != nil {
					return err
				}
			}
			b.pipe.HIncrBy(ctx, w.keys.online(), key, 1)
			if err := b.added(ctx); err != nil {
				return err
			}
		}
	}
	for i := range w.ids {
		b.pipe.Do(ctx, w.setAlive(i)...)
	}
	for i, id := range w.ids {
		b.pipe.HSet(ctx, w.keys.instances(), id, instanceSeq(w.epochs[i], 1))
	}
	return b.flush(ctx)
}

// renew sets every alive key again each refresh interval until ctx ends.
func (w *syntheticWriter) renew(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(w.refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.renewOnce(ctx)
	}
}

// renewOnce sets every alive key once, in one round trip.
func (w *syntheticWriter) renewOnce(ctx context.Context) {
	w.renewing.Lock()
	defer w.renewing.Unlock()
	pipe := w.client.Pipeline()
	var in int64
	for i := range w.ids {
		pipe.Do(ctx, w.setAlive(i)...)
		in += respSize(w.setAlive(i)...)
	}
	_, err := pipe.Exec(ctx)
	// Counted even when the round trip failed: Redis may have run some of
	// it, and a failure is logged beside the figures.
	w.renewCommands.Add(int64(len(w.ids)))
	w.renewInBytes.Add(in)
	w.renewOutBytes.Add(int64(len(w.ids)) * int64(len("+OK\r\n")))
	if err != nil && ctx.Err() == nil {
		if w.renewFailures.Add(1) == 1 {
			w.logf("synthetic: renewing the alive keys: %v (logged once)", err)
		}
	}
}

// setAlive is the command that sets instance i's alive key, with the TTL in
// milliseconds as the protocol has it (go-redis's Set would send whole
// seconds as EX).
func (w *syntheticWriter) setAlive(i int) []any {
	return []any{"set", w.keys.alive(w.ids[i]), w.epochs[i], "px", strconv.FormatInt(w.ttl.Milliseconds(), 10)}
}

// holdRenewals runs fn while no renewal is on its way, so that what fn
// reads of Redis and of the renewal counters agree.
func (w *syntheticWriter) holdRenewals(fn func()) {
	w.renewing.Lock()
	defer w.renewing.Unlock()
	fn()
}

// renewals returns what the renewals have sent so far.
func (w *syntheticWriter) renewals() ownTraffic {
	return ownTraffic{
		Commands: map[string]int64{"set": w.renewCommands.Load()},
		InBytes:  w.renewInBytes.Load(),
		OutBytes: w.renewOutBytes.Load(),
	}
}

// stop ends the renewals and removes everything the writer wrote. Only
// the first call does anything.
func (w *syntheticWriter) stop(ctx context.Context) error {
	w.stopOnce.Do(func() {
		if w.cancel != nil {
			w.cancel()
			<-w.done
		}
		w.stopErr = w.remove(ctx)
	})
	return w.stopErr
}

// remove deletes the writer's instances: their entries first, so that no
// instance is announced without its share, then their alive keys, shares
// and people in online. It touches no other field.
func (w *syntheticWriter) remove(ctx context.Context) error {
	if len(w.ids) == 0 {
		return nil
	}
	b := newBatch(w.client)
	b.pipe.HDel(ctx, w.keys.instances(), w.ids...)
	for _, id := range w.ids {
		b.pipe.Del(ctx, w.keys.alive(id))
		b.pipe.Unlink(ctx, w.keys.share(id))
	}
	for i := range w.ids {
		keys := make([]string, 0, syntheticFields)
		for j := range w.people {
			key, _ := syntheticPerson(i, j)
			keys = append(keys, key)
			if len(keys) == cap(keys) || j == w.people-1 {
				b.pipe.HDel(ctx, w.keys.online(), keys...)
				keys = make([]string, 0, syntheticFields)
				if err := b.added(ctx); err != nil {
					return err
				}
			}
		}
	}
	return b.flush(ctx)
}

// batch sends pipelined commands in round trips of at most syntheticBatch.
type batch struct {
	client *redis.Client
	pipe   redis.Pipeliner
	queued int
}

func newBatch(client *redis.Client) *batch {
	return &batch{client: client, pipe: client.Pipeline()}
}

// added counts one queued command and sends the batch once it is full.
func (b *batch) added(ctx context.Context) error {
	b.queued++
	if b.queued < syntheticBatch {
		return nil
	}
	return b.flush(ctx)
}

func (b *batch) flush(ctx context.Context) error {
	if b.pipe.Len() == 0 {
		return nil
	}
	cmds, err := b.pipe.Exec(ctx)
	b.pipe, b.queued = b.client.Pipeline(), 0
	if err != nil {
		for _, c := range cmds {
			if c.Err() != nil {
				return fmt.Errorf("%s: %w", c.Name(), c.Err())
			}
		}
		return err
	}
	return nil
}
