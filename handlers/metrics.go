package handlers

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"herenow/hub"
)

// Metrics are herenow's Prometheus collectors.
type Metrics struct {
	registry    *prometheus.Registry
	connections *prometheus.GaugeVec     // open live connections, by transport
	frames      *prometheus.CounterVec   // frames written, by transport
	bytes       *prometheus.CounterVec   // frame bytes written, by transport
	heartbeats  *prometheus.CounterVec   // heartbeats written, by transport
	drops       *prometheus.CounterVec   // subscribers dropped for falling behind, by transport
	pingsMissed prometheus.Counter       // WebSocket clients dropped for not answering a ping
	liveRefused *prometheus.CounterVec   // live connections refused at a cap, by transport and reason
	logins      *prometheus.CounterVec   // login attempts, by outcome
	render      *prometheus.HistogramVec // time to render a frame, by kind
	fanOut      *prometheus.HistogramVec // from a diff's render until one subscriber has it written, by transport
}

// NewMetrics registers herenow's collectors, the Go runtime's and the
// process's.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	m := &Metrics{
		registry: reg,
		connections: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herenow_live_connections", Help: "Open live connections."}, []string{"transport"}),
		frames: f.NewCounterVec(prometheus.CounterOpts{
			Name: "herenow_frames_sent_total", Help: "Frames written to live connections."}, []string{"transport"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "herenow_frame_bytes_sent_total", Help: "Bytes of frames written to live connections."}, []string{"transport"}),
		heartbeats: f.NewCounterVec(prometheus.CounterOpts{
			Name: "herenow_heartbeats_sent_total", Help: "Heartbeats written to live connections (not counted as frames)."}, []string{"transport"}),
		drops: f.NewCounterVec(prometheus.CounterOpts{
			Name: "herenow_slow_subscriber_drops_total", Help: "Live connections closed for falling behind."}, []string{"transport"}),
		pingsMissed: f.NewCounter(prometheus.CounterOpts{
			Name: "herenow_pings_missed_total", Help: "WebSocket connections dropped for not answering a ping in time."}),
		liveRefused: f.NewCounterVec(prometheus.CounterOpts{
			Name: "herenow_live_refused_total", Help: "Live connections refused with 503 at --max-live or --max-live-per-addr."},
			[]string{"transport", "reason"}),
		logins: f.NewCounterVec(prometheus.CounterOpts{
			Name: "herenow_logins_total", Help: "Login attempts by outcome."}, []string{"outcome"}),
		render: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herenow_frame_render_seconds", Help: "Time to render one frame, once for all subscribers.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 14)}, []string{"kind"}),
		fanOut: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herenow_fanout_seconds", Help: "Time from a change's frame being rendered to its write to one subscriber.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"transport"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, t := range []string{transportWS, transportSSE} {
		m.connections.WithLabelValues(t)
		m.frames.WithLabelValues(t)
		m.bytes.WithLabelValues(t)
		m.heartbeats.WithLabelValues(t)
		m.drops.WithLabelValues(t)
		m.liveRefused.WithLabelValues(t, refusedMaxLive)
		m.liveRefused.WithLabelValues(t, refusedMaxLivePerAddr)
	}
	for _, o := range []string{loginSuccess, loginBadCredentials, loginRateLimited, loginInvalid} {
		m.logins.WithLabelValues(o)
	}
	return m
}

// WatchHub adds gauges of who is online in h.
func (m *Metrics) WatchHub(h *hub.Hub) {
	f := promauto.With(m.registry)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "herenow_people_online", Help: "People online, each counted once."},
		func() float64 { return float64(h.Counts().People) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "herenow_guests_online", Help: "Guests among the people online."},
		func() float64 { return float64(h.Counts().Guests) })
}

const (
	transportWS  = "websocket"
	transportSSE = "sse"

	loginSuccess        = "success"
	loginBadCredentials = "bad_credentials"
	loginRateLimited    = "rate_limited"
	loginInvalid        = "invalid"
)

// transportMetrics are one transport's series, looked up once: a write
// costs a few atomic adds, not a label lookup.
type transportMetrics struct {
	connections prometheus.Gauge
	frames      prometheus.Counter
	bytes       prometheus.Counter
	heartbeats  prometheus.Counter
	drops       prometheus.Counter
	fanOut      prometheus.Observer
}

func (m *Metrics) transport(name string) *transportMetrics {
	return &transportMetrics{
		connections: m.connections.WithLabelValues(name),
		frames:      m.frames.WithLabelValues(name),
		bytes:       m.bytes.WithLabelValues(name),
		heartbeats:  m.heartbeats.WithLabelValues(name),
		drops:       m.drops.WithLabelValues(name),
		fanOut:      m.fanOut.WithLabelValues(name),
	}
}

// wrote counts one frame of n bytes written.
func (t *transportMetrics) wrote(f *hub.Frame, n int) {
	t.frames.Inc()
	t.bytes.Add(float64(n))
	if !f.Rendered.IsZero() {
		t.fanOut.Observe(time.Since(f.Rendered).Seconds())
	}
}

// OpsHandler serves /metrics and /debug/pprof/ for the operator's listener,
// never the public one.
func (m *Metrics) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
