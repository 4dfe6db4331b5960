package registry

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
	"github.com/wharf-dev/wharf/internal/store"
)

// BlobInfo describes a blob visible in a repository.
type BlobInfo struct {
	Digest digest.Digest
	Size   int64
}

// UploadState is where an upload session stands.
type UploadState struct {
	ID     string
	Offset int64
	// SmallParts counts the chunks before the last that were smaller than the ECR API's minimum part.
	SmallParts int
}

// AppendAtEnd as a start offset appends a chunk wherever the upload stands (a streamed PATCH).
const AppendAtEnd int64 = -1

// StatBlob returns a blob visible in the repository. A blob of a repository under a pull through cache
// rule that another node is fetching into it is waited for (awaitFetchedBlob).
func (s *Service) StatBlob(ctx context.Context, registryID, name string, d digest.Digest) (BlobInfo, error) {
	info, cached, err := s.linkedBlob(ctx, registryID, name, d, true)
	if KindOf(err) == KindBlobUnknown {
		if b := s.inflight.blob(registryID, name, d); b != nil { // being pulled through the cache
			b.release()
			return BlobInfo{Digest: d, Size: b.desc.Size}, nil
		}
		if cached {
			return s.awaitFetchedBlob(ctx, registryID, name, d)
		}
	}
	return info, err
}

// storedBlob is StatBlob of the blobs stored (not those on their way through a pull through).
func (s *Service) storedBlob(ctx context.Context, registryID, name string, d digest.Digest) (BlobInfo, error) {
	info, _, err := s.linkedBlob(ctx, registryID, name, d, false)
	return info, err
}

// linkedBlob is storedBlob that, with rule, also tells for a blob unknown whether the repository is under
// a pull through cache rule (looked up only then).
func (s *Service) linkedBlob(ctx context.Context, registryID, name string, d digest.Digest, rule bool) (BlobInfo, bool, error) {
	var info BlobInfo
	var cached bool
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		b, err := tx.GetLinkedBlob(r.ID, d)
		if errors.Is(err, store.ErrNotFound) {
			if rule {
				under, _, err := ruleFor(tx, registryID, name)
				if err != nil {
					return err
				}
				cached = under != nil
			}
			return blobUnknown(d)
		}
		if err != nil {
			return err
		}
		info = BlobInfo{Digest: b.Digest, Size: b.Size}
		return nil
	})
	return info, cached, internal(err)
}

// BlobMediaType returns the media type an image of the repository gives blob d (a configuration's or a
// layer's), or "" when no image uses it.
func (s *Service) BlobMediaType(ctx context.Context, registryID, name string, d digest.Digest) (string, error) {
	var mt string
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		users, err := tx.ReferencedBy(r.ID, store.RefBlob, d)
		if err != nil || len(users) == 0 {
			return err
		}
		img, err := tx.GetImage(r.ID, users[0])
		if err != nil {
			return err
		}
		mt = descriptorMediaType(img.Content, d)
		return nil
	})
	return mt, internal(err)
}

// descriptorMediaType returns the media type a manifest gives blob d, as its configuration or a layer.
func descriptorMediaType(manifest []byte, d digest.Digest) string {
	type descriptor struct {
		MediaType string        `json:"mediaType"`
		Digest    digest.Digest `json:"digest"`
	}
	var m struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if json.Unmarshal(manifest, &m) != nil {
		return ""
	}
	for _, l := range append(m.Layers, m.Config) {
		if l.Digest == d {
			return l.MediaType
		}
	}
	return ""
}

// OpenBlob opens a blob visible in the repository.
func (s *Service) OpenBlob(ctx context.Context, registryID, name string, d digest.Digest) (BlobInfo, io.ReadSeekCloser, error) {
	if b := s.inflight.blob(registryID, name, d); b != nil { // being pulled through the cache: as it arrives
		return BlobInfo{Digest: d, Size: b.desc.Size}, &blobFollower{b: b}, nil
	}
	info, err := s.StatBlob(ctx, registryID, name, d)
	if err != nil {
		return info, nil, err
	}
	rc, err := s.blobs.Open(ctx, d)
	if errors.Is(err, blob.ErrNotFound) {
		s.log.Error("blob linked but missing from the blob store", "digest", d)
		return info, nil, blobUnknown(d)
	}
	return info, rc, internal(err)
}

