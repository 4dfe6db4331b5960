// Package oci serves the OCI Distribution API and the Docker Registry HTTP API v2 (/v2/…) over the
// registry core. It parses requests, runs them through the pipeline and writes responses; every rule
// lives in the core.
package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/address"
	"github.com/wharf-dev/wharf/internal/bodylimit"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Handler serves /v2/.
type Handler struct {
	Service  *registry.Service
	Identity *identity.Service
	Pipeline *pipeline.Pipeline
	// Bodies reads manifests under the server's memory budget for bodies held whole.
	Bodies *bodylimit.Reader
	// Addresses tells which registry (account) and repository a request addresses, from its host and path.
	Addresses *address.Book
}

// route is a parsed /v2/ path.
type route struct {
	kind   string // ping, catalog, tags, manifest, blob, uploads, upload, referrers
	name   string // the repository, in the registry the request addresses
	path   string // the repository as the path names it (with an account prefix), for URLs answered back
	ref    string // tag or digest, blob digest, upload id
	action string
}

// methods lists the methods each kind of route answers.
var methods = map[string][]string{
	"ping":      {http.MethodGet, http.MethodHead},
	"catalog":   {http.MethodGet},
	"tags":      {http.MethodGet},
	"manifest":  {http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete},
	"referrers": {http.MethodGet},
	"blob":      {http.MethodGet, http.MethodHead, http.MethodDelete},
	"uploads":   {http.MethodPost},
	"upload":    {http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete},
}

// parseRoute reads a /v2/ path from its end, since repository names contain slashes.
func parseRoute(method, path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, path == "/v2"
	}
	if rest == "" {
		return route{kind: "ping"}, true
	}
	if rest == "_catalog" {
		// Any identified caller may list; the listing holds the repositories it may describe.
		return route{kind: "catalog"}, true
	}
	// Split the escaped path so an encoded slash stays inside its segment, then unescape each segment.
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		u, err := url.PathUnescape(s)
		if err != nil {
			return route{}, false
		}
		seg[i] = u
	}
	n := len(seg)
	name := func(k int) string { return strings.Join(seg[:n-k], "/") }
	switch {
	case n >= 3 && seg[n-2] == "tags" && seg[n-1] == "list":
		return route{kind: "tags", name: name(2), action: "ecr:ListImages"}, true
	case n >= 3 && seg[n-2] == "manifests":
		r := route{kind: "manifest", name: name(2), ref: seg[n-1]}
		switch method {
		case http.MethodPut:
			r.action = "ecr:PutImage"
		case http.MethodDelete:
			r.action = "ecr:BatchDeleteImage"
		default:
			r.action = "ecr:BatchGetImage"
		}
		return r, true
	case n >= 3 && seg[n-2] == "referrers":
		return route{kind: "referrers", name: name(2), ref: seg[n-1], action: "ecr:BatchGetImage"}, true
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		r := route{kind: "uploads", name: name(3), ref: seg[n-1]}
		switch {
		case r.ref == "":
			r.action = "ecr:InitiateLayerUpload"
		case method == http.MethodPut:
			r.kind, r.action = "upload", "ecr:CompleteLayerUpload"
		default:
			r.kind, r.action = "upload", "ecr:UploadLayerPart"
		}
		return r, true
	case n >= 3 && seg[n-2] == "blobs":
		r := route{kind: "blob", name: name(2), ref: seg[n-1]}
		switch method {
		case http.MethodDelete:
			r.action = "ecr:BatchDeleteImage"
		case http.MethodHead:
			r.action = "ecr:BatchCheckLayerAvailability"
		default:
			r.action = "ecr:GetDownloadUrlForLayer"
		}
		return r, true
	}
	return route{}, false
}

