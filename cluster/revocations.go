package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Logouts are shared so that a session ended on one instance ends on all:
// its token is refused everywhere, and its live connections close wherever
// they are. Each revoked token id sits in a sorted set scored by the time
// until which it must be refused (the token's expiry), and is announced on
// a channel for speed. Every heartbeat re-reads the set, so an announcement
// lost while an instance reconnected to Redis still arrives; a revocation
// this instance could not write while Redis was away is written on its
// return.

// revocation is a session token to refuse until a time.
type revocation struct {
	JTI   string    `json:"jti"`
	Until time.Time `json:"until"`
}

func (r *Redis) revokedKey() string     { return r.opt.Prefix + "revoked" }
func (r *Redis) revokedChannel() string { return r.opt.Prefix + "revoked-now" }

// Revoked takes a session token that this instance revoked at logout, to
// be refused by every instance until until. It never blocks.
func (r *Redis) Revoked(jti string, until time.Time) {
	r.mu.Lock()
	r.unshared[jti] = until
	r.seen[jti] = until // it ended here already
	r.mu.Unlock()
	select {
	case r.revokedHere <- struct{}{}:
	default:
	}
}

// OnRevoked sets the func that ends on this instance a session that another
// instance revoked. Set it before Run.
func (r *Redis) OnRevoked(end func(jti string, until time.Time)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endSession = end
}

// shareRevocations writes the revocations not yet shared, and announces
// them. Those that fail stay for the next try.
func (r *Redis) shareRevocations(ctx context.Context) error {
	r.mu.Lock()
	pending := make([]revocation, 0, len(r.unshared))
	for jti, until := range r.unshared {
		pending = append(pending, revocation{JTI: jti, Until: until})
	}
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, rv := range pending {
			announce, err := json.Marshal(rv)
			if err != nil {
				return fmt.Errorf("encode revocation: %w", err)
			}
			p.ZAdd(ctx, r.revokedKey(), redis.Z{Score: float64(rv.Until.UnixMilli()), Member: rv.JTI})
			p.Publish(ctx, r.revokedChannel(), announce)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("share revocations: %w", err)
	}
	r.mu.Lock()
	for _, rv := range pending {
		if r.unshared[rv.JTI] == rv.Until {
			delete(r.unshared, rv.JTI)
		}
	}
	r.mu.Unlock()
	return nil
}

// readRevocations drops the revocations that no longer matter from the
// shared set and applies the rest.
func (r *Redis) readRevocations(ctx context.Context) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var current *redis.ZSliceCmd
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, r.revokedKey(), "-inf", "("+now)
		current = p.ZRangeByScoreWithScores(ctx, r.revokedKey(), &redis.ZRangeBy{Min: now, Max: "+inf"})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read revocations: %w", err)
	}
	r.forgetStaleRevocations()
	for _, z := range current.Val() {
		jti, ok := z.Member.(string)
		if !ok {
			continue
		}
		r.applyRevocation(revocation{JTI: jti, Until: time.UnixMilli(int64(z.Score))})
	}
	return nil
}

// forgetStaleRevocations drops the applied revocations whose tokens are
// refused by verification anyway; once per heartbeat is enough.
func (r *Redis) forgetStaleRevocations() {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for jti, until := range r.seen {
		if now.After(until) {
			delete(r.seen, jti)
		}
	}
}

// applyRevocation ends a session that another instance revoked, once.
func (r *Redis) applyRevocation(rv revocation) {
	now := time.Now()
	r.mu.Lock()
	_, done := r.seen[rv.JTI]
	end := r.endSession
	if !done && now.Before(rv.Until) {
		r.seen[rv.JTI] = rv.Until
	} else {
		end = nil
	}
	r.mu.Unlock()
	if end != nil {
		end(rv.JTI, rv.Until)
	}
}

// revocationMessage applies an announced revocation.
func (r *Redis) revocationMessage(payload string) {
	var rv revocation
	if err := json.Unmarshal([]byte(payload), &rv); err != nil || rv.JTI == "" {
		r.logger.Warn("ignored a malformed revocation announcement", "err", err)
		return
	}
	r.applyRevocation(rv)
}
