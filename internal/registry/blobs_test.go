package registry_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// failingReader returns its bytes, then an error: a PATCH whose connection breaks midway.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		err = errors.New("connection reset by peer")
	}
	return n, err
}

// appendToUploadFile adds bytes to an upload's file behind the core's back, as a server killed in the
// middle of writing a chunk (or an append that failed and could not truncate) leaves them.
func appendToUploadFile(t *testing.T, e *env, id string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(e.dir, "uploads", id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readBlob reads a blob of a repository whole and checks it against its size.
func readBlob(t *testing.T, e *env, registryID, repo string, d digest.Digest) []byte {
	t.Helper()
	info, rc, err := e.svc.OpenBlob(ctx, registryID, repo, d)
	if err != nil {
		t.Fatalf("OpenBlob %s in %s: %v", d, repo, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != info.Size {
		t.Fatalf("blob %s in %s: %d bytes served, %d recorded", d, repo, len(b), info.Size)
	}
	return b
}

// TestUploadCannotReplaceAnotherAccountsBlob: a pusher of account A uploads the bytes of a layer account B
// stores, then bytes the session never records (a chunk whose connection breaks, and bytes a server killed
// mid-chunk wrote), and completes the upload under the layer's digest without a body. B's layer keeps its
// bytes, and whatever A's repository gets hashes to the digest. The same for a layer nobody stored yet,
// and for the empty blob.
func TestUploadCannotReplaceAnotherAccountsBlob(t *testing.T) {
	const accountA, accountB = "111111111111", "222222222222"
	layer := bytes.Repeat([]byte("public base layer "), 60000) // about 1 MiB
	attack := bytes.Repeat([]byte("attacker"), 1<<17)          // 1 MiB
	for _, c := range []struct {
		name    string
		content []byte
		stored  bool // B holds the blob before A's upload
	}{
		{"stored layer", layer, true},
		{"new layer", layer, false},
		{"stored empty blob", nil, true},
		{"new empty blob", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, registry.Config{})
			for _, r := range []store.Repository{{RegistryID: accountA, Name: "dev"}, {RegistryID: accountB, Name: "prod"}} {
				if _, err := e.svc.CreateRepository(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			d := digest.FromBytes(c.content)
			if c.stored {
				if _, err := e.svc.PutBlob(ctx, accountB, "prod", d, bytes.NewReader(c.content)); err != nil {
					t.Fatal(err)
				}
			}

			st, err := e.svc.StartUpload(ctx, accountA, "dev")
			if err != nil {
				t.Fatal(err)
			}
			if len(c.content) > 0 {
				if st, err = e.svc.WriteUpload(ctx, accountA, "dev", st.ID, 0, bytes.NewReader(c.content)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.svc.WriteUpload(ctx, accountA, "dev", st.ID, st.Offset, failingReader{bytes.NewReader(attack)}); err == nil {
				t.Fatal("a chunk whose connection broke was accepted")
			}
			appendToUploadFile(t, e, st.ID, attack)
			if got, _ := e.svc.UploadStatus(ctx, accountA, "dev", st.ID); got.Offset != int64(len(c.content)) {
				t.Fatalf("upload offset %d, want %d", got.Offset, len(c.content))
			}

			info, err := e.svc.CompleteUpload(ctx, accountA, "dev", st.ID, d, registry.AppendAtEnd, nil)
			if c.stored {
				if got := readBlob(t, e, accountB, "prod", d); !bytes.Equal(got, c.content) {
					t.Fatalf("B's blob now serves %d bytes, not its %d", len(got), len(c.content))
				}
			}
			if err != nil {
				return // refusing the commit is safe too
			}
			if info.Size != int64(len(c.content)) {
				t.Fatalf("CompleteUpload recorded %d bytes, want %d", info.Size, len(c.content))
			}
			if got := readBlob(t, e, accountA, "dev", d); digest.FromBytes(got) != d {
				t.Fatalf("A's repository links %s holding %d bytes that hash to %s", d, len(got), digest.FromBytes(got))
			}
		})
	}
}

// TestUploadDigestCoversRecordedBytesOnly: a digest other than the one an upload was hashed with is
// computed by reading the upload back, and only its recorded bytes count: bytes after them neither make a
// digest match nor reach the blob.
func TestUploadDigestCoversRecordedBytesOnly(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	recorded, extra := []byte("recorded layer bytes"), []byte(" and bytes nobody recorded")
	whole := append(append([]byte(nil), recorded...), extra...)

	st, _ := e.svc.StartUpload(ctx, reg, "app")
	if _, err := e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, bytes.NewReader(recorded)); err != nil {
		t.Fatal(err)
	}
	appendToUploadFile(t, e, st.ID, extra)
	dWhole := digest.SHA512.FromBytes(whole)
	_, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, dWhole, registry.AppendAtEnd, nil)
	if err == nil {
		got := readBlob(t, e, reg, "app", dWhole)
		t.Fatalf("the digest of recorded and unrecorded bytes matched; the blob holds %d bytes hashing to %s",
			len(got), digest.SHA512.FromBytes(got))
	}
	wantKind(t, err, registry.KindDigestInvalid)

	st, _ = e.svc.StartUpload(ctx, reg, "app")
	if _, err := e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, bytes.NewReader(recorded)); err != nil {
		t.Fatal(err)
	}
	appendToUploadFile(t, e, st.ID, extra)
	d := digest.SHA512.FromBytes(recorded)
	if _, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, d, registry.AppendAtEnd, nil); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, e, reg, "app", d); !bytes.Equal(got, recorded) {
		t.Fatalf("the blob holds %q", got)
	}
}

// TestUploadMissingRecordedBytesIsRefused: an upload file that lost bytes its session recorded (a crash
// before they reached the disk) completes to no blob, with an error that tells the client to start again.
func TestUploadMissingRecordedBytesIsRefused(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	data := []byte("bytes of which the disk lost the second half")
	for _, d := range []digest.Digest{digest.FromBytes(data), digest.SHA512.FromBytes(data)} {
		st, _ := e.svc.StartUpload(ctx, reg, "app")
		if _, err := e.svc.WriteUpload(ctx, reg, "app", st.ID, 0, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(e.dir, "uploads", st.ID), int64(len(data)/2)); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.CompleteUpload(ctx, reg, "app", st.ID, d, registry.AppendAtEnd, nil)
		wantKind(t, err, registry.KindUploadInvalid)
		_, err = e.svc.StatBlob(ctx, reg, "app", d)
		wantKind(t, err, registry.KindBlobUnknown)
		if _, err := e.blobs.Stat(ctx, d); err == nil {
			t.Fatalf("blob %s stored from a damaged upload", d)
		}
	}
}
