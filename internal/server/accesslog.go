package server

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

// observe wraps the server's handler: every request is measured (the latency histogram) and logged, one
// access log line each, at info level (error level for a failure of Wharf itself, status 5xx; debug level
// for a healthy /healthz). The line
// tells the request (method, path with its query redacted, status, bytes of the body written, duration,
// request id, peer, user agent) and the call the pipeline made of it (protocol, action, principal,
// registry, repository, and the error's code and message), which the pipeline leaves in the request's
// context (pipeline.Summary).
func observe(m *metrics, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctx, sum := pipeline.WithSummary(r.Context())
		next.ServeHTTP(sw, r.WithContext(ctx))
		elapsed := time.Since(start)
		m.observe(r.Method, sw.status, elapsed)

		level := slog.LevelInfo
		switch {
		case sw.status >= 500:
			level = slog.LevelError
		case sw.status == http.StatusOK && r.URL.Path == "/healthz": // a load balancer's probe, every few seconds
			level = slog.LevelDebug
		}
		if !log.Enabled(ctx, level) {
			return
		}
		bytes := sw.bytes
		if r.Method == http.MethodHead { // what the handler wrote, net/http did not send
			bytes = 0
		}
		attrs := make([]slog.Attr, 0, 16)
		attrs = append(attrs, slog.String("method", r.Method), slog.String("path", redactedURI(r.URL)),
			slog.Int("status", sw.status), slog.Int64("bytes", bytes), slog.Duration("duration", elapsed),
			slog.String("request_id", sum.RequestID), slog.String("remote_addr", pipeline.SourceIP(r.RemoteAddr)))
		for _, kv := range [...][2]string{{"user_agent", r.UserAgent()}, {"protocol", sum.Protocol}, {"action", sum.Action},
			{"principal", sum.Caller.ARN()}, {"registry", sum.RegistryID}, {"repository", sum.Repository}} {
			if kv[1] != "" {
				attrs = append(attrs, slog.String(kv[0], kv[1]))
			}
		}
		switch {
		case sum.Err != nil:
			attrs = append(attrs, slog.String("error_code", errorKind(sum.Err)), slog.String("error", sum.Err.Error()))
		case sw.status >= 400 && w.Header().Get("x-amzn-ErrorType") != "":
			// An ECR request refused before it became a call (its signature, its body): the code it was told.
			attrs = append(attrs, slog.String("error_code", w.Header().Get("x-amzn-ErrorType")))
		}
		log.LogAttrs(ctx, level, "request", attrs...)
	})
}

// loggedParams are the query parameters whose values the access log shows: the registry API's. Others are
// logged as REDACTED: they may carry credentials (a presigned URL's X-Wharf-Token, a SigV4 query
// signature, a token).
var loggedParams = map[string]bool{"n": true, "last": true, "digest": true, "mount": true, "from": true, "artifactType": true}

// redactedURI is the request's path and query, with the values of parameters outside loggedParams
// replaced by REDACTED.
func redactedURI(u *url.URL) string {
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	var b strings.Builder
	b.WriteString(path)
	b.WriteByte('?')
	for i, kv := range strings.Split(u.RawQuery, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, _, hasValue := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		if hasValue && (err != nil || !loggedParams[name]) {
			kv = k + "=REDACTED"
		}
		b.WriteString(kv)
	}
	return b.String()
}