// request is a registry request's input, decoded once from its path and query.
type request struct {
	route
	query url.Values
	n     int // a listing's page size, -1 when not asked for
	// mount is the repository a cross-repository mount asks to mount from ("" when none is asked,
	// or one in another registry, which is uploaded instead).
	mount string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.Method, r.URL.EscapedPath())
	if !ok {
		writeErrorCode(w, "NOT_FOUND", "no such endpoint: "+r.URL.Path, nil, http.StatusNotFound)
		return
	}
	if !slices.Contains(methods[rt.kind], r.Method) {
		w.Header().Set("Allow", strings.Join(methods[rt.kind], ", "))
		writeErrorCode(w, "UNSUPPORTED", "method "+r.Method+" is not supported here", nil, http.StatusMethodNotAllowed)
		return
	}
	reg, name, prefix := h.Addresses.Resolve(r.Host, rt.name)
	rt.name, rt.path = name, prefix+name
	call := &pipeline.Call{RequestID: pipeline.RequestID(r.Context()), Protocol: "oci", RegistryID: reg, SourceIP: pipeline.SourceIP(r.RemoteAddr),
		UserAgent: r.UserAgent(), Origin: address.From(r.TLS != nil, r.Host), Credential: h.credential(r, reg), ErrorCode: ErrorCode}
	in := &request{route: rt}
	op := pipeline.Op{
		Action: rt.action,
		Decode: func() (any, error) {
			return in, in.decode(r.URL.RawQuery, func(from string) (string, bool) {
				acct, repo, _ := h.Addresses.Resolve(r.Host, from)
				return repo, acct == reg
			})
		},
		Resolve: func(c *pipeline.Call) ([]pipeline.Target, error) {
			return in.targets(c)
		},
		Run: func(ctx context.Context, c *pipeline.Call) error { return h.serve(ctx, w, r, in, c) },
	}
	ctx := r.Context()
	if source := r.Header.Get(ReplicationHeader); source != "" {
		ctx = registry.WithReplication(ctx, source)
	}
	if err := h.Pipeline.Do(ctx, call, op); err != nil {
		h.writeError(w, r, err)
	}
}

// ReplicationHeader marks a request as a replication pushed by another region's deployment (its value,
// the source region): a missing repository is created as a replication's destination is, and in another
// account's registry only the pushes its registry policy allows as ecr:ReplicateImage are authorized.
const ReplicationHeader = "X-Wharf-Replication"

// decode reads the query and checks the route's names; sameRegistry reads a mount's source name.
func (in *request) decode(rawQuery string, sameRegistry func(from string) (string, bool)) error {
	if rawQuery != "" {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return &registry.Error{Kind: registry.KindInvalidParameter, Message: "malformed query: " + err.Error()}
		}
		in.query = q
	}
	in.n = -1
	if s := in.query.Get("n"); s != "" && (in.kind == "tags" || in.kind == "catalog") {
		var err error
		if in.n, err = strconv.Atoi(s); err != nil || in.n < 0 {
			return &wireError{"PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "n must be a non-negative integer"}
		}
	}
	if in.kind == "ping" || in.kind == "catalog" {
		return nil
	}
	if err := registry.ValidateRepositoryName(in.name); err != nil {
		return err
	}
	if from := in.query.Get("from"); in.kind == "uploads" && in.query.Has("mount") && from != "" {
		if repo, ok := sameRegistry(from); ok {
			if err := registry.ValidateRepositoryName(repo); err != nil {
				return err
			}
			in.mount = repo
		}
	}
	return nil
}

// AuditKey implements audit.AuditKeyer: the trail works the pulls of one image out once, not per pull.
// With the action and the registry, the key determines the summary and the targets (the repository, and
// the one a mount is from).
func (in *request) AuditKey() [4]string {
	k := [4]string{in.kind, auditCut(in.name), auditCut(in.ref), in.mount}
	switch in.kind {
	case "uploads":
		k[3] += "\x00" + auditCut(in.query.Get("mount"))
	case "upload":
		k[3] = auditCut(in.query.Get("digest"))
	case "tags":
		k[3] = strconv.Itoa(in.n)
	}
	return k
}

