package registry_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// hookedBlobs runs a function, once, while the next upload's bytes are being stored.
type hookedBlobs struct {
	blob.Store
	mu     sync.Mutex
	during func()
}

func (h *hookedBlobs) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	h.mu.Lock()
	fn := h.during
	h.during = nil
	h.mu.Unlock()
	if fn != nil {
		fn()
	}
	return h.Store.Append(ctx, id, offset, r)
}

// hookedMeta runs a function, once, before the next update transaction.
type hookedMeta struct {
	store.Store
	mu     sync.Mutex
	before func()
}

func (h *hookedMeta) Update(ctx context.Context, fn func(store.Tx) error) error {
	h.mu.Lock()
	hook := h.before
	h.before = nil
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	return h.Store.Update(ctx, fn)
}

// TestPushRacingRepositoryDeletion: a push whose repository is deleted while it runs is told the
// repository does not exist — not an internal error ("store: not found"), and not a throttling answer
// about garbage collection that never ran.
func TestPushRacingRepositoryDeletion(t *testing.T) {
	e := newEnv(t, registry.Config{})
	blobs := &hookedBlobs{Store: e.blobs}
	meta := &hookedMeta{Store: e.meta}
	svc := registry.New(meta, blobs, e.clock, e.cfg, nil)
	defer svc.Close()
	deleteRepo := func() {
		if _, err := svc.DeleteRepository(ctx, reg, "app", true); err != nil {
			t.Errorf("DeleteRepository: %v", err)
		}
	}
	recreate := func() { e.repo(t, "app", "") }
	content := "layer bytes"
	d := digest.FromString(content)

	recreate()
	blobs.during = deleteRepo
	_, err := svc.PutBlob(ctx, reg, "app", d, strings.NewReader(content))
	wantKind(t, err, registry.KindRepositoryNotFound)

	recreate()
	st, err := svc.StartUpload(ctx, reg, "app")
	if err != nil {
		t.Fatal(err)
	}
	blobs.during = deleteRepo
	_, err = svc.WriteUpload(ctx, reg, "app", st.ID, registry.AppendAtEnd, strings.NewReader(content))
	wantKind(t, err, registry.KindRepositoryNotFound)

	recreate()
	if st, err = svc.StartUpload(ctx, reg, "app"); err != nil {
		t.Fatal(err)
	}
	blobs.during = deleteRepo
	_, err = svc.CompleteUpload(ctx, reg, "app", st.ID, d, registry.AppendAtEnd, strings.NewReader(content))
	wantKind(t, err, registry.KindRepositoryNotFound)

	recreate()
	cfg := e.blob(t, "app", "config")
	layer := e.blob(t, "app", content)
	meta.before = deleteRepo
	_, err = svc.PutManifest(ctx, reg, "app", "v1", "", imageManifest(cfg, layer))
	wantKind(t, err, registry.KindRepositoryNotFound)

	recreate()
	meta.before = deleteRepo
	_, err = svc.StartUpload(ctx, reg, "app")
	wantKind(t, err, registry.KindRepositoryNotFound)
}

// TestPushSeesMutabilityChangedMeanwhile: tag immutability is read in the transaction that moves the tag,
// so a PutImageTagMutability that lands while a push is under way holds.
func TestPushSeesMutabilityChangedMeanwhile(t *testing.T) {
	e := newEnv(t, registry.Config{})
	meta := &hookedMeta{Store: e.meta}
	svc := registry.New(meta, e.blobs, e.clock, e.cfg, nil)
	defer svc.Close()
	e.repo(t, "app", registry.Mutable)
	e.push(t, "app", "v1", "1")
	cfg := e.blob(t, "app", "config 2")
	layer := e.blob(t, "app", "layer 2")
	meta.before = func() {
		if _, err := svc.UpdateRepository(ctx, reg, "app", func(r *registry.Repository) { r.TagMutability = registry.Immutable }); err != nil {
			t.Error(err)
		}
	}
	_, err := svc.PutManifest(ctx, reg, "app", "v1", "", imageManifest(cfg, layer))
	if !errors.Is(err, registry.ErrImageTagExists) {
		t.Fatalf("moved v1 on a repository made immutable meanwhile: %v", err)
	}
}

// fullBlobs refuses writes for want of space while full is set, as a file system does (ENOSPC), after
// writing part of the bytes.
type fullBlobs struct {
	blob.Store
	full atomic.Bool
}

func (f *fullBlobs) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	if f.full.Load() {
		io.CopyN(io.Discard, r, 3)
		return 0, &os.PathError{Op: "write", Path: id, Err: syscall.ENOSPC}
	}
	return f.Store.Append(ctx, id, offset, r)
}

// TestStorageFull: a full disk is said so — not an internal error the clients retry at once — and the
// upload it interrupted continues and completes once there is space again.
func TestStorageFull(t *testing.T) {
	e := newEnv(t, registry.Config{})
	blobs := &fullBlobs{Store: e.blobs}
	svc := registry.New(e.meta, blobs, e.clock, e.cfg, nil)
	defer svc.Close()
	e.repo(t, "app", "")
	st, err := svc.StartUpload(ctx, reg, "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.WriteUpload(ctx, reg, "app", st.ID, registry.AppendAtEnd, strings.NewReader("first ")); err != nil {
		t.Fatal(err)
	}
	blobs.full.Store(true)
	_, err = svc.WriteUpload(ctx, reg, "app", st.ID, registry.AppendAtEnd, strings.NewReader("second"))
	wantKind(t, err, registry.KindStorageFull)
	_, err = svc.PutBlob(ctx, reg, "app", digest.FromString("other"), strings.NewReader("other"))
	wantKind(t, err, registry.KindStorageFull)

	blobs.full.Store(false) // space again: the upload stands where it stood
	if cur, err := svc.UploadStatus(ctx, reg, "app", st.ID); err != nil || cur.Offset != 6 {
		t.Fatalf("upload after the failed chunk: %+v %v", cur, err)
	}
	if _, err := svc.CompleteUpload(ctx, reg, "app", st.ID, digest.FromString("first second"), registry.AppendAtEnd, strings.NewReader("second")); err != nil {
		t.Fatal(err)
	}
	rc, err := e.blobs.Open(ctx, digest.FromString("first second"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if data, _ := io.ReadAll(rc); string(data) != "first second" {
		t.Fatalf("blob %q", data)
	}
}
