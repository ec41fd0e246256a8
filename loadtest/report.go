package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// result is every figure of one run; it is printed as a table and as one
// JSON line. Times are in milliseconds unless a name says otherwise.
type result struct {
	URL       string    `json:"url"`
	Transport transport `json:"transport"`
	N         int       `json:"n"`
	Procs     int       `json:"procs"`
	Inflight  int       `json:"inflight"`
	Repeats   int       `json:"repeats"`
	Cookie    bool      `json:"cookie"`
	QuietMS   float64   `json:"quiet_ms"`
	SettleMS  float64   `json:"settle_ms"`
	Stalled   int       `json:"stalled,omitempty"` // clients that stopped reading after the storm

	Connected        int            `json:"connected"`
	FailedHandshakes int            `json:"failed_handshakes"`
	ReadErrors       int            `json:"read_errors"`
	Drops            map[string]int `json:"drops"` // connections the server closed, by close code ("abnormal": no close frame; "eof": event stream ended)
	DropsTotal       int            `json:"drops_total"`
	ErrorSamples     []string       `json:"error_samples,omitempty"`

	StormMS              float64 `json:"storm_ms"`           // first dial until every client connected
	StormHandshake       latency `json:"storm_handshake_ms"` // each handshake of the storm, dial to connected
	StormSettleMS        float64 `json:"storm_settle_ms"`    // last connect until the storm's last frame
	StormFramesPerClient float64 `json:"storm_frames_per_client"`
	StormBytesPerClient  float64 `json:"storm_bytes_per_client"`
	FramesPerClient      float64 `json:"frames_per_client"` // the whole run
	BytesPerClient       float64 `json:"bytes_per_client"`

	Arrivals         int       `json:"arrivals"`        // probe arrivals attempted
	Fanout           latency   `json:"fanout_ms"`       // probe connect until every held client (of the probe's room, with rooms) had a frame
	FanoutFirst      latency   `json:"fanout_first_ms"` // probe connect until the first held client had one
	ProbeConnect     latency   `json:"probe_handshake_ms"`
	FanoutSamplesMS  []float64 `json:"fanout_samples_ms"` // in arrival order
	FanoutIncomplete int       `json:"fanout_incomplete"` // arrivals some client never received (left out of the percentiles)
	ProbeFailures    int       `json:"probe_failures"`

	Rooms     *roomsFigures     `json:"rooms,omitempty"`     // with -rooms
	Lobby     *lobbyFigures     `json:"lobby,omitempty"`     // with -lobby
	Idle      *idleFigures      `json:"idle,omitempty"`      // the idle window after the storm
	Synthetic *syntheticFigures `json:"synthetic,omitempty"` // instances the tool wrote to Redis

	Server *serverFigures `json:"server,omitempty"`
	Tool   toolFigures    `json:"tool"`

	ElapsedMS float64 `json:"elapsed_ms"`
	TimedOut  bool    `json:"timed_out"`
	Error     string  `json:"error,omitempty"`
}

func newResult(cfg config) *result {
	r := &result{
		URL: cfg.URL, Transport: cfg.transport(), N: cfg.N, Procs: cfg.Procs, Inflight: cfg.Inflight,
		Repeats: cfg.Repeats, Cookie: cfg.Cookie != "", QuietMS: ms(cfg.Quiet), SettleMS: ms(cfg.Settle),
		Drops: map[string]int{}, FanoutSamplesMS: []float64{},
	}
	if cfg.Rooms > 0 {
		r.Rooms = &roomsFigures{Rooms: cfg.Rooms, ProbeRoom: roomName(0)}
	}
	return r
}

// roomsFigures describe a run with -rooms: client i in room r{i mod
// rooms}, the probe arriving in ProbeRoom, and fan-out (fanout_ms) measured
// to that room's clients.
type roomsFigures struct {
	Rooms            int        `json:"rooms"`
	ProbeRoom        string     `json:"probe_room"`
	ProbeRoomClients int        `json:"probe_room_clients"` // connected when the storm settled
	Other            otherRooms `json:"other_rooms"`
}