// auditCut is a request's name, reference or digest as the audit trail records it: no valid one is longer
// than 300 bytes, an invalid one (a URL may be about a megabyte long) is cut there.
func auditCut(s string) string {
	if len(s) <= 300 {
		return s
	}
	return strings.ToValidUTF8(s[:300], "")
}

// AuditSummary implements pipeline.Summarizer: a registry request is recorded with the parameters of the
// ECR action it is, as ECR records registry traffic.
func (in *request) AuditSummary() any {
	if in.kind == "ping" || in.kind == "catalog" {
		return nil
	}
	p := map[string]any{"repositoryName": auditCut(in.name)}
	imageID := func(ref string) map[string]string {
		ref = auditCut(ref)
		if registry.IsDigest(ref) {
			return map[string]string{"imageDigest": ref}
		}
		return map[string]string{"imageTag": ref}
	}
	switch in.kind {
	case "manifest", "referrers":
		switch in.action {
		case "ecr:PutImage":
			for k, v := range imageID(in.ref) {
				p[k] = v
			}
		default:
			p["imageIds"] = []map[string]string{imageID(in.ref)}
		}
	case "blob":
		if in.action == "ecr:BatchCheckLayerAvailability" {
			p["layerDigests"] = []string{auditCut(in.ref)}
		} else {
			p["layerDigest"] = auditCut(in.ref)
		}
	case "uploads":
		if in.mount != "" {
			p["mount"], p["from"] = auditCut(in.query.Get("mount")), in.mount
		}
	case "upload":
		p["uploadId"] = auditCut(in.ref)
		if d := auditCut(in.query.Get("digest")); d != "" {
			p["layerDigests"] = []string{d}
		}
	case "tags":
		if in.n >= 0 {
			p["maxResults"] = in.n
		}
	}
	return p
}

// targets names what the request acts on: its repository, with the ECR action of its route, and for a
// cross-repository mount the repository it mounts from, which the caller must be able to read. The ping
// and the catalog act on nothing: any identified caller may call them (the catalog lists only what the
// caller may describe).
func (in *request) targets(c *pipeline.Call) ([]pipeline.Target, error) {
	if in.kind == "ping" || in.kind == "catalog" {
		return nil, nil
	}
	ts := []pipeline.Target{pipeline.Repository(in.action, c.RegistryID, in.name)}
	if in.mount != "" && in.mount != in.name {
		ts = append(ts, pipeline.Repository("ecr:BatchGetImage", c.RegistryID, in.mount))
	}
	return ts, nil
}

