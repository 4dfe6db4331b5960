package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// metrics are Wharf's Prometheus series, on a registry of their own (no globals).
type metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_calls_total", Help: "Calls through the pipeline by protocol, ECR action and outcome.",
		}, []string{"protocol", "action", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_http_request_duration_seconds", Help: "HTTP request latency by method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"method", "status"}),
	}
	m.reg.MustRegister(m.calls, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Record implements pipeline.Auditor: it counts calls by outcome — "ok", the name of the refusal's kind
// or wire code, or "error" for a failure of Wharf itself. Every label takes a bounded set of values.
func (m *metrics) Record(c *pipeline.Call, err error, _ time.Duration) {
	m.calls.WithLabelValues(c.Protocol, c.Action, outcome(err)).Inc()
}

func outcome(err error) string {
	var coded interface{ ErrorCode() string }
	switch k := registry.KindOf(err); {
	case err == nil:
		return "ok"
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
