package main

// The cluster's fault tests (docs/design/cluster-v2.md, "Layers" item 1):
// each fault of the issue "Several instances, version 2" as real instances
// meet it, judged only by what they show (pages, /readyz, WebSocket frames).
// Durations follow the program's own: heartbeat H = 2 s, expiry TTL = 10 s.
// Helpers are in cluster_faults_helpers_test.go.

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"herenow/internal/cutproxy"
)

// TestStartingWhileRedisIsDownKeepsEntriesAndNumbering: B logs four
// entries; Redis stops; A starts while it is down and logs two arrivals
// (ann's and abe's); Redis comes back with its data (it was only away: an
// append-only file, fsync'd on every write, reloaded). Once A and B see
// each other, A still shows both arrivals, numbered above B's entries (no
// numbering restarted), no entry id means two things on A and B, and B
// still shows its four entries as they were.
func TestStartingWhileRedisIsDownKeepsEntriesAndNumbering(t *testing.T) {
	t.Parallel()
	began := time.Now()
	defer func() { t.Logf("took %v", time.Since(began).Round(100*time.Millisecond)) }()
	redis := startPrivateRedis(t, true)
	env := clusterEnv(redis.url(), map[string]string{"HERENOW_DATABASE": t.TempDir() + "/users.db"})
	addUsers(t, env, "ann", "abe")
	b := startInstance(t, getenvOf(env))

	// Two guests come and go on B, one at a time: four entries.
	for range 2 {
		before := len(mustView(t, b).Log)
		guest := connectLive(t, b, nil)
		if len(waitFor(5*time.Second, logGrows(b, 1, before))) > 0 {
			t.Fatalf("B did not log a guest's arrival: %v", mustView(t, b).Log)
		}
		before = len(mustView(t, b).Log)
		guest.leave()
		if len(waitFor(5*time.Second, logGrows(b, 0, before))) > 0 {
			t.Fatalf("B did not log a guest's departure: %v", mustView(t, b).Log)
		}
	}
	bBefore := mustView(t, b).Log
	highestOfB := slices.MaxFunc(bBefore, func(x, y logEntry) int { return cmp.Compare(x.ID, y.ID) }).ID

	redis.stop()
	eventually(t, "B to report not ready without Redis", 3*clusterTTL, readyIs(b, http.StatusServiceUnavailable))
	a := launchInstance(t, env) // Redis is down
	for _, name := range []string{"ann", "abe"} {
		connectLive(t, a, loginCookies(t, a, name, name+"'s password"))
		if !eventually(t, "A, started while Redis was down, to log "+name+"'s arrival", 10*time.Second, func() []string {
			v, err := viewOf(a)
			if err != nil {
				return viewProblem("A", err)
			}
			if countEntries(v.Log, name+" came online") != 1 {
				return []string{fmt.Sprintf("A's log: %v", v.Log)}
			}
			return nil
		}) {
			t.FailNow()
		}
	}
	aBefore := mustView(t, a).Log
	var arrivals []string // the texts of ann's and abe's arrivals on A
	for _, e := range aBefore {
		if strings.Contains(e.Text, "came online") {
			arrivals = append(arrivals, e.Text)
		}
	}

	redis.start() // same port, same data
	eventually(t, "A and B to be ready and to see each other's people", 30*time.Second, func() []string {
		var problems []string
		for name, addr := range map[string]string{"A": a, "B": b} {
			if status, err := readyStatus(addr); status != http.StatusOK {
				problems = append(problems, fmt.Sprintf("%s's /readyz: %d %v", name, status, err))
			}
		}
		if v, err := viewOf(b); err != nil || !slices.Contains(v.Users, "ann") || !slices.Contains(v.Users, "abe") {
			problems = append(problems, fmt.Sprintf("B lists online %v (%v), want ann and abe", v.Users, err))
		}
		return problems
	})
	eventually(t, "A and B to keep every entry, no id meaning two things", 15*time.Second, func() []string {
		va, err := viewOf(a)
		if err != nil {
			return viewProblem("A", err)
		}
		vb, err := viewOf(b)
		if err != nil {
			return viewProblem("B", err)
		}
		problems := forkedIDs(map[string][]logEntry{"A": va.Log, "B": vb.Log})
		for _, text := range arrivals {
			var shown []logEntry
			for _, e := range va.Log {
				if e.Text == text {
					shown = append(shown, e)
				}
			}
			switch {
			case len(shown) != 1:
				problems = append(problems, fmt.Sprintf("A shows %q %d times, want once; A's log: %v", text, len(shown), va.Log))
			case shown[0].ID <= highestOfB:
				problems = append(problems, fmt.Sprintf("A numbers %q a-%d, not above B's a-%d: its numbering restarted", text, shown[0].ID, highestOfB))
			}
		}
		if missing := missingFrom(vb.Log, bBefore); len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("B dropped or renumbered %v; B's log: %v", missing, vb.Log))
		}
		return problems
	})
}

