package handlers_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

// TestConnectDisconnectCyclesLeaveNothingBehind opens and closes 10,000
// live connections and checks that goroutines, presence state and heap
// return to where they started.
func TestConnectDisconnectCyclesLeaveNothingBehind(t *testing.T) {
	const cycles, workers = 10_000, 8
	a := newApp(t)
	url := "ws" + strings.TrimPrefix(a.srv.URL, "http") + "/live/ws"
	cycle := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return err
		}
		if _, _, err := conn.Read(ctx); err != nil { // the snapshot
			return err
		}
		return conn.Close(websocket.StatusGoingAway, "")
	}
	if err := cycle(); err != nil { // warm up pools and lazily started goroutines
		t.Fatal(err)
	}
	waitUntilNobodyOnline(t, a)
	baseline := goleak.IgnoreCurrent()
	heapBefore := heapInUse()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range cycles / workers {
				if err := cycle(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	waitUntilNobodyOnline(t, a)
	goleak.VerifyNone(t, baseline)
	if grew := heapInUse() - heapBefore; grew > 2<<20 {
		t.Errorf("heap grew by %d KiB over %d cycles", grew>>10, cycles)
	}
}

// waitUntilNobodyOnline waits, within a bound, for every grace period to
// pass and the hub to count nobody.
func waitUntilNobodyOnline(t *testing.T, a *app) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.hub.Snapshot().Counts.People != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still online after 10s: %+v", a.hub.Snapshot().Counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
