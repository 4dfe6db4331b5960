package registry

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// ECR's archival storage class. An archived image is a state with ECR's rules, not a place: its manifest
// and blobs stay where they are in the metadata and blob stores. While archived it cannot be pulled (a
// pull answers not found), it is still described and listed with its status, and a restore makes it
// pullable again after the restore time (ECR's: "within 20 minutes"). The status is derived when read
// from when the restore completes, so no job has to run for it to complete.

func init() {
	kindNames[KindStorageClassUpdateUnsupported] = "StorageClassUpdateUnsupported"
	kindNames[KindImageArchived] = "ImageArchived"
}

// DefaultRestoreTime is how long a restore from the archive takes unless configured: ECR's figure.
const DefaultRestoreTime = 20 * time.Minute

// ImageStatus is an image's status in the storage classes.
type ImageStatus string

const (
	ImageActive     ImageStatus = "ACTIVE"
	ImageArchived   ImageStatus = "ARCHIVED"
	ImageActivating ImageStatus = "ACTIVATING" // being restored: not pullable yet
	// AnyImageStatus filters nothing out.
	AnyImageStatus ImageStatus = "ANY"
)

// Matches tells whether an image of status st passes the filter f; the empty filter is ECR's default,
// ACTIVE images only.
func (f ImageStatus) Matches(st ImageStatus) bool {
	return f == AnyImageStatus || f == st || f == "" && st == ImageActive
}

// StorageClass is a target of UpdateImageStorageClass.
type StorageClass string

const (
	StorageStandard StorageClass = "STANDARD"
	StorageArchive  StorageClass = "ARCHIVE"
)

// Storage is an image's storage class state, as DescribeImages shows it.
type Storage struct {
	Status          ImageStatus
	LastArchivedAt  time.Time // zero if never archived
	LastActivatedAt time.Time // zero if never restored, or while its first restore is in progress
}

// storageAt derives an image's status at now from its stored state (nil: never archived).
func storageAt(st *store.ImageStorage, now time.Time) Storage {
	if st == nil {
		return Storage{Status: ImageActive}
	}
	out := Storage{Status: ImageActive, LastArchivedAt: st.ArchivedAt}
	switch {
	case st.Archived:
		out.Status = ImageArchived
		out.LastActivatedAt = st.ActivatedAt
	case st.ActivatedAt.After(now):
		out.Status = ImageActivating
	default:
		out.LastActivatedAt = st.ActivatedAt
	}
	return out
}

// imageStorage reads an image's storage class state in tx.
func (s *Service) imageStorage(tx store.Tx, repoID int64, d digest.Digest) (Storage, error) {
	st, err := tx.ImageStorage(repoID, d)
	if errors.Is(err, store.ErrNotFound) {
		return Storage{Status: ImageActive}, nil
	}
	if err != nil {
		return Storage{}, err
	}
	return storageAt(st, s.clock.Now()), nil
}

// restoreTime is how long a restore takes.
func (s *Service) restoreTime() time.Duration {
	if s.cfg.RestoreTime <= 0 {
		return DefaultRestoreTime
	}
	return s.cfg.RestoreTime
}

// UpdateImageStorageClass moves an image between ECR's storage classes: ARCHIVE archives an ACTIVE image
// at once; STANDARD starts the restore of an ARCHIVED image, which is ACTIVATING until the restore time has
// passed. Any other update (archiving what is archived or being restored, restoring what is not archived)
// is ImageStorageClassUpdateNotSupported. It returns the image's digest and its status after the call.
func (s *Service) UpdateImageStorageClass(ctx context.Context, registryID, name string, ref ImageRef, target StorageClass) (digest.Digest, ImageStatus, error) {
	if target != StorageArchive && target != StorageStandard {
		return "", "", errf(KindInvalidParameter, "Invalid parameter at 'targetStorageClass' failed to satisfy constraint: 'Member must satisfy enum value set: [STANDARD, ARCHIVE]'")
	}
	var d digest.Digest
	var status ImageStatus
	scanQueued := false
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		scanQueued = false
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		img, err := findImage(tx, r, ref)
		if err != nil {
			return err
		}
		d = img.Digest
		if status, err = s.transition(tx, r, img, target, CauseAPI); err != nil || status != ImageActivating {
			return err
		}
		// A restored image is scanned as a pushed one is, when the repository scans on push.
		scanQueued, err = s.scanOnPush(tx, r, &img.Image)
		return err
	})
	s.cache.invalidate()
	if err == nil && scanQueued {
		s.wakeScans()
	}
	return d, status, internal(err)
}