// serve runs the operation; it writes the success response and returns any error unwritten.
func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, in *request, call *pipeline.Call) error {
	m, reg, rt := r.Method, call.RegistryID, in.route
	switch rt.kind {
	case "ping":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if m == http.MethodGet {
			io.WriteString(w, "{}")
		}
		return nil
	case "catalog":
		return h.catalog(ctx, w, r, in, call)
	case "tags":
		return h.tags(ctx, w, in, reg)
	case "manifest":
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getManifest(ctx, w, r, call, rt)
		case http.MethodPut:
			return h.putManifest(ctx, w, r, call, rt)
		case http.MethodDelete:
			return h.deleteManifest(ctx, w, reg, rt)
		}
	case "referrers":
		return h.referrers(ctx, w, in, reg)
	case "blob":
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getBlob(ctx, w, r, reg, rt)
		case http.MethodDelete:
			d, err := registry.ParseDigest(rt.ref)
			if err != nil {
				return err
			}
			if err := h.Service.DeleteBlob(ctx, reg, rt.name, d); err != nil {
				return err
			}
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
	case "uploads":
		return h.postUpload(ctx, w, r, in, call)
	case "upload":
		switch m {
		case http.MethodGet:
			st, err := h.Service.UploadStatus(ctx, reg, rt.name, rt.ref)
			if err != nil {
				return err
			}
			h.uploadHeaders(w, rt.path, st)
			w.WriteHeader(http.StatusNoContent)
			return nil
		case http.MethodPatch:
			return h.patchUpload(ctx, w, r, reg, rt)
		case http.MethodPut:
			return h.putUpload(ctx, w, r, in, reg)
		case http.MethodDelete:
			if err := h.Service.CancelUpload(ctx, reg, rt.name, rt.ref); err != nil {
				return err
			}
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return unsupported(m)
}

func unsupported(method string) error {
	return &registry.Error{Kind: registry.KindUnsupported, Message: "method " + method + " is not supported here"}
}

// --- manifests ---

func (h *Handler) getManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, call *pipeline.Call, rt route) error {
	reg := call.RegistryID
	var pulledBy []string // a pull updates the image's last pull time; a HEAD request does not
	if r.Method == http.MethodGet {
		pulledBy = []string{call.Caller.ARN(), call.Caller.RoleARN()}
	}
	info, err := h.Service.GetManifestAs(ctx, reg, rt.name, rt.ref, accepted(r), pulledBy)
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", info.MediaType)
	hd.Set("Docker-Content-Digest", info.Digest.String())
	hd.Set("Etag", `"`+info.Digest.String()+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(info.Content)))
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, info.Digest.String()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(info.Content)
	}
	return nil
}

// accepted lists the manifest media types a pull accepts. A request with no Accept header is taken as
// Docker 1.9's and older, which send none and understand schema 1 only (so ECR and Distribution answer
// them); one whose Accept names no media type accepts anything.
func accepted(r *http.Request) []string {
	vals := r.Header.Values("Accept")
	if len(vals) == 0 {
		return []string{manifest.DockerSchema1JWS, manifest.DockerSchema1}
	}
	var out []string
	for _, v := range vals {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			if mt, ok := acceptable(part); ok {
				out = append(out, mt)
			}
		}
	}
	return out
}

// acceptable reads one entry of an Accept header: its media type, lower-cased, unless it is malformed or
// has q=0 ("not acceptable"). Every pull reads the header: this allocates only for a type in upper case.
func acceptable(part string) (string, bool) {
	mt, params, _ := strings.Cut(part, ";")
	mt = strings.TrimSpace(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" || strings.ContainsAny(mt, " \t\"") {
		return "", false
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			if q, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && q <= 0 {
				return "", false
			}
		}
	}
	return strings.ToLower(mt), true
}

// maxDrain is how much of a refused body is read and dropped, so the client sees the answer.
const maxDrain = 64 << 20