// otherRooms is what the clients of every room but the probe's received
// during the arrivals: each arrival's window runs from the quiet before it
// until the quiet after its departure. Every figure must be 0: a change in
// one room sends nothing to another.
type otherRooms struct {
	Clients             int   `json:"clients"`  // connected when the storm settled
	Arrivals            int   `json:"arrivals"` // windows counted
	Frames              int64 `json:"frames"`
	Bytes               int64 `json:"bytes"` // content: WebSocket payloads, or event-stream bytes outside comments and line ends
	ArrivalsWithTraffic int   `json:"arrivals_with_traffic"`
	MaxBytesPerArrival  int64 `json:"max_bytes_per_arrival"`
}

// add counts one arrival's window.
func (o *otherRooms) add(t traffic) {
	o.Arrivals++
	o.Frames += t.Frames
	o.Bytes += t.Bytes
	if t.Frames > 0 || t.Bytes > 0 {
		o.ArrivalsWithTraffic++
	}
	o.MaxBytesPerArrival = max(o.MaxBytesPerArrival, t.Bytes)
}

// summary says it for a person, and whether it is the 0 it must be.
func (o otherRooms) summary() string {
	verdict := "none, as it must be"
	if o.Frames > 0 || o.Bytes > 0 {
		verdict = fmt.Sprintf("NOT ZERO: %d of the arrivals reached other rooms, at most %s in one", o.ArrivalsWithTraffic, kib(float64(o.MaxBytesPerArrival)))
	}
	return fmt.Sprintf("%d clients: %d frames, %s during %d arrivals: %s", o.Clients, o.Frames, kib(float64(o.Bytes)), o.Arrivals, verdict)
}

// lobbyFigures describe the lobby viewers of -lobby.
type lobbyFigures struct {
	Viewers   int         `json:"viewers"`
	Connected int         `json:"connected"`
	Failed    int         `json:"failed"`
	TickMS    float64     `json:"tick_ms"`  // -tick: the window of max_frames_per_tick
	Storm     lobbyWindow `json:"storm"`    // the storm's first dial until it settled
	Arrivals  lobbyWindow `json:"arrivals"` // the first arrival until the quiet after the last
}

// lobbyWindow is what the lobby viewers received during one phase.
type lobbyWindow struct {
	WindowMS                  float64 `json:"window_ms"`
	Frames                    int64   `json:"frames"` // over every viewer
	FramesPerViewer           float64 `json:"frames_per_viewer"`
	FramesPerViewerPerS       float64 `json:"frames_per_viewer_per_s"`
	FramesPerViewerPerTick    float64 `json:"frames_per_viewer_per_tick"`              // the mean: per second × tick
	FramesPerViewerPerArrival float64 `json:"frames_per_viewer_per_arrival,omitempty"` // arrivals only
	// MaxPerTick is the most frames one viewer received within any window
	// of one tick (-tick), by the time they were read (counted up to 16).
	// A server that flushes once per tick sends its frames a tick apart,
	// so a few microseconds of jitter in reading them can put two flushes
	// in one window: MaxPerHalfTick, the same within half a tick, shows
	// what one flush sent, whatever jitter below half a tick.
	MaxPerTick     int64 `json:"max_frames_per_tick"`
	MaxPerHalfTick int64 `json:"max_frames_per_half_tick"`
}

// latency summarises samples in milliseconds.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// serverFigures come from /proc of the server's pid: before the storm, at
// full load (once the storm settled) and a second after every client closed.
type serverFigures struct {
	PID             int     `json:"pid"`
	RSSBeforeKiB    int64   `json:"rss_before_kib"`
	RSSFullKiB      int64   `json:"rss_full_kib"`
	RSSAfterKiB     int64   `json:"rss_after_kib"`
	RSSPerConnKiB   float64 `json:"rss_per_conn_kib"` // (full - before) / connected
	CPUStormMS      float64 `json:"cpu_storm_ms"`
	CPUPerJoinUS    float64 `json:"cpu_per_join_us"`
	CPUFanoutMS     float64 `json:"cpu_fanout_ms"`      // over every arrival, its departure and the waits between
	CPUPerArrivalMS float64 `json:"cpu_per_arrival_ms"` // cpu_fanout_ms / arrivals
	CPUTotalMS      float64 `json:"cpu_total_ms"`       // before the storm until after the close
}

