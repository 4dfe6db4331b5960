package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sbom"
	"github.com/wharf-dev/wharf/internal/store"
)

func TestImageSBOM(t *testing.T) {
	e, _ := newScanEnv(t)
	e.repo(t, "app", "MUTABLE")
	d := e.push(t, "app", "v1", "a")
	pushed := e.clock.Now()
	v1 := registry.ImageRef{Tag: "v1"}

	// Never scanned; scanned but not complete: no SBOM, and the error says why.
	_, err := e.svc.ImageSBOM(ctx, reg, "app", v1, sbom.SPDX)
	wantKind(t, err, registry.KindScanNotFound)
	if err.Error() != "Image scan does not exist for the image" {
		t.Errorf("never scanned: %q", err)
	}
	_, err = e.svc.ImageSBOM(ctx, reg, "app", registry.ImageRef{Tag: "nope"}, sbom.SPDX)
	wantKind(t, err, registry.KindManifestUnknown)
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", v1); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ImageSBOM(ctx, reg, "app", v1, sbom.CycloneDX)
	wantKind(t, err, registry.KindScanNotFound)
	if err.Error() != "Image scan is IN_PROGRESS, not COMPLETE, for the image" {
		t.Errorf("scan in progress: %q", err)
	}

	e.clock.Advance(time.Hour)
	e.runScans(t)
	for _, f := range []sbom.Format{sbom.SPDX, sbom.CycloneDX} {
		doc, err := e.svc.ImageSBOM(ctx, reg, "app", v1, f)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Image.Digest != d || doc.Format != f {
			t.Fatalf("%s: image %s", f, doc.Image.Digest)
		}
		var m map[string]any
		if err := json.Unmarshal(doc.Document, &m); err != nil {
			t.Fatal(err)
		}
		// The scanner's inventory, dated by the push, not by the scan.
		text := string(doc.Document)
		for _, want := range []string{`"libssl3"`, `"3.0.11-1~deb12u1"`, `"debian"`, d.String(), pushed.Format(time.RFC3339)} {
			if !strings.Contains(text, want) {
				t.Errorf("%s document lacks %s:\n%s", f, want, text)
			}
		}
		again, _ := e.svc.ImageSBOM(ctx, reg, "app", registry.ImageRef{Digest: d}, f)
		if !bytes.Equal(again.Document, doc.Document) {
			t.Errorf("%s: the same image's document changed", f)
		}
	}
}

func TestAttachImageSBOM(t *testing.T) {
	e, _ := newScanEnv(t)
	e.repo(t, "app", "MUTABLE")
	d := e.push(t, "app", "v1", "a")
	v1 := registry.ImageRef{Tag: "v1"}
	if _, err := e.svc.AttachImageSBOM(ctx, reg, "app", v1, sbom.SPDX); registry.KindOf(err) != registry.KindScanNotFound {
		t.Fatalf("attach before a scan: %v", err)
	}
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", v1); err != nil {
		t.Fatal(err)
	}
	e.runScans(t)

	att, err := e.svc.AttachImageSBOM(ctx, reg, "app", v1, sbom.SPDX)
	if err != nil {
		t.Fatal(err)
	}
	// The artifact is an OCI 1.1 artifact manifest: empty config, one layer that is the document, the image
	// as subject.
	info, err := e.svc.GetManifest(ctx, reg, "app", att.Referrer.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(info.Content, &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != "application/spdx+json" ||
		m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 || len(m.Layers) != 1 ||
		m.Subject == nil || m.Subject.Digest != d || info.Subject != d || m.Annotations[ocispec.AnnotationCreated] != "2026-03-01T12:00:00Z" {
		t.Fatalf("artifact manifest:\n%s", info.Content)
	}
	_, rc, err := e.svc.OpenBlob(ctx, reg, "app", m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(layer, att.Document) || m.Layers[0].MediaType != "application/spdx+json" || m.Layers[0].Size != int64(len(layer)) {
		t.Fatalf("the artifact's layer is not the document (%d bytes, %s)", len(layer), m.Layers[0].MediaType)
	}

	// The referrers API lists it, by artifact type too.
	refs, err := e.svc.Referrers(ctx, reg, "app", d, "application/spdx+json")
	if err != nil || len(refs) != 1 || refs[0].Digest != att.Referrer || refs[0].ArtifactType != "application/spdx+json" {
		t.Fatalf("referrers = %+v, %v", refs, err)
	}

	// Attaching again, later, is the same artifact; the other format is another one.
	e.clock.Advance(48 * time.Hour)
	again, err := e.svc.AttachImageSBOM(ctx, reg, "app", registry.ImageRef{Digest: d}, sbom.SPDX)
	if err != nil || again.Referrer != att.Referrer {
		t.Fatalf("attach again: %v, %v (first %s)", again, err, att.Referrer)
	}
	cdx, err := e.svc.AttachImageSBOM(ctx, reg, "app", v1, sbom.CycloneDX)
	if err != nil || cdx.Referrer == att.Referrer {
		t.Fatalf("attach CycloneDX: %v, %v", cdx, err)
	}
	if refs, _ := e.svc.Referrers(ctx, reg, "app", d, ""); len(refs) != 2 {
		t.Fatalf("referrers after both formats: %+v", refs)
	}

	// Each new artifact was a push: one event each, none for attaching again.
	pushes := 0
	if err := e.meta.View(ctx, func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 1000)
		for _, se := range evs {
			ev, err := registry.DecodeEvent(se)
			if err != nil {
				return err
			}
			if ev.Type == registry.EventImagePushed && (ev.Digest == att.Referrer || ev.Digest == cdx.Referrer) {
				pushes++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if pushes != 2 {
		t.Errorf("%d push events for the artifacts, want 2", pushes)
	}
}

// TestAttachImageSBOMLimits: the artifact is pushed under the repository's limits, as any image is.
func TestAttachImageSBOMLimits(t *testing.T) {
	e, _ := newScanEnv(t)
	e.close()
	e.cfg.Limits.ImagesPerRepository = 1
	e.open(t)
	e.repo(t, "app", "MUTABLE")
	e.push(t, "app", "v1", "a")
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	e.runScans(t)
	_, err := e.svc.AttachImageSBOM(ctx, reg, "app", registry.ImageRef{Tag: "v1"}, sbom.SPDX)
	wantKind(t, err, registry.KindLimitExceeded)
}

// TestImageSBOMOneAtATime: SBOMs are built one at a time; a caller waits for the build before it, or for
// its context.
func TestImageSBOMOneAtATime(t *testing.T) {
	e, _ := newScanEnv(t)
	e.repo(t, "app", "MUTABLE")
	e.push(t, "app", "v1", "a")
	v1 := registry.ImageRef{Tag: "v1"}
	if _, _, err := e.svc.StartImageScan(ctx, reg, "app", v1); err != nil {
		t.Fatal(err)
	}
	e.runScans(t)
	release := registry.HoldSBOMBuild(e.svc)
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.ImageSBOM(ctx, reg, "app", v1, sbom.SPDX)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("built while another build ran: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.svc.ImageSBOM(cancelled, reg, "app", v1, sbom.SPDX); !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller whose context ended: %v", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
