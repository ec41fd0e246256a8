package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxQuietWait bounds one wait for the server to go quiet.
const maxQuietWait = time.Minute

// measurement is one run of the coordinator: it drives the workers through
// the phases and fills in the result as it goes, so a run cut short still
// reports what it measured.
type measurement struct {
	cfg     config
	res     *result
	stderr  io.Writer
	workers []*workerLink

	serverBefore procSample
	toolStart    time.Duration
	lastConnect  time.Time // the storm's last handshake
	lobbyMark    counters  // the counters at the last mark, for the lobby's windows
	lobbyMarkAt  time.Time

	synthetic       *syntheticWriter // nil without -synthetic-instances
	syntheticClient *redis.Client
}

func (m *measurement) logf(format string, args ...any) {
	fmt.Fprintf(m.stderr, "loadtest: "+format+"\n", args...)
}

// measure runs the whole measurement within cfg.Timeout and returns the
// result, complete or not.
func measure(ctx context.Context, cfg config, stderr io.Writer) *result {
	start := time.Now()
	m := &measurement{cfg: cfg, res: newResult(cfg), stderr: stderr, toolStart: selfCPU()}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	err := m.phases(ctx)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		m.res.TimedOut = true
		m.logf("timed out after %v; reporting what was measured", cfg.Timeout)
	case ctx.Err() != nil:
		m.res.Error = "interrupted"
		m.logf("interrupted; reporting what was measured")
	case err != nil:
		m.res.Error = err.Error()
		m.logf("%v", err)
	}
	m.finish()
	m.stopSynthetic()
	m.res.ElapsedMS = ms(time.Since(start))
	return m.res
}

func (m *measurement) phases(ctx context.Context) error {
	if err := m.startWorkers(ctx); err != nil {
		return err
	}
	// The lobby viewers are there before the server's first sample: its
	// figures per connection and per join stay the storm's.
	if err := m.openLobby(ctx); err != nil {
		return err
	}
	if m.cfg.PID != 0 {
		s, err := readProc(m.cfg.PID)
		if err != nil {
			return err
		}
		m.serverBefore = s
		m.res.Server = &serverFigures{PID: m.cfg.PID, RSSBeforeKiB: s.RSSKiB}
	}
	if m.cfg.SyntheticInstances > 0 {
		if err := m.startSynthetic(ctx); err != nil {
			return err
		}
	}
	if err := m.storm(ctx); err != nil {
		return err
	}
	if err := m.idle(ctx); err != nil {
		return err
	}
	if m.cfg.Stall > 0 {
		stalled, err := stallClients(ctx, m.cfg, m.cfg.Stall)
		if err != nil {
			return err
		}
		defer closeAll(stalled)
		m.res.Stalled = len(stalled)
		m.logf("stall: %d clients hold still, reading nothing", len(stalled))
	}
	return m.fanout(ctx)
}

func (m *measurement) startWorkers(ctx context.Context) error {
	for range m.cfg.Procs {
		var w *workerLink
		if m.cfg.Procs == 1 {
			w = startInProcess()
		} else {
			var err error
			if w, err = startProcess(m.stderr); err != nil {
				return err
			}
		}
		m.workers = append(m.workers, w)
	}
	_, err := m.callAll(ctx, func(i int) command {
		first := 0
		for j := range i {
			first += share(m.cfg.N, m.cfg.Procs, j)
		}
		init := &workerInit{
			URL: m.cfg.URL, Cookie: m.cfg.Cookie, DialTimeout: m.cfg.DialTimeout,
			N: share(m.cfg.N, m.cfg.Procs, i), First: first, Rooms: m.cfg.Rooms,
			Lobby: share(m.cfg.Lobby, m.cfg.Procs, i), Tick: m.cfg.Tick,
			Inflight: share(m.cfg.Inflight, m.cfg.Procs, i),
		}
		if m.cfg.Procs > 1 { // in this process, run already set it
			init.GoMaxProcs = m.cfg.GoMaxProcs
		}
		if m.cfg.CPUProfile != "" && m.cfg.Procs > 1 {
			init.CPUProfile = fmt.Sprintf("%s.%d", m.cfg.CPUProfile, i+1)
		}
		return command{Op: "init", Init: init}
	})
	return err
}