// BlobURL returns a URL from which a client fetches a blob visible in the repository directly from the blob
// store, valid for ttl, when the blob store can presign one and Config.BlobRedirect is on; otherwise "".
func (s *Service) BlobURL(ctx context.Context, registryID, name string, d digest.Digest, ttl time.Duration) (string, BlobInfo, error) {
	p, ok := s.blobs.(blob.Presigner)
	if !ok || !s.cfg.BlobRedirect {
		return "", BlobInfo{}, nil
	}
	if b := s.inflight.blob(registryID, name, d); b != nil { // not in the blob store yet: OpenBlob streams it
		b.release()
		return "", BlobInfo{}, nil
	}
	info, err := s.StatBlob(ctx, registryID, name, d)
	if err != nil {
		return "", info, err
	}
	u, err := p.URL(ctx, d, ttl)
	return u, info, internal(err)
}

// DeleteBlob removes a blob from a repository. The bytes go when no repository holds the blob any more
// (garbage collection). A blob an image of the repository still uses is not removed.
func (s *Service) DeleteBlob(ctx context.Context, registryID, name string, d digest.Digest) error {
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		users, err := tx.ReferencedBy(r.ID, store.RefBlob, d)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errf(KindImageReferenced, "blob %s is used by image %s in repository '%s'; delete the image first", d, users[0], name)
		}
		err = tx.UnlinkBlob(r.ID, d)
		if errors.Is(err, store.ErrNotFound) {
			return blobUnknown(d)
		}
		return err
	}))
}

func blobUnknown(d digest.Digest) error {
	return &Error{Kind: KindBlobUnknown, Message: fmt.Sprintf("blob %s is not known to this repository", d), Fields: Fields{Digest: d}}
}

// MountBlob makes a blob of repository `from` visible in repository name without copying it. With from
// empty it mounts from a repository of the registry that holds the blob and that readable accepts (nil:
// any) — the caller's read permission. ErrBlobUnknown means the blob cannot be mounted and the client
// should upload it.
func (s *Service) MountBlob(ctx context.Context, registryID, name string, d digest.Digest, from string, readable func(repo string) bool) (BlobInfo, error) {
	dst, err := s.repoForPush(ctx, registryID, name)
	if err != nil {
		return BlobInfo{}, err
	}
	mounting := false
	if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		mounting, err = blobMounting(tx, registryID)
		return err
	}); err != nil {
		return BlobInfo{}, internal(err)
	}
	if !mounting { // the registry's BLOB_MOUNTING setting: the client uploads the blob
		return BlobInfo{}, blobUnknown(d)
	}
	if from == "" {
		var holders []store.Repository
		if err := s.meta.View(ctx, func(tx store.Tx) (err error) {
			holders, err = tx.BlobRepositories(registryID, d, 100)
			return err
		}); err != nil {
			return BlobInfo{}, internal(err)
		}
		for _, h := range holders {
			if readable == nil || readable(h.Name) {
				from = h.Name
				break
			}
		}
		if from == "" {
			return BlobInfo{}, blobUnknown(d)
		}
	}
	var info BlobInfo
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		src, err := s.repo(tx, registryID, from)
		if err != nil {
			return blobUnknown(d)
		}
		b, err := tx.GetLinkedBlob(src.ID, d)
		if err != nil {
			return blobUnknown(d)
		}
		if _, err := reload(tx, dst); err != nil {
			return err
		}
		if err := tx.LinkBlob(dst.ID, d, s.clock.Now()); err != nil {
			return err
		}
		info = BlobInfo{Digest: d, Size: b.Size}
		return nil
	})
	return info, internal(err)
}