func (h *Handler) putManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, call *pipeline.Call, rt route) error {
	reg, limit := call.RegistryID, h.Service.Limits().ManifestSize
	b, err := h.Bodies.Read(w, r, limit, call.Caller.ARN())
	bodylimit.Refused(w, r, err, maxDrain)
	var tl *bodylimit.TooLargeError
	switch {
	case errors.As(err, &tl):
		return &registry.Error{Kind: registry.KindSizeInvalid, Message: fmt.Sprintf("manifest of %s exceeds the limit of %d bytes", tl.Bytes(), limit)}
	case errors.Is(err, bodylimit.ErrBusy):
		return &registry.Error{Kind: registry.KindTooManyRequests, Message: "too many request bodies are being read; try again"}
	case err != nil:
		return registry.BodyUnreadable(err)
	}
	defer b.Release()
	body := b.Bytes
	res, err := h.Service.PutManifest(ctx, reg, rt.name, rt.ref, r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	imageID := map[string]string{"imageDigest": res.Digest.String()}
	if !registry.IsDigest(rt.ref) {
		imageID["imageTag"] = rt.ref
	}
	call.Output = map[string]any{"image": map[string]any{"registryId": reg, "repositoryName": rt.name, "imageId": imageID,
		"imageManifestMediaType": r.Header.Get("Content-Type")}}
	hd := w.Header()
	hd.Set("Location", "/v2/"+rt.path+"/manifests/"+res.Digest.String())
	hd.Set("Docker-Content-Digest", res.Digest.String())
	if res.Subject != "" {
		hd.Set("OCI-Subject", res.Subject.String())
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteManifest(ctx context.Context, w http.ResponseWriter, reg string, rt route) error {
	var err error
	if registry.IsDigest(rt.ref) {
		var d digest.Digest
		if d, err = registry.ParseDigest(rt.ref); err == nil {
			_, err = h.Service.DeleteManifest(ctx, reg, rt.name, d)
		}
	} else {
		_, err = h.Service.DeleteTag(ctx, reg, rt.name, rt.ref)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// --- listings ---

const maxPage = 10000

func (h *Handler) writePage(w http.ResponseWriter, path string, n int, next string, more bool, body any) {
	if more && next != "" {
		q := url.Values{"n": {strconv.Itoa(n)}, "last": {next}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
	}
	writeJSON(w, "application/json", http.StatusOK, body)
}

func (h *Handler) tags(ctx context.Context, w http.ResponseWriter, in *request, reg string) error {
	n, asked := in.n, in.n
	if n < 0 || n > maxPage {
		n = maxPage
	}
	tags := []string{}
	more := false
	var err error
	if n > 0 {
		if tags, more, err = h.Service.ListTags(ctx, reg, in.name, in.query.Get("last"), n); err != nil {
			return err
		}
	} else if _, err := h.Service.Repository(ctx, reg, in.name); err != nil {
		return err
	}
	if tags == nil {
		tags = []string{}
	}
	if asked < 0 {
		asked = n
	}
	next := ""
	if len(tags) > 0 {
		next = tags[len(tags)-1]
	}
	h.writePage(w, "/v2/"+in.path+"/tags/list", asked, next, more, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{in.path, tags})
	return nil
}

// catalog lists the repositories the caller may describe. A page is filled from as many names as it
// takes, and the next page starts after the last name shown: nothing in the answer, its Link header
// included, names a repository the caller may not see. Repositories are named as paths to the host the
// request was sent to name them, account prefix included, so each leads back to itself.
func (h *Handler) catalog(ctx context.Context, w http.ResponseWriter, r *http.Request, in *request, call *pipeline.Call) error {
	reg := call.RegistryID
	n := in.n
	if n < 0 || n > maxPage {
		n = maxPage
	}
	repos := []string{}
	after, more := in.query.Get("last"), false
	if after != "" {
		if acct, name, _ := h.Addresses.Resolve(r.Host, after); acct == reg {
			after = name
		}
	}
pages:
	for {
		page, pageMore, err := h.Service.Catalog(ctx, reg, after, max(n, 1))
		if err != nil {
			return err
		}
		for _, name := range page {
			if !h.Pipeline.Permits(ctx, call, "ecr:DescribeRepositories", name) {
				continue
			}
			if len(repos) == n { // a name the caller may see follows a full page
				more = true
				break pages
			}
			repos = append(repos, h.Addresses.PathOn(r.Host, reg, name))
		}
		if !pageMore {
			break
		}
		after = page[len(page)-1]
	}
	last := ""
	if len(repos) > 0 {
		last = repos[len(repos)-1]
	}
	h.writePage(w, "/v2/_catalog", n, last, more, struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

func (h *Handler) referrers(ctx context.Context, w http.ResponseWriter, in *request, reg string) error {
	d, err := registry.ParseDigest(in.ref)
	if err != nil {
		return err
	}
	at := in.query.Get("artifactType")
	descs, err := h.Service.Referrers(ctx, reg, in.name, d, at)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, ocispec.MediaTypeImageIndex, http.StatusOK, ocispec.Index{
		Versioned: specsVersioned,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs,
	})
	return nil
}

func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