// openLobby opens the lobby viewers, waits for the server to settle and
// starts their first window.
func (m *measurement) openLobby(ctx context.Context) error {
	if m.cfg.Lobby == 0 {
		return nil
	}
	deadline, _ := ctx.Deadline()
	m.res.Lobby = &lobbyFigures{Viewers: m.cfg.Lobby, TickMS: ms(m.cfg.Tick)}
	m.logf("lobby: opening %d viewers", m.cfg.Lobby)
	reps, err := m.callAll(ctx, func(int) command { return command{Op: "lobby", Deadline: deadline.UnixNano()} })
	if err != nil {
		return err
	}
	for _, r := range reps {
		m.res.Lobby.Connected += r.Storm.Connected
		m.res.Lobby.Failed += r.Storm.Failed
	}
	if m.res.Lobby.Connected == 0 {
		agg, _ := m.status(ctx)
		return fmt.Errorf("lobby: no viewer connected (%d failed): %v", m.res.Lobby.Failed, agg.Errors)
	}
	if _, _, err := m.waitQuiet(ctx, time.Now()); err != nil {
		return fmt.Errorf("after the lobby viewers connected: %w", err)
	}
	_, err = m.mark(ctx)
	return err
}

// mark returns the counters now and starts a new lobby window: the most
// frames per tick start over.
func (m *measurement) mark(ctx context.Context) (counters, error) {
	reps, err := m.callAll(ctx, func(int) command { return command{Op: "mark"} })
	if err != nil {
		return counters{}, err
	}
	agg := merge(reps)
	m.lobbyMark, m.lobbyMarkAt = agg, time.Now()
	return agg, nil
}

// lobbyWindow ends the lobby window begun at the last mark and returns
// what the viewers received in it, the rates over began to ended (the
// marks' own times when zero).
func (m *measurement) lobbyWindow(ctx context.Context, began, ended time.Time) (lobbyWindow, error) {
	before, markedAt := m.lobbyMark, m.lobbyMarkAt
	agg, err := m.mark(ctx)
	if err != nil {
		return lobbyWindow{}, err
	}
	if began.IsZero() {
		began = markedAt
	}
	if ended.IsZero() {
		ended = m.lobbyMarkAt
	}
	w := lobbyWindow{WindowMS: ms(ended.Sub(began)), Frames: agg.Lobby.Frames - before.Lobby.Frames,
		MaxPerTick: agg.Lobby.MaxPerTick, MaxPerHalfTick: agg.Lobby.MaxPerHalfTick}
	if viewers := m.res.Lobby.Connected; viewers > 0 {
		w.FramesPerViewer = float64(w.Frames) / float64(viewers)
	}
	if w.WindowMS > 0 {
		w.FramesPerViewerPerS = w.FramesPerViewer / (w.WindowMS / 1000)
		w.FramesPerViewerPerTick = w.FramesPerViewerPerS * m.cfg.Tick.Seconds()
	}
	return w, nil
}