// StartUpload opens an upload session in a repository.
func (s *Service) StartUpload(ctx context.Context, registryID, name string) (UploadState, error) {
	r, err := s.repoForPush(ctx, registryID, name)
	if err != nil {
		return UploadState{}, err
	}
	now := s.clock.Now()
	u := &store.Upload{ID: newUploadID(), RepositoryID: r.ID, Algorithm: digest.Canonical, StartedAt: now, UpdatedAt: now}
	if err := s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := reload(tx, r); err != nil {
			return err
		}
		return tx.CreateUpload(u)
	}); err != nil {
		return UploadState{}, internal(err)
	}
	return UploadState{ID: u.ID}, nil
}

// upload loads an upload session of the repository, and the repository.
func (s *Service) upload(ctx context.Context, registryID, name, id string) (*store.Upload, *store.Repository, error) {
	var u *store.Upload
	var r *store.Repository
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if r, err = s.repo(tx, registryID, name); err != nil {
			return err
		}
		u, err = tx.GetUpload(id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.RepositoryID != r.ID) {
			return &Error{Kind: KindUploadUnknown, Message: fmt.Sprintf("upload %s is not known to repository '%s'", id, name),
				Fields: Fields{RegistryID: registryID, Repository: name, UploadID: id}}
		}
		return err
	})
	return u, r, internal(err)
}

// UploadStatus tells how many bytes an upload holds.
func (s *Service) UploadStatus(ctx context.Context, registryID, name, id string) (UploadState, error) {
	u, _, err := s.upload(ctx, registryID, name, id)
	if err != nil {
		return UploadState{}, err
	}
	return UploadState{ID: u.ID, Offset: u.Offset, SmallParts: u.SmallParts}, nil
}

// WriteUpload appends a chunk. start is where the client says the chunk begins (AppendAtEnd when it
// does not say); a chunk that does not continue the upload exactly is refused with KindRangeInvalid.
func (s *Service) WriteUpload(ctx context.Context, registryID, name, id string, start int64, r io.Reader) (UploadState, error) {
	u, repo, release, err := s.claimUpload(ctx, registryID, name, id)
	if err != nil {
		return UploadState{}, err
	}
	defer release()
	if err := s.appendUpload(ctx, repo, u, start, r, ""); err != nil {
		return UploadState{}, err
	}
	return UploadState{ID: u.ID, Offset: u.Offset}, nil
}

// claimUpload looks up an upload of the repository and keeps other requests for it out until release: in
// this process by a lock, and with shared blob storage in every process by a lease in the metadata store.
// Otherwise two nodes could write the same chunk at once, and the bytes stored could differ from those the
// saved hash state describes.
func (s *Service) claimUpload(ctx context.Context, registryID, name, id string) (u *store.Upload, repo *store.Repository, release func(), err error) {
	release = s.locks.lock(id)
	if s.cfg.SharedBlobs {
		busy := errf(KindUploadInvalid, "upload %s is being written by another request; send the chunk again when it has finished", id)
		_, free, err := s.lease(ctx, "upload/"+id, busy)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		unlock := release
		release = func() { free(); unlock() }
	}
	if u, repo, err = s.upload(ctx, registryID, name, id); err != nil {
		release()
		return nil, nil, nil, err
	}
	return u, repo, release, nil
}