// transition applies one storage class change to an image in tx and records its event.
func (s *Service) transition(tx store.Tx, r *store.Repository, img *ImageDetail, target StorageClass, cause string) (ImageStatus, error) {
	now := s.clock.Now()
	st, err := tx.ImageStorage(r.ID, img.Digest)
	if errors.Is(err, store.ErrNotFound) {
		st, err = &store.ImageStorage{Digest: img.Digest}, nil
	}
	if err != nil {
		return "", err
	}
	cur := storageAt(st, now).Status
	switch {
	case target == StorageArchive && cur == ImageActive:
		st.Archived, st.ArchivedAt = true, now
	case target == StorageStandard && cur == ImageArchived:
		st.Archived, st.ActivatedAt = false, now.Add(s.restoreTime())
	default:
		return cur, &Error{Kind: KindStorageClassUpdateUnsupported, Fields: Fields{Repository: r.Name, Digest: img.Digest},
			Message: "The image with digest '" + img.Digest.String() + "' is " + string(cur) + " and cannot be transitioned to the " + string(target) + " storage class"}
	}
	if err := tx.PutImageStorage(r.ID, *st); err != nil {
		return "", err
	}
	next := storageAt(st, now).Status
	return next, s.emit(tx, Event{Type: EventImageStorageChanged, RegistryID: r.RegistryID, Repository: r.Name,
		Digest: img.Digest, Tags: img.Tags, Status: string(next), Cause: cause})
}

// restoreOnPush restores an archived or activating image pushed again, at once, as ECR does. It reports
// whether it did.
func (s *Service) restoreOnPush(tx store.Tx, r *store.Repository, d digest.Digest) (bool, error) {
	st, err := tx.ImageStorage(r.ID, d)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := s.clock.Now()
	if storageAt(st, now).Status == ImageActive {
		return false, nil
	}
	st.Archived, st.ActivatedAt = false, now
	if err := tx.PutImageStorage(r.ID, *st); err != nil {
		return false, err
	}
	return true, s.emit(tx, Event{Type: EventImageStorageChanged, RegistryID: r.RegistryID, Repository: r.Name,
		Digest: d, Status: string(ImageActive), Cause: CausePush})
}

// checkPullable refuses the pull of an image that is archived or being restored: it answers not found,
// as ECR's pulls of archived images do.
func (s *Service) checkPullable(tx store.Tx, r *store.Repository, d digest.Digest, ref string) error {
	st, err := s.imageStorage(tx, r.ID, d)
	if err != nil {
		return err
	}
	if st.Status != ImageActive {
		return archivedUnknown(r.Name, ref, st.Status)
	}
	return nil
}

func archivedUnknown(name, ref string, status ImageStatus) error {
	e := manifestUnknown(name, ref).(*Error)
	if status == ImageActivating {
		e.Message += ": the image is being restored from the archive"
	} else {
		e.Message += ": the image is archived; restore it to pull it"
	}
	return e
}

// ImageStatuses returns the status of each of the repository's images ds (ACTIVE for one never archived).
func (s *Service) ImageStatuses(ctx context.Context, registryID, name string, ds []digest.Digest) (map[digest.Digest]ImageStatus, error) {
	out := make(map[digest.Digest]ImageStatus, len(ds))
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		for _, d := range ds {
			st, err := s.imageStorage(tx, r.ID, d)
			if err != nil {
				return err
			}
			out[d] = st.Status
		}
		return nil
	})
	return out, internal(err)
}