// storm opens every client and waits for the server to settle.
func (m *measurement) storm(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	m.logf("storm: opening %d %s clients, %d handshakes in flight, %d process(es)", m.cfg.N, m.cfg.transport(), m.cfg.Inflight, m.cfg.Procs)
	reps, err := m.callAll(ctx, func(int) command { return command{Op: "storm", Deadline: deadline.UnixNano()} })
	if err != nil {
		return err
	}
	var first, last int64 = math.MaxInt64, 0
	var handshakes []float64
	for _, r := range reps {
		handshakes = append(handshakes, r.Storm.HandshakesMS...)
		first = min(first, r.Storm.FirstDial)
		last = max(last, r.Storm.LastConnected)
		m.res.Connected += r.Storm.Connected
		m.res.FailedHandshakes += r.Storm.Failed
	}
	if m.res.Connected == 0 {
		agg, _ := m.status(ctx)
		return fmt.Errorf("storm: no client connected (%d failed): %v", m.res.FailedHandshakes, agg.Errors)
	}
	m.lastConnect = time.Unix(0, last)
	m.res.StormMS = ms(time.Duration(last - first))
	m.res.StormHandshake = summarize(handshakes)
	m.logf("storm: %d connected in %.0f ms, %d failed", m.res.Connected, m.res.StormMS, m.res.FailedHandshakes)

	agg, quietAt, err := m.waitQuiet(ctx, time.Unix(0, last))
	if err != nil {
		return fmt.Errorf("after the storm: %w", err)
	}
	m.res.StormSettleMS = ms(quietAt.Sub(time.Unix(0, last)))
	m.res.StormFramesPerClient = float64(agg.Frames) / float64(m.res.Connected)
	m.res.StormBytesPerClient = float64(agg.Bytes) / float64(m.res.Connected)
	if m.res.Rooms != nil {
		m.res.Rooms.ProbeRoomClients = int(agg.Targets)
		m.res.Rooms.Other.Clients = int(agg.Alive - agg.Targets)
	}
	if m.res.Lobby != nil {
		// The rates are over the storm's first dial until it settled (the
		// mark comes a quiet later: nothing came meanwhile).
		w, err := m.lobbyWindow(ctx, time.Unix(0, first), quietAt)
		if err != nil {
			return err
		}
		m.res.Lobby.Storm = w
		m.logf("lobby: during the storm %.1f frames per viewer, %.1f per second, at most %d within %v (%d within half of it)",
			w.FramesPerViewer, w.FramesPerViewerPerS, w.MaxPerTick, m.cfg.Tick, w.MaxPerHalfTick)
	}
	m.res.Tool.RSSFullKiB = m.toolRSS(agg)
	m.res.Tool.RSSPerClientKiB = float64(m.res.Tool.RSSFullKiB) / float64(m.res.Connected)
	if m.res.Server != nil {
		s, err := readProc(m.cfg.PID)
		if err != nil {
			return err
		}
		sv := m.res.Server
		sv.RSSFullKiB = s.RSSKiB
		sv.RSSPerConnKiB = float64(s.RSSKiB-m.serverBefore.RSSKiB) / float64(m.res.Connected)
		sv.CPUStormMS = ms(s.CPU - m.serverBefore.CPU)
		sv.CPUPerJoinUS = float64((s.CPU - m.serverBefore.CPU).Microseconds()) / float64(m.res.Connected)
	}
	m.logf("storm: last frame %.0f ms after the last connect; %.1f frames, %.0f bytes per client", m.res.StormSettleMS, m.res.StormFramesPerClient, m.res.StormBytesPerClient)
	return nil
}

