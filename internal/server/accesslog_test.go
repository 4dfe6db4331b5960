package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

type allowAll struct{}

func (allowAll) Authorize(context.Context, *pipeline.Call) error              { return nil }
func (allowAll) Permits(context.Context, *pipeline.Call, string, string) bool { return true }

// TestFailuresOfWharfAreErrors: a request that fails inside Wharf (5xx) is one line at error level with the
// call's error; a healthy /healthz is logged at debug level only.
func TestFailuresOfWharfAreErrors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pipe := &pipeline.Pipeline{Authorize: allowAll{}}
	h := observe(newMetrics(), log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok\n"))
			return
		}
		call := &pipeline.Call{RequestID: pipeline.RequestID(r.Context()), Protocol: "oci", Credential: pipeline.As(identity.RootOf("000000000000"))}
		pipe.Do(r.Context(), call, pipeline.Op{Action: "ecr:PutImage", Run: func(context.Context, *pipeline.Call) error {
			return errors.New("disk on fire")
		}})
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PUT", "/v2/app/manifests/v1", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=ERROR msg=request method=PUT path=/v2/app/manifests/v1 status=500") ||
		!strings.Contains(out, "action=ecr:PutImage principal=arn:aws:iam::000000000000:root") || !strings.Contains(out, `error_code=error error="disk on fire"`) {
		t.Fatalf("log:\n%s", out)
	}
}

func TestRedactedURI(t *testing.T) {
	for in, want := range map[string]string{
		"/v2/":                         "/v2/",
		"/v2/_catalog?n=10&last=a%2Fb": "/v2/_catalog?n=10&last=a%2Fb",
		"/v2/app/blobs/sha256:ab?X-Wharf-Token=secret":                    "/v2/app/blobs/sha256:ab?X-Wharf-Token=REDACTED",
		"/?X-Amz-Signature=s&X-Amz-Credential=AKIA%2F2026&Action=GetUser": "/?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&Action=REDACTED",
		"/v2/app/blobs/uploads/?mount=sha256:ab&from=base&token":          "/v2/app/blobs/uploads/?mount=sha256:ab&from=base&token",
		"/v2/app/blobs/uploads/x?digest=sha256%3Aab&%zz=1":                "/v2/app/blobs/uploads/x?digest=sha256%3Aab&%zz=REDACTED",
	} {
		u, err := url.ParseRequestURI(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactedURI(u); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("postgres://wharf:pw-secret@db:5432/wharf?sslmode=disable&password=qs-secret")
	if strings.Contains(got, "secret") || !strings.HasPrefix(got, "postgres://wharf:xxxxx@db:5432/wharf?") {
		t.Fatalf("%s", got)
	}
}
