package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

var specsVersioned = specs.Versioned{SchemaVersion: 2}

// redirectTTL is how long the presigned URL of a blob redirect works: long enough for a slow pull to start.
const redirectTTL = 20 * time.Minute

func (h *Handler) getBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, reg string, rt route) error {
	d, err := registry.ParseDigest(rt.ref)
	if err != nil {
		return err
	}
	hd := w.Header()
	if r.Method == http.MethodHead {
		info, err := h.Service.StatBlob(ctx, reg, rt.name, d)
		if err != nil {
			return err
		}
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		hd.Set("Docker-Content-Digest", d.String())
		hd.Set("Etag", `"`+d.String()+`"`)
		hd.Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	// With an object store behind, the bytes come from it directly: a redirect to a presigned URL. A
	// range the blob cannot satisfy is answered here, as object stores ignore ranges they cannot parse.
	if u, info, err := h.Service.BlobURL(ctx, reg, rt.name, d, redirectTTL); err != nil {
		return err
	} else if u != "" {
		if rg := r.Header.Get("Range"); rg != "" && !satisfiable(rg, info.Size) {
			hd.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return nil
		}
		hd.Set("Docker-Content-Digest", d.String())
		http.Redirect(w, r, u, http.StatusTemporaryRedirect)
		h.Service.CountBytesPulled(reg, rt.name, info.Size) // the blob store serves them: the whole blob
		return nil
	}
	_, rc, err := h.Service.OpenBlob(ctx, reg, rt.name, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Etag", `"`+d.String()+`"`)
	hd.Set("Cache-Control", "max-age=31536000")
	// ServeContent answers Range and If-None-Match; an *os.File goes out with sendfile.
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", time.Time{}, rc)
	h.Service.CountBytesPulled(reg, rt.name, cw.n)
	return nil
}

// countingWriter counts the body bytes written through it (usage's bytes pulled), keeping the ReadFrom
// (sendfile) of the writer it wraps.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(w.ResponseWriter, r)
	w.n += n
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// satisfiable tells whether a Range header names at least one byte of a blob of size bytes: bytes=a-b,
// bytes=a- or bytes=-n, or a list of them. Anything else is not satisfiable.
func satisfiable(header string, size int64) bool {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return false
	}
	for _, r := range strings.Split(spec, ",") {
		first, last, ok := strings.Cut(strings.TrimSpace(r), "-")
		if !ok {
			return false
		}
		if first == "" { // the last n bytes
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n <= 0 || size == 0 {
				return false
			}
			continue
		}
		a, err := strconv.ParseInt(first, 10, 64)
		if err != nil || a < 0 || a >= size {
			return false
		}
		if last != "" {
			if b, err := strconv.ParseInt(last, 10, 64); err != nil || b < a {
				return false
			}
		}
	}
	return true
}

func (h *Handler) uploadHeaders(w http.ResponseWriter, name string, st registry.UploadState) {
	hd := w.Header()
	hd.Set("Location", "/v2/"+name+"/blobs/uploads/"+st.ID)
	hd.Set("Docker-Upload-UUID", st.ID)
	end := st.Offset - 1
	if end < 0 {
		end = 0
	}
	hd.Set("Range", fmt.Sprintf("0-%d", end))
	hd.Set("Content-Length", "0")
}

func (h *Handler) blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	hd := w.Header()
	hd.Set("Location", "/v2/"+name+"/blobs/"+d.String())
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) postUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, in *request, call *pipeline.Call) error {
	reg, rt, q := call.RegistryID, in.route, in.query
	if q.Has("mount") {
		d, err := registry.ParseDigest(q.Get("mount"))
		if err != nil {
			return err
		}
		readable := func(repo string) bool { return h.Pipeline.Permits(ctx, call, "ecr:BatchGetImage", repo) }
		_, err = h.Service.MountBlob(ctx, reg, rt.name, d, in.mount, readable)
		if err == nil {
			h.blobCreated(w, rt.path, d)
			return nil
		}
		if !errors.Is(err, registry.ErrBlobUnknown) {
			return err
		}
		// Not mountable: the client uploads it instead, in the session opened below.
	}
	if q.Has("digest") {
		d, err := registry.ParseDigest(q.Get("digest"))
		if err != nil {
			return err
		}
		if _, err := h.Service.PutBlob(ctx, reg, rt.name, d, r.Body); err != nil {
			return err
		}
		h.blobCreated(w, rt.path, d)
		return nil
	}
	st, err := h.Service.StartUpload(ctx, reg, rt.name)
	if err != nil {
		return err
	}
	h.uploadHeaders(w, rt.path, st)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// chunkStart reads Content-Range ("start-end", inclusive) and checks it against Content-Length.
// Without the header the chunk goes at the end of the upload.
func chunkStart(r *http.Request) (int64, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return registry.AppendAtEnd, nil
	}
	spec := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(cr, "bytes"), "="))
	spec = strings.TrimSpace(strings.TrimSuffix(spec, "/*"))
	a, b, ok := strings.Cut(spec, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	bad := &registry.Error{Kind: registry.KindRangeInvalid, Message: fmt.Sprintf("invalid Content-Range %q", cr)}
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, bad
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return 0, &registry.Error{Kind: registry.KindRangeInvalid,
			Message: fmt.Sprintf("Content-Range %q covers %d bytes but Content-Length is %d", cr, end-start+1, r.ContentLength)}
	}
	return start, nil
}

func (h *Handler) patchUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, reg string, rt route) error {
	start, err := chunkStart(r)
	if err == nil {
		var st registry.UploadState
		if st, err = h.Service.WriteUpload(ctx, reg, rt.name, rt.ref, start, r.Body); err == nil {
			h.uploadHeaders(w, rt.path, st)
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
	}
	if errors.Is(err, registry.ErrRangeInvalid) {
		// Tell the client where the upload stands so it can resume.
		if st, serr := h.Service.UploadStatus(ctx, reg, rt.name, rt.ref); serr == nil {
			h.uploadHeaders(w, rt.path, st)
		}
	}
	return err
}

func (h *Handler) putUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, in *request, reg string) error {
	rt := in.route
	d, err := registry.ParseDigest(in.query.Get("digest"))
	if err != nil {
		return err
	}
	var body io.Reader
	start := registry.AppendAtEnd
	if r.ContentLength != 0 {
		if start, err = chunkStart(r); err != nil {
			return err
		}
		body = r.Body
	}
	if _, err := h.Service.CompleteUpload(ctx, reg, rt.name, rt.ref, d, start, body); err != nil {
		return err
	}
	h.blobCreated(w, rt.path, d)
	return nil
}