// fanout measures isolated arrivals: a probe connects at t0 and the
// latency is until every held client has received a frame after t0.
func (m *measurement) fanout(ctx context.Context) error {
	var serverCPU0 time.Duration
	if m.res.Server != nil {
		s, err := readProc(m.cfg.PID)
		if err != nil {
			return err
		}
		serverCPU0 = s.CPU
	}
	agg, err := m.mark(ctx)
	if err != nil {
		return err
	}
	toolCPU0 := m.toolCPU(agg)
	done := 0
	defer func() {
		if done == 0 {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // ctx may be over
		defer cancel()
		if m.res.Lobby != nil {
			if w, err := m.lobbyWindow(sctx, time.Time{}, time.Time{}); err == nil {
				w.FramesPerViewerPerArrival = w.FramesPerViewer / float64(done)
				m.res.Lobby.Arrivals = w
			}
		}
		if agg, err := m.status(sctx); err == nil {
			m.res.Tool.CPUFanoutMS = ms(m.toolCPU(agg) - toolCPU0)
			m.res.Tool.CPUPerArrivalMS = m.res.Tool.CPUFanoutMS / float64(done)
		}
		if m.res.Server != nil {
			if s, err := readProc(m.cfg.PID); err == nil {
				m.res.Server.CPUFanoutMS = ms(s.CPU - serverCPU0)
				m.res.Server.CPUPerArrivalMS = m.res.Server.CPUFanoutMS / float64(done)
			}
		}
		m.res.Arrivals = done
	}()

	var latencies, firsts, connects []float64
	before := agg.Other // what the other rooms' clients had received before this arrival
	for r := 1; r <= m.cfg.Repeats; r++ {
		lat, first, connect, err := m.arrival(ctx, uint32(r))
		done = r
		switch {
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			m.res.ProbeFailures++
			m.logf("arrival %d/%d: %v", r, m.cfg.Repeats, err)
		case lat < 0:
			m.res.FanoutIncomplete++
			m.logf("arrival %d/%d: not every client received it within %v", r, m.cfg.Repeats, m.cfg.FanoutWait)
		default:
			latencies, firsts, connects = append(latencies, lat), append(firsts, first), append(connects, connect)
			m.res.FanoutSamplesMS = latencies
			m.res.Fanout, m.res.FanoutFirst, m.res.ProbeConnect = summarize(latencies), summarize(firsts), summarize(connects)
		}
		if err := sleep(ctx, m.cfg.Settle); err != nil {
			return err
		}
		after, _, err := m.waitQuiet(ctx, time.Now())
		if err != nil {
			return fmt.Errorf("after arrival %d: %w", r, err)
		}
		if m.res.Rooms != nil {
			m.res.Rooms.Other.add(after.Other.minus(before))
			before = after.Other
		}
	}
	f := m.res.Fanout
	where := ""
	if rm := m.res.Rooms; rm != nil {
		where = fmt.Sprintf(" within %s (%d clients)", rm.ProbeRoom, rm.ProbeRoomClients)
	}
	m.logf("fan-out%s over %d arrivals: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms", where, f.N, f.P50, f.P95, f.P99, f.Max)
	if rm := m.res.Rooms; rm != nil {
		m.logf("other rooms: %s", rm.Other.summary())
	}
	return nil
}

// arrival runs one probe round and returns, in milliseconds, the time to
// the last and the first held client, and the probe's handshake; a
// negative latency if some alive client did not receive a frame in time.
func (m *measurement) arrival(ctx context.Context, seq uint32) (last, first, connect float64, err error) {
	if _, err := m.callAll(ctx, func(int) command { return command{Op: "arm", Seq: seq} }); err != nil {
		return 0, 0, 0, err
	}
	probe := newFleet(m.cfg.transport(), m.cfg.probeURL(), m.cfg.Cookie, m.cfg.DialTimeout)
	defer probe.closeAll(closeTimeout)
	t0 := time.Now()
	ps := probe.storm(ctx, 1, 1)
	connect = ms(time.Since(t0))
	if ps.Connected == 0 {
		return 0, 0, 0, fmt.Errorf("probe handshake failed: %v", probe.counters().Errors)
	}
	deadline := t0.Add(m.cfg.FanoutWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	reps, err := m.callAll(ctx, func(int) command { return command{Op: "reach", Deadline: deadline.UnixNano()} })
	if err != nil {
		return 0, 0, 0, err
	}
	var firstAt, lastAt int64 = math.MaxInt64, 0
	complete := true
	for _, r := range reps {
		complete = complete && r.Reach.Reached >= r.Reach.Alive
		if r.Reach.First != 0 {
			firstAt = min(firstAt, r.Reach.First)
		}
		lastAt = max(lastAt, r.Reach.Last)
	}
	if !complete {
		return -1, 0, connect, nil
	}
	return ms(time.Duration(lastAt - t0.UnixNano())), ms(time.Duration(firstAt - t0.UnixNano())), connect, nil
}

// waitQuiet waits until no client has received a frame for cfg.Quiet,
// counting from since at the earliest, and returns the counters then and
// when the quiet began.
func (m *measurement) waitQuiet(ctx context.Context, since time.Time) (counters, time.Time, error) {
	return m.waitQuietFor(ctx, since, m.cfg.Quiet)
}

// waitQuietFor is waitQuiet for a quiet of its own.
func (m *measurement) waitQuietFor(ctx context.Context, since time.Time, quiet time.Duration) (counters, time.Time, error) {
	giveUp := time.Now().Add(maxQuietWait)
	for {
		agg, err := m.status(ctx)
		if err != nil {
			return agg, time.Time{}, err
		}
		quietFrom := time.Unix(0, max(agg.LastFrame, since.UnixNano()))
		left := quiet - time.Since(quietFrom)
		if left <= 0 {
			return agg, quietFrom, nil
		}
		if time.Now().After(giveUp) {
			return agg, time.Time{}, fmt.Errorf("frames kept coming for %v: never quiet for %v", maxQuietWait, quiet)
		}
		if err := sleep(ctx, left); err != nil {
			return agg, time.Time{}, err
		}
	}
}

// finish closes every client, stops the workers and takes the last
// samples. It runs even after the timeout, on its own bounded time.
func (m *measurement) finish() {
	if len(m.workers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout+5*time.Second)
	defer cancel()
	for _, w := range m.workers {
		w.send(command{Op: "cancel"}) // a storm cut short stops dialing
	}
	if m.res.Connected == 0 { // the storm was cut short: count who made it
		if agg, err := m.status(ctx); err == nil {
			m.res.Connected = int(agg.Alive)
		}
	}
	reps, err := m.callAll(ctx, func(int) command { return command{Op: "close"} })
	if err == nil {
		m.addCounters(merge(reps))
	} else {
		m.logf("closing clients: %v", err)
	}
	var workerCPU time.Duration
	for _, w := range m.workers {
		workerCPU += w.stop(closeTimeout)
	}
	m.res.Tool.CPUMS = ms(selfCPU() - m.toolStart + workerCPU)
	if m.res.Server == nil {
		return
	}
	time.Sleep(time.Second) // let the server finish its side of the closes
	if s, err := readProc(m.cfg.PID); err == nil {
		m.res.Server.RSSAfterKiB = s.RSSKiB
		m.res.Server.CPUTotalMS = ms(s.CPU - m.serverBefore.CPU)
	}
}

// addCounters records the final tallies over the whole run.
func (m *measurement) addCounters(agg counters) {
	m.res.FailedHandshakes = max(m.res.FailedHandshakes, agg.Failed) // a storm cut short never replied
	m.res.ReadErrors = agg.ReadErrors
	m.res.Drops = agg.Drops
	for _, n := range agg.Drops {
		m.res.DropsTotal += n
	}
	m.res.ErrorSamples = agg.Errors
	if m.res.Connected > 0 {
		m.res.FramesPerClient = float64(agg.Frames) / float64(m.res.Connected)
		m.res.BytesPerClient = float64(agg.Bytes) / float64(m.res.Connected)
	}
}

// status returns every worker's counters, merged.
func (m *measurement) status(ctx context.Context) (counters, error) {
	reps, err := m.callAll(ctx, func(int) command { return command{Op: "status"} })
	if err != nil {
		return counters{}, err
	}
	return merge(reps), nil
}

// toolCPU is the CPU all of this tool's processes have used so far.
func (m *measurement) toolCPU(agg counters) time.Duration {
	if m.cfg.Procs == 1 {
		return selfCPU() // the worker is this process
	}
	return selfCPU() + agg.CPU
}

func (m *measurement) toolRSS(agg counters) int64 {
	if m.cfg.Procs == 1 {
		return selfRSSKiB()
	}
	return selfRSSKiB() + agg.RSSKiB
}

// callAll sends every worker its command, then waits for every reply.
func (m *measurement) callAll(ctx context.Context, cmd func(i int) command) ([]reply, error) {
	ids := make([]int64, len(m.workers))
	for i, w := range m.workers {
		id, err := w.send(cmd(i))
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	reps := make([]reply, len(m.workers))
	for i, w := range m.workers {
		rep, err := w.await(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		reps[i] = rep
	}
	return reps, nil
}

// merge adds up the counters in replies.
func merge(reps []reply) counters {
	agg := counters{Drops: map[string]int{}}
	for _, r := range reps {
		c := r.Counters
		if c == nil {
			continue
		}
		agg.Alive += c.Alive
		agg.Targets += c.Targets
		agg.Frames += c.Frames
		agg.Bytes += c.Bytes
		agg.Other.Frames += c.Other.Frames
		agg.Other.Bytes += c.Other.Bytes
		agg.Lobby.Alive += c.Lobby.Alive
		agg.Lobby.Frames += c.Lobby.Frames
		agg.Lobby.Bytes += c.Lobby.Bytes
		agg.Lobby.Failed += c.Lobby.Failed
		agg.Lobby.MaxPerTick = max(agg.Lobby.MaxPerTick, c.Lobby.MaxPerTick)
		agg.Lobby.MaxPerHalfTick = max(agg.Lobby.MaxPerHalfTick, c.Lobby.MaxPerHalfTick)
		agg.LastFrame = max(agg.LastFrame, c.LastFrame)
		agg.Failed += c.Failed
		agg.ReadErrors += c.ReadErrors
		agg.CPU += c.CPU
		agg.RSSKiB += c.RSSKiB
		for k, v := range maps.All(c.Drops) {
			agg.Drops[k] += v
		}
		for _, e := range c.Errors {
			if len(agg.Errors) < maxErrorSamples && !slices.Contains(agg.Errors, e) {
				agg.Errors = append(agg.Errors, e)
			}
		}
	}
	return agg
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
