package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/sbom"
	"github.com/wharf-dev/wharf/internal/store"
)

// SBOM is the software bill of materials of an image: its inventory as a document of a format.
type SBOM struct {
	Image    *ImageDetail
	Format   sbom.Format
	Document []byte
}

// ImageSBOM returns the SBOM of an image whose latest scan completed: the inventory that scan stored.
// An image never scanned, or whose latest scan did not complete, has none (KindScanNotFound).
// The document is the same for the same image and inventory: it is dated by the image's push.
// SBOMs are built one at a time: an inventory of the most packages a scan keeps makes a document of
// hundreds of MiB, written with GiBs of memory, and a few callers at once would exhaust it.
func (s *Service) ImageSBOM(ctx context.Context, registryID, name string, ref ImageRef, format sbom.Format) (*SBOM, error) {
	select {
	case s.sbomBuild <- struct{}{}:
		defer func() { <-s.sbomBuild }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := &SBOM{Format: format}
	var inv inventory.Inventory
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := s.repo(tx, registryID, name)
		if err != nil {
			return err
		}
		if out.Image, err = findImage(tx, r, ref); err != nil {
			return err
		}
		notFound := func(msg string) error {
			return &Error{Kind: KindScanNotFound, Message: msg, Fields: Fields{RegistryID: registryID, Repository: name, Digest: out.Image.Digest}}
		}
		scan, err := tx.GetImageScan(r.ID, out.Image.Digest)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Image scan does not exist for the image")
		}
		if err != nil {
			return err
		}
		if scan.Status != ScanComplete {
			return notFound("Image scan is " + scan.Status + ", not COMPLETE, for the image")
		}
		data, err := tx.ImageInventory(r.ID, out.Image.Digest)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("Image scan holds no inventory for the image; scan it again")
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(data, &inv)
	})
	if err != nil {
		return nil, internal(err)
	}
	img := sbom.Image{Repository: name, Digest: out.Image.Digest, Created: out.Image.PushedAt}
	if out.Document, err = sbom.Encode(format, img, inv); err != nil {
		return nil, internal(err)
	}
	return out, nil
}

// AttachedSBOM is an SBOM attached to its image as a referrer.
type AttachedSBOM struct {
	SBOM
	Referrer digest.Digest // the artifact manifest, whose subject is the image
}

// AttachImageSBOM stores an image's SBOM in its repository as an OCI artifact whose subject is the image,
// pushed as any manifest is (limits, events and the referrers API apply), and returns its digest.
// The artifact is the same for the same document: attaching again changes nothing.
func (s *Service) AttachImageSBOM(ctx context.Context, registryID, name string, ref ImageRef, format sbom.Format) (*AttachedSBOM, error) {
	doc, err := s.ImageSBOM(ctx, registryID, name, ref, format)
	if err != nil {
		return nil, err
	}
	img := doc.Image
	empty := ocispec.DescriptorEmptyJSON
	layer := ocispec.Descriptor{MediaType: format.MediaType(), Digest: digest.FromBytes(doc.Document), Size: int64(len(doc.Document)),
		Annotations: map[string]string{ocispec.AnnotationTitle: format.FileName()}}
	for _, b := range []struct {
		d       ocispec.Descriptor
		content []byte
	}{{empty, empty.Data}, {layer, doc.Document}} {
		if _, err := s.StatBlob(ctx, registryID, name, b.d.Digest); err == nil {
			continue
		}
		if _, err := s.PutBlob(ctx, registryID, name, b.d.Digest, bytes.NewReader(b.content)); err != nil {
			return nil, err
		}
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: format.MediaType(),
		Config:       empty,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(img.Content))},
		// Dated as the document is, so that the same document is the same artifact.
		Annotations: map[string]string{ocispec.AnnotationCreated: img.PushedAt.UTC().Truncate(time.Second).Format(time.RFC3339)},
	}
	m.SchemaVersion = 2
	body, err := json.Marshal(m)
	if err != nil {
		return nil, internal(err)
	}
	res, err := s.PutManifest(ctx, registryID, name, digest.FromBytes(body).String(), ocispec.MediaTypeImageManifest, body)
	if err != nil {
		return nil, err
	}
	return &AttachedSBOM{SBOM: *doc, Referrer: res.Digest}, nil
}
