package users_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"herenow/users"
)

// TestARevocationIsRecordedOnceAndReadInOrder: revoking a token id twice
// keeps its first seq, readers get revocations in seq order from any
// point, and RevokedNow leaves out those whose tokens are refused anyway.
func TestARevocationIsRecordedOnceAndReadInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		if last, err := s.LastRevocation(ctx); err != nil || last != 0 {
			t.Fatalf("LastRevocation on an empty store = %d, %v; want 0", last, err)
		}
		until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		first, err := s.Revoke(ctx, "session-1", until)
		if err != nil {
			t.Fatal(err)
		}
		expired, err := s.Revoke(ctx, "session-expired", time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.Revoke(ctx, "session-1", until.Add(time.Hour))
		if err != nil || again != first {
			t.Errorf("revoking session-1 again = %d, %v; want its first seq %d", again, err, first)
		}
		third, err := s.Revoke(ctx, "session-3", until)
		if err != nil {
			t.Fatal(err)
		}
		if !(first < expired && expired < third) {
			t.Errorf("seqs %d, %d, %d are not in the order of the revocations", first, expired, third)
		}
		if last, err := s.LastRevocation(ctx); err != nil || last != third {
			t.Errorf("LastRevocation = %d, %v; want %d", last, err, third)
		}

		all, err := s.RevocationsSince(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []users.Revocation{{first, "session-1", until}, {expired, "session-expired", time.Time{}}, {third, "session-3", until}}
		if len(all) != len(want) {
			t.Fatalf("RevocationsSince(0) = %+v, want %d revocations", all, len(want))
		}
		for i, r := range all {
			if r.Seq != want[i].Seq || r.JTI != want[i].JTI || (!want[i].Until.IsZero() && !r.Until.Equal(want[i].Until)) {
				t.Errorf("revocation %d = %+v, want %+v", i, r, want[i])
			}
		}
		if next, err := s.RevocationsSince(ctx, first, 1); err != nil || len(next) != 1 || next[0].JTI != "session-expired" {
			t.Errorf("RevocationsSince(first, limit 1) = %+v, %v; want session-expired", next, err)
		}

		now, err := s.RevokedNow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(now) != 2 || now[0].JTI != "session-1" || now[1].JTI != "session-3" || !now[0].Until.Equal(until) {
			t.Errorf("RevokedNow = %+v, want session-1 and session-3 until %v", now, until)
		}
	})
}

// TestRevocationsArePrunedByTheDatabasesClock: pruning keeps a revocation
// whose token is still refused, and one refused anyway for less than an
// hour, and forgets one refused anyway for two hours. PruneRevocations
// takes no time from the caller: the database's clock decides. A pruned
// seq is never handed out again.
func TestRevocationsArePrunedByTheDatabasesClock(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		now := time.Now()
		for jti, until := range map[string]time.Time{
			"still-refused":     now.Add(time.Minute),
			"expired-recently":  now.Add(-30 * time.Minute),
			"expired-long-ago":  now.Add(-2 * time.Hour),
			"expired-long-ago2": now.Add(-3 * time.Hour),
		} {
			if _, err := s.Revoke(ctx, jti, until); err != nil {
				t.Fatal(err)
			}
		}
		last, err := s.LastRevocation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PruneRevocations(ctx); err != nil {
			t.Fatal(err)
		}
		left, err := s.RevocationsSince(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		kept := map[string]bool{}
		for _, r := range left {
			kept[r.JTI] = true
		}
		if len(kept) != 2 || !kept["still-refused"] || !kept["expired-recently"] {
			t.Errorf("after pruning: %+v; want still-refused and expired-recently", left)
		}
		if seq, err := s.Revoke(ctx, "expired-long-ago", now.Add(time.Hour)); err != nil || seq <= last {
			t.Errorf("a revocation after pruning got seq %d, %v; want one after %d", seq, err, last)
		}
	})
}

// TestConcurrentRevocationsOfOneTokenShareOneSeq revokes one token id from
// several goroutines at once, beside others: each gets the same seq, and
// the store holds it once.
func TestConcurrentRevocationsOfOneTokenShareOneSeq(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *users.Store) {
		ctx := context.Background()
		until := time.Now().Add(time.Hour)
		const writers = 8
		seqs := make([]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				if _, errs[i] = s.Revoke(ctx, fmt.Sprintf("other-%d", i), until); errs[i] == nil {
					seqs[i], errs[i] = s.Revoke(ctx, "shared", until)
				}
			})
		}
		wg.Wait()
		for i := range writers {
			if errs[i] != nil || seqs[i] != seqs[0] {
				t.Errorf("writer %d revoked the shared token as %d, %v; writer 0 as %d", i, seqs[i], errs[i], seqs[0])
			}
		}
		all, err := s.RevocationsSince(ctx, 0, 100)
		if err != nil || len(all) != writers+1 {
			t.Errorf("the store holds %d revocations (%v), want %d", len(all), err, writers+1)
		}
	})
}