// appendUpload streams r into the upload while hashing it and saves the new offset and hash state.
// alg chooses the hash of a still empty upload ("" for the canonical one).
func (s *Service) appendUpload(ctx context.Context, repo *store.Repository, u *store.Upload, start int64, r io.Reader, alg digest.Algorithm) error {
	if start != AppendAtEnd && start != u.Offset {
		return &Error{Kind: KindRangeInvalid, Message: fmt.Sprintf("chunk starts at %d but the upload holds %d bytes", start, u.Offset),
			Fields: Fields{RegistryID: repo.RegistryID, Repository: repo.Name, UploadID: u.ID, Offset: u.Offset}}
	}
	if u.Offset == 0 && alg != "" && alg.Available() {
		u.Algorithm = alg
	}
	h, err := restoreHash(u.Algorithm, u.HashState)
	if err != nil {
		return err
	}
	n, err := s.blobs.Append(ctx, u.ID, u.Offset, hashingReader{r, h})
	if err = clientError(err); KindOf(err) == KindBodyUnreadable {
		return err
	}
	if errors.Is(err, blob.ErrOffset) || errors.Is(err, blob.ErrUploadUnknown) {
		return errf(KindUploadInvalid, "upload %s is damaged (%v); start the upload again", u.ID, err)
	}
	if err != nil {
		return internal(err)
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return internal(err)
	}
	prev := u.Offset
	u.Offset += n
	u.HashState = state
	if u.Parts > 0 && u.LastPart < MinLayerPart {
		u.SmallParts++ // the chunk before this one was not the last after all
	}
	u.Parts++
	u.LastPart = n
	u.UpdatedAt = s.clock.Now()
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		err := tx.UpdateUpload(u, prev)
		if errors.Is(err, store.ErrConflict) {
			// Gone with its repository (deleted meanwhile), cancelled, or changed by another request.
			if _, err := reload(tx, repo); err != nil {
				return err
			}
			if _, gerr := tx.GetUpload(u.ID); errors.Is(gerr, store.ErrNotFound) {
				return &Error{Kind: KindUploadUnknown, Message: fmt.Sprintf("upload %s was cancelled", u.ID),
					Fields: Fields{RegistryID: repo.RegistryID, Repository: repo.Name, UploadID: u.ID}}
			}
			return errf(KindUploadInvalid, "upload %s was changed concurrently; start the upload again", u.ID)
		}
		return err
	})
	return internal(err)
}

// hashingReader hashes what it reads.
type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (hr hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

func restoreHash(alg digest.Algorithm, state []byte) (hash.Hash, error) {
	if !alg.Available() {
		return nil, errf(KindInternal, "digest algorithm %q unavailable", alg)
	}
	h := alg.Hash()
	if len(state) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, internal(fmt.Errorf("restore hash state: %w", err))
		}
	}
	return h, nil
}

// CompleteUpload ends an upload: it appends the last chunk r (nil when none; start as for WriteUpload),
// checks the content against d and makes the blob visible in the repository. A digest mismatch cancels
// the upload.
func (s *Service) CompleteUpload(ctx context.Context, registryID, name, id string, d digest.Digest, start int64, r io.Reader) (BlobInfo, error) {
	if err := d.Validate(); err != nil {
		return BlobInfo{}, errf(KindDigestInvalid, "invalid digest %q: %v", d, err)
	}
	u, repo, release, err := s.claimUpload(ctx, registryID, name, id)
	if err != nil {
		return BlobInfo{}, err
	}
	defer release()
	if r != nil {
		if err := s.appendUpload(ctx, repo, u, start, r, d.Algorithm()); err != nil {
			return BlobInfo{}, err
		}
	}
	sum, err := s.uploadDigest(ctx, u, d.Algorithm())
	if err == nil && sum != d {
		err = &Error{Kind: KindDigestInvalid, Message: fmt.Sprintf("digest %s does not match the uploaded content (%s)", d, sum), Fields: Fields{Digest: d}}
	}
	if err != nil {
		s.dropUpload(ctx, u.ID)
		return BlobInfo{}, err
	}
	if err := s.commitBlob(ctx, repo, u.ID, d, u.Offset, true); err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo{Digest: d, Size: u.Offset}, nil
}

// uploadDigest returns the digest of an upload's bytes with algorithm alg: from the saved hash state when
// the upload was hashed with alg, otherwise by reading the bytes again.
func (s *Service) uploadDigest(ctx context.Context, u *store.Upload, alg digest.Algorithm) (digest.Digest, error) {
	if alg == u.Algorithm {
		h, err := restoreHash(u.Algorithm, u.HashState)
		if err != nil {
			return "", err
		}
		return digest.NewDigest(alg, h), nil
	}
	if u.Offset == 0 {
		return alg.FromBytes(nil), nil
	}
	rc, err := s.blobs.ReadUpload(ctx, u.ID)
	if err != nil {
		return "", internal(err)
	}
	defer rc.Close()
	v := alg.Digester()
	// Only the recorded bytes: those are what Commit stores. The file may hold more (a crash in a chunk).
	n, err := io.Copy(v.Hash(), io.LimitReader(rc, u.Offset))
	if err != nil {
		return "", internal(err)
	}
	if n != u.Offset {
		return "", errf(KindUploadInvalid, "upload %s is damaged (it holds %d of its %d bytes); start the upload again", u.ID, n, u.Offset)
	}
	return v.Digest(), nil
}

