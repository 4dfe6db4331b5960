// Package oci serves the OCI Distribution API and the Docker Registry HTTP API v2 (/v2/…) over the
// registry core. It parses requests, runs them through the pipeline and writes responses; every rule
// lives in the core.
package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// Handler serves /v2/.
type Handler struct {
	Service  *registry.Service
	Pipeline *pipeline.Pipeline
	// RegistryFor tells which registry (account) a request addresses, from its host.
	RegistryFor func(r *http.Request) string
	// Challenge is the WWW-Authenticate value sent with 401 answers.
	Challenge string
	Log       *slog.Logger
	log       *slog.Logger
}

// route is a parsed /v2/ path.
type route struct {
	kind   string // ping, catalog, tags, manifest, blob, uploads, upload, referrers
	name   string
	ref    string // tag or digest, blob digest, upload id
	action string
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

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.log == nil {
		h.log = h.Log
		if h.log == nil {
			h.log = slog.Default()
		}
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.Method, r.URL.EscapedPath())
	if !ok {
		writeErrorCode(w, "NAME_INVALID", "no such endpoint: "+r.URL.Path, nil, http.StatusNotFound)
		return
	}
	if rt.name != "" {
		if err := registry.ValidateRepositoryName(rt.name); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	call := &pipeline.Call{Protocol: "oci", Action: rt.action, RegistryID: h.RegistryFor(r), Repository: rt.name}
	if rt.kind == "uploads" && r.Method == http.MethodPost {
		call.Source = r.URL.Query().Get("from")
	}
	err := h.Pipeline.Do(r, call, func(ctx context.Context) error {
		return h.serve(ctx, w, r, rt, call)
	})
	if err != nil {
		h.writeError(w, r, err)
	}
}

// serve runs the operation; it writes the success response and returns any error unwritten.
func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route, call *pipeline.Call) error {
	m, reg := r.Method, call.RegistryID
	switch rt.kind {
	case "ping":
		if m != http.MethodGet && m != http.MethodHead {
			return unsupported(m)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if m == http.MethodGet {
			io.WriteString(w, "{}")
		}
		return nil
	case "catalog":
		if m != http.MethodGet {
			return unsupported(m)
		}
		return h.catalog(ctx, w, r, call)
	case "tags":
		if m != http.MethodGet {
			return unsupported(m)
		}
		return h.tags(ctx, w, r, reg, rt.name)
	case "manifest":
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getManifest(ctx, w, r, reg, rt)
		case http.MethodPut:
			return h.putManifest(ctx, w, r, reg, rt)
		case http.MethodDelete:
			return h.deleteManifest(ctx, w, reg, rt)
		}
	case "referrers":
		if m != http.MethodGet {
			return unsupported(m)
		}
		return h.referrers(ctx, w, r, reg, rt)
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
		if m != http.MethodPost {
			return unsupported(m)
		}
		return h.postUpload(ctx, w, r, call, rt)
	case "upload":
		switch m {
		case http.MethodGet:
			st, err := h.Service.UploadStatus(ctx, reg, rt.name, rt.ref)
			if err != nil {
				return err
			}
			h.uploadHeaders(w, rt.name, st)
			w.WriteHeader(http.StatusNoContent)
			return nil
		case http.MethodPatch:
			return h.patchUpload(ctx, w, r, reg, rt)
		case http.MethodPut:
			return h.putUpload(ctx, w, r, reg, rt)
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

func (h *Handler) getManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, reg string, rt route) error {
	info, err := h.Service.GetManifest(ctx, reg, rt.name, rt.ref, r.Method == http.MethodGet)
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

func (h *Handler) putManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, reg string, rt route) error {
	limit := h.Service.Limits().ManifestSize
	if r.ContentLength > limit {
		return &registry.Error{Kind: registry.KindSizeInvalid, Message: fmt.Sprintf("manifest of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return err
	}
	res, err := h.Service.PutManifest(ctx, reg, rt.name, rt.ref, r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Location", "/v2/"+rt.name+"/manifests/"+res.Digest.String())
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

// pageParams reads n and last; n < 0 means no limit was asked for.
func pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	n = -1
	if s := q.Get("n"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 0 {
			return 0, "", &registry.Error{Kind: registry.KindUnsupported, Message: "n must be a non-negative integer"}
		}
	}
	return n, q.Get("last"), nil
}

const maxPage = 10000

func (h *Handler) writePage(w http.ResponseWriter, path string, n int, next string, more bool, body any) {
	if more && next != "" {
		q := url.Values{"n": {strconv.Itoa(n)}, "last": {next}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
	}
	writeJSON(w, "application/json", http.StatusOK, body)
}

func (h *Handler) tags(ctx context.Context, w http.ResponseWriter, r *http.Request, reg, name string) error {
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	asked := n
	if n < 0 || n > maxPage {
		n = maxPage
	}
	tags := []string{}
	more := false
	if n > 0 {
		if tags, more, err = h.Service.ListTags(ctx, reg, name, last, n); err != nil {
			return err
		}
	} else if _, err := h.Service.Repository(ctx, reg, name); err != nil {
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
	h.writePage(w, "/v2/"+name+"/tags/list", asked, next, more, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
	return nil
}

func (h *Handler) catalog(ctx context.Context, w http.ResponseWriter, r *http.Request, call *pipeline.Call) error {
	reg := call.RegistryID
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	if n < 0 || n > maxPage {
		n = maxPage
	}
	repos := []string{}
	more := false
	if n > 0 {
		var page []string
		if page, more, err = h.Service.Catalog(ctx, reg, last, n); err != nil {
			return err
		}
		for _, name := range page {
			if h.Pipeline.Permits(ctx, call, "ecr:DescribeRepositories", name) {
				repos = append(repos, name)
			}
		}
		if len(page) > 0 {
			last = page[len(page)-1] // the next page starts after the last name read, shown or not
		}
	}
	h.writePage(w, "/v2/_catalog", n, last, more, struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

func (h *Handler) referrers(ctx context.Context, w http.ResponseWriter, r *http.Request, reg string, rt route) error {
	d, err := registry.ParseDigest(rt.ref)
	if err != nil {
		return err
	}
	at := r.URL.Query().Get("artifactType")
	descs, err := h.Service.Referrers(ctx, reg, rt.name, d, at)
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
