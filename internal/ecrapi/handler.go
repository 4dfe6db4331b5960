// Package ecrapi serves Amazon ECR's API (AWS JSON 1.1 over POST /, SigV4-signed) over the registry core,
// with the shapes and error codes of botocore's model.
package ecrapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TargetPrefix starts every X-Amz-Target of the ECR API.
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// maxBody bounds a request body: UploadLayerPart carries parts of up to 10 MiB (as base64) and more.
const maxBody = 24 << 20

// Handler serves the ECR API.
type Handler struct {
	Service  *registry.Service
	Identity *identity.Service
	Pipeline *pipeline.Pipeline
	Clock    clock.Clock
	Log      *slog.Logger
	Region   string
	// RegistryHost is the host of the registry endpoint, for repository URIs and proxyEndpoint.
	RegistryHost string
	// Scheme of proxyEndpoint: "https", or "http" when Wharf serves plain HTTP.
	Scheme string
	// TokenTTL is how long an authorization token lasts (12 hours).
	TokenTTL time.Duration
	// Paging signs and checks nextToken values.
	Paging *Paging
	// PoliciesChanged is called after a call that changed policies or resource tags, so cached
	// authorization facts are dropped.
	PoliciesChanged func()
	// LockoutCheck tells whether the caller could still perform an action on a repository under a
	// candidate repository policy (SetRepositoryPolicy without force).
	LockoutCheck func(ctx context.Context, c *pipeline.Call, action, repo string, candidate *iam.Policy) bool
}

// changesPolicies names the operations after which cached authorization facts are stale.
var changesPolicies = map[string]bool{
	"CreateRepository": true, "DeleteRepository": true, "TagResource": true, "UntagResource": true,
	"SetRepositoryPolicy": true, "DeleteRepositoryPolicy": true,
}

// IsECRRequest tells an ECR API call from other traffic on the shared listener.
func IsECRRequest(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// op is one operation: its ECR action and how it runs.
type op struct {
	action string
	run    func(h *Handler, ctx context.Context, c *pipeline.Call, body []byte) (any, error)
}

var ops = map[string]op{}

// register adds an operation whose input decodes into I.
func register[I any](name string, run func(h *Handler, ctx context.Context, c *pipeline.Call, in *I) (any, error)) {
	ops[name] = op{
		action: "ecr:" + name,
		run: func(h *Handler, ctx context.Context, c *pipeline.Call, body []byte) (any, error) {
			in := new(I)
			if err := decode(body, in); err != nil {
				return nil, err
			}
			return run(h, ctx, c, in)
		},
	}
}

// target names the registry and repository an input addresses.
type target struct {
	RegistryID     string    `json:"registryId"`
	RepositoryName string    `json:"repositoryName"`
	ResourceArn    string    `json:"resourceArn"`
	Tags           []tagJSON `json:"tags"`
	TagKeys        []string  `json:"tagKeys"`
}

func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return &awsError{"SerializationException", "Start of structure or map found where not expected, or malformed JSON: " + err.Error(), http.StatusBadRequest}
	}
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	name := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		h.writeError(w, err)
		return
	}
	if len(body) > maxBody {
		h.writeError(w, &awsError{"InvalidParameterException", "request body too large", http.StatusRequestEntityTooLarge})
		return
	}
	o, ok := ops[name]
	if !ok {
		h.writeError(w, &awsError{"UnknownOperationException", "", http.StatusBadRequest})
		return
	}
	var t target
	json.Unmarshal(body, &t) // a malformed body is reported by the operation's own decoding
	call := &pipeline.Call{Protocol: "ecr", Action: o.action, RegistryID: t.RegistryID, Repository: t.RepositoryName}
	if len(t.Tags) > 0 {
		call.RequestTags = make(map[string]string, len(t.Tags))
		for _, tag := range t.Tags {
			call.RequestTags[tag.Key] = tag.Value
			call.TagKeys = append(call.TagKeys, tag.Key)
		}
	}
	call.TagKeys = append(call.TagKeys, t.TagKeys...)
	if t.ResourceArn != "" {
		if reg, repo, ok := parseRepositoryARN(t.ResourceArn); ok {
			call.RegistryID, call.Repository = reg, repo
		}
	}
	var out any
	err = h.Pipeline.Do(withBody(r, body), call, func(ctx context.Context) error {
		var err error
		out, err = o.run(h, ctx, call, body)
		return err
	})
	if err != nil {
		h.writeError(w, err)
		return
	}
	if changesPolicies[name] && h.PoliciesChanged != nil {
		h.PoliciesChanged()
	}
	data, err := json.Marshal(out)
	if err != nil {
		h.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// withBody lets the identify step read the body again.
func withBody(r *http.Request, body []byte) *http.Request {
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func parseRepositoryARN(arn string) (registryID, name string, ok bool) {
	// arn:aws:ecr:<region>:<account>:repository/<name>
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecr" {
		return "", "", false
	}
	name, ok = strings.CutPrefix(parts[5], "repository/")
	return parts[4], name, ok && name != ""
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
