package main

import (
	"context"
	"fmt"
	"time"
)

const (
	// idleSettleMin (-idle-settle's default) and idleQuiet decide when the
	// idle window may begin: at least that long after the last client connected, and once no
	// client received a frame for idleQuiet (or -quiet if longer), so that
	// the servers finished telling each other about the storm.
	idleSettleMin = 3 * time.Second
	idleQuiet     = time.Second
	// synthStopTimeout bounds removing the synthetic instances at the end.
	synthStopTimeout = time.Minute
)

// idleFigures describe the idle window: every client connected, the tool
// holding still (it dials, closes and sends nothing; only the synthetic
// instances' alive keys are renewed), what the servers and Redis spent.
type idleFigures struct {
	WindowMS float64       `json:"window_ms"`
	SettleMS float64       `json:"settle_ms"` // the last connect until the window began
	Frames   int64         `json:"frames"`    // frames the clients (lobby viewers included) received during it; 0 when truly idle
	Server   *idleCPU      `json:"server,omitempty"`
	Redis    *redisFigures `json:"redis,omitempty"`
}

// idleCPU is the -pid server's CPU over the window.
type idleCPU struct {
	CPUMS          float64 `json:"cpu_ms"`
	CPUCorePercent float64 `json:"cpu_core_percent"` // of one core
}

// startSynthetic writes the synthetic instances and keeps them alive.
func (m *measurement) startSynthetic(ctx context.Context) error {
	client, err := newRedisClient("-redis-url", m.cfg.RedisURL)
	if err != nil {
		return err
	}
	w, err := newSyntheticWriter(client, m.cfg.ClusterName, m.cfg.SyntheticInstances, m.cfg.SyntheticPeople, m.logf)
	if err != nil {
		client.Close()
		return err
	}
	m.synthetic, m.syntheticClient = w, client
	began := time.Now()
	m.res.Synthetic = &syntheticFigures{Instances: m.cfg.SyntheticInstances, PeoplePerInstance: m.cfg.SyntheticPeople, ClusterName: m.cfg.ClusterName}
	if err := w.start(ctx); err != nil {
		return err
	}
	m.res.Synthetic.WriteMS = ms(time.Since(began))
	m.logf("synthetic: %d instances of %d people written under %q in %.0f ms", m.cfg.SyntheticInstances, m.cfg.SyntheticPeople, m.cfg.ClusterName+":", m.res.Synthetic.WriteMS)
	return nil
}

// stopSynthetic removes the synthetic instances, on its own bounded time:
// the run's may be over.
func (m *measurement) stopSynthetic() {
	if m.synthetic == nil {
		return
	}
	defer m.syntheticClient.Close()
	ctx, cancel := context.WithTimeout(context.Background(), synthStopTimeout)
	defer cancel()
	err := m.synthetic.stop(ctx)
	f := m.res.Synthetic
	f.Renewals = m.synthetic.renewCommands.Load()
	f.RenewFailures = m.synthetic.renewFailures.Load()
	if err != nil {
		f.RemoveError = err.Error()
		m.logf("synthetic: removing the instances: %v", err)
		return
	}
	f.Removed = true
	m.logf("synthetic: instances removed")
}

// idle waits for the servers to settle after the storm, then holds still
// for the idle window and measures it.
func (m *measurement) idle(ctx context.Context) error {
	window := m.cfg.idleWindow()
	if window <= 0 {
		return nil
	}
	var stats *redisStats
	if m.cfg.RedisStats != "" {
		client, err := newRedisClient("-redis-stats", m.cfg.RedisStats)
		if err != nil {
			return err
		}
		defer client.Close()
		stats = &redisStats{client: client}
	}
	if _, _, err := m.waitQuietFor(ctx, m.lastConnect.Add(max(m.cfg.IdleSettle, idleQuiet)-idleQuiet), max(idleQuiet, m.cfg.Quiet)); err != nil {
		return fmt.Errorf("before the idle window: %w", err)
	}

	agg0, err := m.status(ctx)
	if err != nil {
		return err
	}
	var cpu0 procSample
	if m.cfg.PID != 0 {
		if cpu0, err = readProc(m.cfg.PID); err != nil {
			return err
		}
	}
	var redis0 redisSample
	var info0, renew0 ownTraffic
	if stats != nil {
		if redis0, info0, renew0, err = m.sampleRedis(ctx, stats); err != nil {
			return err
		}
	}
	began := time.Now()
	f := &idleFigures{SettleMS: ms(began.Sub(m.lastConnect))}
	m.logf("idle: settled %.1f s after the last connect; holding still for %v", f.SettleMS/1000, window)

	if err := sleep(ctx, window); err != nil {
		return err
	}

	if stats != nil {
		redis1, _, renew1, err := m.sampleRedis(ctx, stats)
		if err != nil {
			return err
		}
		// The start sample's INFO is counted in the end sample, and so is
		// every renewal in between.
		own := info0.plus(renew1.minus(renew0))
		if f.Redis, err = redisWindow(redis0, redis1, own, time.Since(began), serverCount(m.cfg.URL)); err != nil {
			return err
		}
	}
	if m.cfg.PID != 0 {
		cpu1, err := readProc(m.cfg.PID)
		if err != nil {
			return err
		}
		cpu := cpu1.CPU - cpu0.CPU
		f.Server = &idleCPU{CPUMS: ms(cpu), CPUCorePercent: 100 * cpu.Seconds() / cpu1.At.Sub(cpu0.At).Seconds()}
	}
	agg1, err := m.status(ctx)
	if err != nil {
		return err
	}
	f.WindowMS = ms(time.Since(began))
	f.Frames = agg1.Frames + agg1.Lobby.Frames - agg0.Frames - agg0.Lobby.Frames
	m.res.Idle = f
	m.logf("idle: %.1f s, %d frames received", f.WindowMS/1000, f.Frames)
	return nil
}

// sampleRedis samples the Redis of -redis-stats, and what the tool's
// synthetic instances had sent it by then: renewals wait meanwhile, so
// the two agree.
func (m *measurement) sampleRedis(ctx context.Context, stats *redisStats) (s redisSample, info, renewed ownTraffic, err error) {
	if m.synthetic == nil || !m.sameRedis() {
		s, info, err = stats.sample(ctx)
		return s, info, ownTraffic{}, err
	}
	m.synthetic.holdRenewals(func() {
		s, info, err = stats.sample(ctx)
		renewed = m.synthetic.renewals()
	})
	return s, info, renewed, err
}

// sameRedis reports whether the synthetic instances live in the Redis
// -redis-stats measures.
func (m *measurement) sameRedis() bool {
	a, err1 := redisOptions("-redis-stats", m.cfg.RedisStats)
	b, err2 := redisOptions("-redis-url", m.cfg.RedisURL)
	return err1 == nil && err2 == nil && a.Network == b.Network && a.Addr == b.Addr
}