// syntheticFigures describe the synthetic instances.
type syntheticFigures struct {
	ClusterName       string  `json:"cluster_name"`
	Instances         int     `json:"instances"`
	PeoplePerInstance int     `json:"people_per_instance"`
	WriteMS           float64 `json:"write_ms"`       // removing leftovers and writing them all
	Renewals          int64   `json:"renewals"`       // alive keys set after the first
	RenewFailures     int64   `json:"renew_failures"` // rounds of renewals that failed
	Removed           bool    `json:"removed"`        // everything written was deleted at the end
	RemoveError       string  `json:"remove_error,omitempty"`
}

// toolFigures are this tool's own costs, over all its processes.
type toolFigures struct {
	CPUMS           float64 `json:"cpu_ms"`
	CPUFanoutMS     float64 `json:"cpu_fanout_ms"`
	CPUPerArrivalMS float64 `json:"cpu_per_arrival_ms"`
	RSSFullKiB      int64   `json:"rss_full_kib"`
	RSSPerClientKiB float64 `json:"rss_per_client_kib"`
}

// summarize returns nearest-rank percentiles of samples: the p-th
// percentile is the smallest sample with at least p% of them at or below it.
func summarize(samples []float64) latency {
	if len(samples) == 0 {
		return latency{}
	}
	s := slices.Clone(samples)
	sort.Float64s(s)
	return latency{N: len(s), P50: percentile(s, 50), P95: percentile(s, 95), P99: percentile(s, 99), Max: s[len(s)-1]}
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// writeTable prints r for a person.
func writeTable(w io.Writer, r *result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	fmt.Fprintf(tw, "\n%s: %d %s clients, %d in flight, %d process(es)\n", r.URL, r.N, r.Transport, r.Inflight, r.Procs)
	status := "complete"
	switch {
	case r.TimedOut:
		status = "TIMED OUT: figures are partial"
	case r.Error != "":
		status = "FAILED: " + r.Error
	}
	row("run", "%s in %.1f s", status, r.ElapsedMS/1000)
	lat := func(l latency) string {
		return fmt.Sprintf("p50 %.1f  p95 %.1f  p99 %.1f  max %.1f ms", l.P50, l.P95, l.P99, l.Max)
	}
	row("connected", "%d of %d (%d failed handshakes)", r.Connected, r.N, r.FailedHandshakes)
	row("join storm", "%.0f ms; last frame %.0f ms after the last connect", r.StormMS, r.StormSettleMS)
	row("  handshakes", "%s", lat(r.StormHandshake))
	row("received per client", "storm %.1f frames, %s; whole run %.1f frames, %s",
		r.StormFramesPerClient, kib(r.StormBytesPerClient), r.FramesPerClient, kib(r.BytesPerClient))
	if rm := r.Rooms; rm != nil {
		row("rooms", "%d, client i in r{i mod %d}; the probe arrives in %s (%d clients)", rm.Rooms, rm.Rooms, rm.ProbeRoom, rm.ProbeRoomClients)
		row(fmt.Sprintf("fan-out within the room (%d of %d)", r.Fanout.N, r.Arrivals), "%s", lat(r.Fanout))
	} else {
		row(fmt.Sprintf("fan-out (%d of %d)", r.Fanout.N, r.Arrivals), "%s", lat(r.Fanout))
	}
	row("  to the first client", "%s", lat(r.FanoutFirst))
	row("  probe handshake", "%s", lat(r.ProbeConnect))
	if r.FanoutIncomplete+r.ProbeFailures > 0 {
		row("  not measured", "%d arrivals some client missed, %d probe failures", r.FanoutIncomplete, r.ProbeFailures)
	}
	if rm := r.Rooms; rm != nil {
		row("other rooms", "%s", rm.Other.summary())
	}
	if l := r.Lobby; l != nil {
		row("lobby viewers", "%d of %d connected (%d failed handshakes); window of most frames: %.0f ms", l.Connected, l.Viewers, l.Failed, l.TickMS)
		win := func(w lobbyWindow) string {
			return fmt.Sprintf("%.1f frames per viewer in %.1f s: %.2f per second (%.2f per tick), at most %d within one tick, %d within half a tick",
				w.FramesPerViewer, w.WindowMS/1000, w.FramesPerViewerPerS, w.FramesPerViewerPerTick, w.MaxPerTick, w.MaxPerHalfTick)
		}
		row("  during the storm", "%s", win(l.Storm))
		row("  during the arrivals", "%s; %.1f per arrival", win(l.Arrivals), l.Arrivals.FramesPerViewerPerArrival)
	}
	if sy := r.Synthetic; sy != nil {
		removed := "removed at the end"
		if !sy.Removed {
			removed = "NOT REMOVED: " + sy.RemoveError
		}
		row("synthetic instances", "%d of %d people under %q, written in %.0f ms, %d alive keys renewed (%d failed rounds), %s",
			sy.Instances, sy.PeoplePerInstance, sy.ClusterName+":", sy.WriteMS, sy.Renewals, sy.RenewFailures, removed)
	}
	if i := r.Idle; i != nil {
		row("idle window", "%.1f s, began %.1f s after the last connect; %d frames received", i.WindowMS/1000, i.SettleMS/1000, i.Frames)
		if s := i.Server; s != nil {
			row("  server CPU", "%.0f ms: %.2f %% of a core", s.CPUMS, s.CPUCorePercent)
		}
		if rd := i.Redis; rd != nil {
			rates := func(x redisRates) string {
				return fmt.Sprintf("%.1f commands/s, in %s/s, out %s/s", x.CommandsPerS, kib(x.InBytesPerS), kib(x.OutBytesPerS))
			}
			row("  redis", "%s", rates(rd.Total))
			row(fmt.Sprintf("  redis per instance (÷%d)", rd.Instances), "%s (divided by the distinct servers in -url)", rates(rd.PerInstance))
			row("  tool's own, left out", "%s", rates(rd.Tool))
			for _, c := range rd.Top {
				row("  "+c.Name, "%.2f calls/s, %.1f µs per call", c.CallsPerS, c.USecPerCall)
			}
		}
	}
	if s := r.Server; s != nil {
		row("server RSS", "before %s, full %s, after %s: %.1f KiB per connection",
			kib(float64(s.RSSBeforeKiB)*1024), kib(float64(s.RSSFullKiB)*1024), kib(float64(s.RSSAfterKiB)*1024), s.RSSPerConnKiB)
		row("server CPU", "storm %.0f ms (%.0f µs per join), fan-out %.0f ms (%.2f ms per arrival), total %.0f ms",
			s.CPUStormMS, s.CPUPerJoinUS, s.CPUFanoutMS, s.CPUPerArrivalMS, s.CPUTotalMS)
	} else {
		row("server", "not measured (no -pid)")
	}
	t := r.Tool
	row("tool CPU", "total %.0f ms, fan-out %.0f ms (%.2f ms per arrival)", t.CPUMS, t.CPUFanoutMS, t.CPUPerArrivalMS)
	row("tool RSS", "%s at full load (%.1f KiB per client)", kib(float64(t.RSSFullKiB)*1024), t.RSSPerClientKiB)
	row("read errors", "%d", r.ReadErrors)
	row("drops", "%d %s", r.DropsTotal, formatDrops(r.Drops))
	for _, e := range r.ErrorSamples {
		row("  error", "%s", e)
	}
	tw.Flush()
}

func formatDrops(d map[string]int) string {
	if len(d) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, d[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// kib formats a byte count for a person.
func kib(bytes float64) string {
	switch {
	case bytes >= 100<<20:
		return fmt.Sprintf("%.0f MiB", bytes/(1<<20))
	case bytes >= 1<<20:
		return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
	case bytes >= 10<<10:
		return fmt.Sprintf("%.1f KiB", bytes/(1<<10))
	}
	return fmt.Sprintf("%.0f B", bytes)
}