// TestAPartitionedInstanceForksNoIDAndLosesNoEntry: three instances, A's
// link to Redis through a proxy that is cut for 15 s (a silent partition:
// nothing refused, nothing answered), while guests arrive on A and on B.
// A reports not ready within one TTL of the cut. Once healed, no entry id
// means two things anywhere, and the three pages show the same entries
// (design section 3: A's entries made while cut off are renumbered and
// shared on heal).
func TestAPartitionedInstanceForksNoIDAndLosesNoEntry(t *testing.T) {
	t.Parallel()
	began := time.Now()
	defer func() { t.Logf("took %v", time.Since(began).Round(100*time.Millisecond)) }()
	proxy, err := cutproxy.New(strings.TrimSuffix(strings.TrimPrefix(testRedisURL, "redis://"), "/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() }) // after the instances have stopped
	envBC := clusterEnv(testRedisURL, nil)
	envA := clusterEnv("redis://"+proxy.Addr()+"/0", map[string]string{"HERENOW_CLUSTER_NAME": envBC["HERENOW_CLUSTER_NAME"]})
	a := startInstance(t, getenvOf(envA)) // first, to be the log writer where there is one
	b, c := startInstance(t, getenvOf(envBC)), startInstance(t, getenvOf(envBC))
	instances := map[string]string{"A": a, "B": b, "C": c}

	connectLive(t, c, nil) // a guest on C, seen by all three: linked
	if !eventually(t, "all three to count the guest on C", 15*time.Second, func() []string {
		var problems []string
		for name, addr := range instances {
			if v, err := viewOf(addr); err != nil || v.People != 1 || len(v.Log) != 1 {
				problems = append(problems, fmt.Sprintf("%s: %+v %v", name, v, err))
			}
		}
		return problems
	}) {
		t.FailNow()
	}

	proxy.Cut()
	cut := time.Now()
	var notReadyAfter time.Duration // how long after the cut A's /readyz first answered 503
	nextArrival := cut.Add(time.Second)
	for arrivals := 0; time.Since(cut) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
		if notReadyAfter == 0 {
			if status, _ := readyStatus(a); status == http.StatusServiceUnavailable {
				notReadyAfter = time.Since(cut)
			}
		}
		if arrivals < 5 && time.Now().After(nextArrival) { // a guest on A and one on B every 3 s
			connectLive(t, a, nil)
			connectLive(t, b, nil)
			arrivals++
			nextArrival = nextArrival.Add(3 * time.Second)
		}
	}
	switch {
	case notReadyAfter == 0:
		t.Errorf("A's /readyz answered 200 throughout the %v of the partition, want 503 within %v", time.Since(cut).Round(time.Second), clusterTTL)
	case notReadyAfter > clusterTTL:
		t.Errorf("A's /readyz answered 503 only %v after the cut, want within %v", notReadyAfter, clusterTTL)
	default:
		t.Logf("A answered not ready %v after the cut", notReadyAfter.Round(10*time.Millisecond))
	}

	proxy.Heal()
	eventually(t, "A to be ready again after the heal", 3*clusterTTL, readyIs(a, http.StatusOK))
	eventually(t, "the three logs to agree", 15*time.Second, func() []string {
		logs := map[string][]logEntry{}
		for name, addr := range instances {
			v, err := viewOf(addr)
			if err != nil {
				return viewProblem(name, err)
			}
			logs[name] = v.Log
		}
		problems := forkedIDs(logs)
		for _, pair := range [][2]string{{"A", "B"}, {"A", "C"}, {"B", "C"}} {
			if missing := missingFrom(logs[pair[1]], logs[pair[0]]); len(missing) > 0 {
				problems = append(problems, fmt.Sprintf("%s shows %v, %s does not", pair[0], missing, pair[1]))
			}
			if missing := missingFrom(logs[pair[0]], logs[pair[1]]); len(missing) > 0 {
				problems = append(problems, fmt.Sprintf("%s shows %v, %s does not", pair[1], missing, pair[0]))
			}
		}
		return problems
	})
	// Every guest's arrival is logged once: the one on C before the cut,
	// and the five on A (logged there while cut off, shared on the heal)
	// and five on B during it.
	for name, addr := range instances {
		if v, err := viewOf(addr); err != nil || guestsArrived(v.Log) != 11 {
			t.Errorf("%s logs %d guests' arrivals (%v), want 11: %v", name, guestsArrived(v.Log), err, v.Log)
		}
	}
}

// guestsArrived adds up the guests a log says came online.
func guestsArrived(log []logEntry) int {
	n := 0
	for _, e := range log {
		text, _, _ := strings.Cut(e.Text, " · ")
		if !strings.HasSuffix(text, "came online") {
			continue
		}
		var guests int
		switch {
		case strings.HasPrefix(text, "a guest "):
			n++
		case strings.Contains(text, " guests came online"):
			fields := strings.Fields(text)
			for i, f := range fields {
				if f == "guests" && i > 0 {
					fmt.Sscanf(fields[i-1], "%d", &guests)
				}
			}
			n += guests
		}
	}
	return n
}

// TestARedisRestartedEmptyLogsNobodyAndForgetsNoLogout: two instances with
// people on both (bob signed in and a guest on A, a guest on B); alice
// signs in on B and logs out. Redis is killed and started again empty. For
// two TTLs nobody is logged coming or going, on either page or in any
// frame; then a third instance refuses alice's old cookie.
func TestARedisRestartedEmptyLogsNobodyAndForgetsNoLogout(t *testing.T) {
	t.Parallel()
	began := time.Now()
	defer func() { t.Logf("took %v", time.Since(began).Round(100*time.Millisecond)) }()
	redis := startPrivateRedis(t, false)
	env := clusterEnv(redis.url(), map[string]string{"HERENOW_DATABASE": t.TempDir() + "/users.db"})
	addUsers(t, env, "alice", "bob")
	a, b := startInstance(t, getenvOf(env)), startInstance(t, getenvOf(env))
	instances := map[string]string{"A": a, "B": b}

	connectLive(t, a, loginCookies(t, a, "bob", "bob's password"))
	watchA := connectLive(t, a, nil) // the guests, whose frames are watched
	watchB := connectLive(t, b, nil)
	alice := loginCookies(t, b, "alice", "alice's password")
	aliceLive := connectLive(t, b, alice)
	if !eventually(t, "A and B to show bob, two guests and alice", 15*time.Second, peopleOnEach(instances, 4)) {
		t.FailNow()
	}
	logout(t, context.Background(), b, alice)
	aliceLive.waitEnd(t, 10*time.Second) // the logout ends her WebSocket
	eventually(t, "A and B to refuse alice's cookie after her logout", 10*time.Second, func() []string {
		var problems []string
		for name, addr := range instances {
			if signsIn(t, addr, alice) {
				problems = append(problems, "alice's old cookie still signs her in on "+name)
			}
		}
		return problems
	})
	// Settled: both show the same log, ending with alice's departure.
	var settled []logEntry
	if !eventually(t, "A and B to log alice's departure alike", 15*time.Second, func() []string {
		va, err := viewOf(a)
		if err != nil {
			return viewProblem("A", err)
		}
		vb, err := viewOf(b)
		if err != nil {
			return viewProblem("B", err)
		}
		if va.People != 3 || vb.People != 3 || countEntries(va.Log, "alice", "went offline") != 1 ||
			len(missingFrom(va.Log, vb.Log)) > 0 || len(missingFrom(vb.Log, va.Log)) > 0 {
			return []string{fmt.Sprintf("A: %+v", va), fmt.Sprintf("B: %+v", vb)}
		}
		settled = va.Log
		return nil
	}) {
		t.FailNow()
	}
	drain(watchA.frames)
	drain(watchB.frames)

	redis.kill()
	redis.start() // empty
	restarted := time.Now()
	reported := map[string]bool{}
	for time.Since(restarted) < 2*clusterTTL {
		for name, addr := range instances {
			v, err := viewOf(addr)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, e := range v.Log {
				if !slices.Contains(settled, e) && !reported[name+e.String()] {
					reported[name+e.String()] = true
					t.Errorf("%s logged %v %v after Redis restarted", name, e, time.Since(restarted).Round(100*time.Millisecond))
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	for name, watch := range map[string]*liveClient{"A": watchA, "B": watchB} {
		for _, f := range drain(watch.frames) {
			if strings.Contains(f, "came online") || strings.Contains(f, "went offline") {
				t.Errorf("a guest on %s was sent an entry after Redis restarted:\n%s", name, f)
			}
		}
	}

	c := startInstance(t, getenvOf(env))
	if signsIn(t, c, alice) {
		t.Error("C, started after Redis restarted empty, takes alice's logged-out cookie for alice (GET /)")
	}
	// Her old cookie on C's live WebSocket: refused, or let in as a guest.
	// She would be one more person, listed by name if let in as alice.
	if !eventually(t, "C to count bob and the two guests", 15*time.Second, peopleOnEach(map[string]string{"C": c}, 3)) {
		return
	}
	if _, err := openLive(t, c, alice); err == nil { // else refused: not alice
		eventually(t, "C to count the connection of alice's old cookie", 10*time.Second, peopleOnEach(map[string]string{"C": c}, 4))
		if v := mustView(t, c); slices.Contains(v.Users, "alice") {
			t.Errorf("C, started after Redis restarted empty, lets alice's logged-out cookie in as alice (WebSocket): it lists %v online", v.Users)
		}
	}
}

// TestAPausedInstanceMissesNoArrivalElsewhere: two real processes, bob
// signed in on A (started first: the log writer where there is one). A is
// stopped (SIGSTOP) for 15 s, more than a TTL; during the pause a guest,
// the only guest of the test, arrives on B and stays. Once A runs again,
// each instance shows that arrival exactly once.
func TestAPausedInstanceMissesNoArrivalElsewhere(t *testing.T) {
	t.Parallel()
	began := time.Now()
	defer func() { t.Logf("took %v", time.Since(began).Round(100*time.Millisecond)) }()
	bin := buildHerenow(t)
	env := clusterEnv(testRedisURL, map[string]string{"HERENOW_DATABASE": t.TempDir() + "/users.db"})
	addUsers(t, env, "bob")
	a, paused := startBinary(t, bin, env)
	b, _ := startBinary(t, bin, env)
	instances := map[string]string{"A": a, "B": b}
	connectLive(t, a, loginCookies(t, a, "bob", "bob's password"))
	if !eventually(t, "A and B to show bob", 15*time.Second, peopleOnEach(instances, 1)) {
		t.FailNow()
	}

	if err := syscall.Kill(paused.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Cleanup(func() { syscall.Kill(paused.Pid, syscall.SIGCONT) })
	time.Sleep(2 * time.Second) // well inside the pause
	connectLive(t, b, nil)
	time.Sleep(15*time.Second - time.Since(stopped))
	if err := syscall.Kill(paused.Pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	guestArrivals := func() []string {
		var problems []string
		for _, name := range []string{"A", "B"} {
			v, err := viewOf(instances[name])
			if err != nil {
				return viewProblem(name, err)
			}
			if n := countEntries(v.Log, "guest", "came online"); n != 1 {
				problems = append(problems, fmt.Sprintf("%s shows the guest's arrival %d times, want once; its log: %v", name, n, v.Log))
			}
		}
		return problems
	}
	if eventually(t, "each instance to show the guest's arrival once", 2*clusterTTL, guestArrivals) {
		// Still once a little later: no second copy on its way.
		time.Sleep(2 * clusterHeartbeat)
		for _, p := range guestArrivals() {
			t.Error(p)
		}
	}
}