// CancelUpload ends an upload and drops its bytes.
func (s *Service) CancelUpload(ctx context.Context, registryID, name, id string) error {
	_, _, release, err := s.claimUpload(ctx, registryID, name, id)
	if err != nil {
		return err
	}
	defer release()
	return s.dropUpload(ctx, id)
}

func (s *Service) dropUpload(ctx context.Context, id string) error {
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteUpload(id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return internal(err)
	}
	return internal(s.blobs.Cancel(ctx, id))
}

// PutBlob stores a blob sent in one request (a monolithic upload) and makes it visible in the repository.
func (s *Service) PutBlob(ctx context.Context, registryID, name string, d digest.Digest, r io.Reader) (BlobInfo, error) {
	if err := d.Validate(); err != nil {
		return BlobInfo{}, errf(KindDigestInvalid, "invalid digest %q: %v", d, err)
	}
	repo, err := s.repoForPush(ctx, registryID, name)
	if err != nil {
		return BlobInfo{}, err
	}
	id := newID()
	v := d.Algorithm().Digester()
	n, err := s.blobs.Append(ctx, id, 0, hashingReader{r, v.Hash()})
	err = clientError(err)
	if err == nil && v.Digest() != d {
		err = &Error{Kind: KindDigestInvalid, Message: fmt.Sprintf("digest %s does not match the uploaded content (%s)", d, v.Digest()), Fields: Fields{Digest: d}}
	}
	if err != nil {
		s.blobs.Cancel(ctx, id)
		return BlobInfo{}, internal(err)
	}
	if err := s.commitBlob(ctx, repo, id, d, n, false); err != nil {
		return BlobInfo{}, err
	}
	return BlobInfo{Digest: d, Size: n}, nil
}

// commitBlob makes a verified upload a blob of the repository. The blob's row is made Active and young
// first, so the garbage collector leaves it alone; then its bytes become durable under their digest; then
// the repository links it. A crash in between leaves an unlinked blob that garbage collection removes.
func (s *Service) commitBlob(ctx context.Context, repo *store.Repository, uploadID string, d digest.Digest, size int64, hasRow bool) error {
	b := store.Blob{Digest: d, Size: size, TouchedAt: s.clock.Now()}
	var err error
	for try := 0; try < 100; try++ { // a collection deleting this very blob ends within moments
		if err = s.meta.Update(ctx, func(tx store.Tx) error { return tx.PutBlob(b) }); !errors.Is(err, store.ErrConflict) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return errf(KindTryAgain, "blob %s is being garbage collected; try again", d)
	}
	if err != nil {
		s.blobs.Cancel(ctx, uploadID)
		return internal(err)
	}
	if err := s.blobs.Commit(ctx, uploadID, d, size); errors.Is(err, blob.ErrOffset) {
		return errf(KindUploadInvalid, "upload %s is damaged (%v); start the upload again", uploadID, err)
	} else if err != nil {
		return internal(err)
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		if _, err := reload(tx, repo); err != nil {
			return err
		}
		if err := tx.LinkBlob(repo.ID, d, s.clock.Now()); errors.Is(err, store.ErrNotFound) {
			// Only a collection that outlived the grace period gets here: it took the blob first.
			return errf(KindTryAgain, "blob %s was garbage collected while it was stored; upload it again", d)
		} else if err != nil {
			return err
		}
		if hasRow {
			if err := tx.DeleteUpload(uploadID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	}))
}
