package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// metrics are Wharf's Prometheus series, on a registry of their own (no globals).
type metrics struct {
	reg       *prometheus.Registry
	calls     *prometheus.CounterVec
	callTime  *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	blobTime  *prometheus.HistogramVec
	metaTime  *prometheus.HistogramVec

	// byAction holds each action's series that every call touches, resolved once: a call looks them up
	// in a map under a read lock instead of hashing its label values into each vector.
	mu       sync.RWMutex
	byAction map[actionKey]*actionSeries
}

type actionKey struct{ protocol, action string }

type actionSeries struct {
	success  prometheus.Counter
	duration prometheus.Observer
}

// latencyBuckets span a cached manifest read to a slow upload, in seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}

// storeBuckets span a page-cache hit to a stalled disk or a distant bucket, in seconds.
var storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_calls_total",
			Help: "Calls through the pipeline by protocol, action and outcome: success, or the error code the protocol answered.",
		}, []string{"protocol", "action", "outcome"}),
		callTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_call_duration_seconds", Help: "Latency of calls through the pipeline by protocol and action.",
			Buckets: latencyBuckets,
		}, []string{"protocol", "action"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_throttled_calls_total", Help: "Calls refused by the rate limits, by protocol and action.",
		}, []string{"protocol", "action"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_http_request_duration_seconds", Help: "HTTP request latency by method and status.",
			Buckets: latencyBuckets,
		}, []string{"method", "status"}),
		blobTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_blob_store_duration_seconds", Help: "Latency of blob store operations by operation (open: until the blob can be read).",
			Buckets: storeBuckets,
		}, []string{"op"}),
		metaTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_metadata_store_duration_seconds", Help: "Latency of metadata store transactions by kind (view, update), their work included.",
			Buckets: storeBuckets,
		}, []string{"op"}),
		byAction: map[actionKey]*actionSeries{},
	}
	m.reg.MustRegister(m.calls, m.callTime, m.throttled, m.duration, m.blobTime, m.metaTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Record implements pipeline.Auditor: it counts calls by outcome and measures their latency. Every label
// takes a bounded set of values: protocols, actions of registered operations, and error codes.
func (m *metrics) Record(c *pipeline.Call, err error, elapsed time.Duration) {
	s := m.series(c.Protocol, c.Action)
	s.duration.Observe(elapsed.Seconds())
	if err == nil {
		s.success.Inc()
		return
	}
	m.calls.WithLabelValues(c.Protocol, c.Action, outcome(c, err)).Inc()
	if registry.KindOf(err) == registry.KindThrottled {
		m.throttled.WithLabelValues(c.Protocol, c.Action).Inc()
	}
}

// series returns the series of an action, resolving them on its first call.
func (m *metrics) series(protocol, action string) *actionSeries {
	k := actionKey{protocol, action}
	m.mu.RLock()
	s := m.byAction[k]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.byAction[k]; s == nil {
		s = &actionSeries{success: m.calls.WithLabelValues(protocol, action, "success"),
			duration: m.callTime.WithLabelValues(protocol, action)}
		m.byAction[k] = s
	}
	return s
}

// outcome is the error code a failed call was answered with, in its protocol's words: NAME_UNKNOWN on the
// registry API, RepositoryNotFoundException on the ECR API, NoSuchEntity on IAM (the command line's and
// background work's in the codes of their action's API; see actionErrorCode).
func outcome(c *pipeline.Call, err error) string {
	if c.ErrorCode == nil {
		return "error"
	}
	code, _ := c.ErrorCode(err)
	return code
}

// errorKind names an error for the access log: the name of the refusal's kind or wire code, or "error"
// for a failure of Wharf itself.
func errorKind(err error) string {
	var coded interface{ ErrorCode() string }
	switch k := registry.KindOf(err); {
	case k != registry.KindInternal:
		return k.String()
	case errors.As(err, &coded):
		return coded.ErrorCode()
	}
	return "error"
}

// methodLabel is the request's method for the latency histogram: the methods Wharf serves, else "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// observe measures a request's latency.
func (m *metrics) observe(method string, status int, elapsed time.Duration) {
	m.duration.WithLabelValues(methodLabel(method), strconv.Itoa(status)).Observe(elapsed.Seconds())
}

// statusWriter remembers the status and counts the bytes of the body, and keeps the fast paths of the
// writer it wraps: ReadFrom (sendfile), Flush and Hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) ReadFrom(r io.Reader) (n int64, err error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.bytes += n
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
