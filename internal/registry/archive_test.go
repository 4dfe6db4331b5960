package registry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// TestArchiveAndRestore: an archived image cannot be pulled (not found) but is described with its status;
// a restore makes it ACTIVATING until the restore time has passed on the clock, then ACTIVE and pullable;
// updates that are no transition are refused; listings filter by status, ACTIVE by default.
func TestArchiveAndRestore(t *testing.T) {
	e := newEnv(t, registry.Config{RestoreTime: 10 * time.Minute})
	e.repo(t, "app", "")
	old := e.push(t, "app", "v1", "1")
	cur := e.push(t, "app", "v2", "2")
	t0 := e.clock.Now()

	status := func(d digest.Digest) registry.Storage {
		t.Helper()
		img, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Digest: d})
		if err != nil {
			t.Fatal(err)
		}
		return img.Storage
	}
	listed := func(f registry.ImageStatus) []digest.Digest {
		t.Helper()
		imgs, _, _, err := e.svc.ListImagesByStatus(ctx, reg, "app", "", 100, registry.AnyTagStatus, f)
		if err != nil {
			t.Fatal(err)
		}
		var ds []digest.Digest
		for _, img := range imgs {
			ds = append(ds, img.Digest)
		}
		return ds
	}
	pullable := func(ref string) bool {
		t.Helper()
		_, err := e.svc.GetManifest(ctx, reg, "app", ref, nil)
		if err != nil && registry.KindOf(err) != registry.KindManifestUnknown {
			t.Fatalf("pull of %s: %v", ref, err)
		}
		return err == nil
	}

	if st := status(old); st.Status != registry.ImageActive || !st.LastArchivedAt.IsZero() {
		t.Fatalf("a pushed image: %+v", st)
	}
	if !pullable("v1") { // and now cached
		t.Fatal("v1 not pullable before archiving")
	}
	_, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Tag: "v1"}, registry.StorageStandard)
	wantKind(t, err, registry.KindStorageClassUpdateUnsupported)
	_, _, err = e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Tag: "v1"}, "GLACIER")
	wantKind(t, err, registry.KindInvalidParameter)
	_, _, err = e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Tag: "nope"}, registry.StorageArchive)
	wantKind(t, err, registry.KindManifestUnknown)
	_, _, err = e.svc.UpdateImageStorageClass(ctx, reg, "gone", registry.ImageRef{Tag: "v1"}, registry.StorageArchive)
	wantKind(t, err, registry.KindRepositoryNotFound)

	e.clock.Advance(time.Minute)
	d, st, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Tag: "v1"}, registry.StorageArchive)
	if err != nil || d != old || st != registry.ImageArchived {
		t.Fatalf("archive: %s %s %v", d, st, err)
	}
	if pullable("v1") || pullable(old.String()) {
		t.Fatal("an archived image was pulled")
	}
	if _, err := e.svc.GetManifestAs(ctx, reg, "app", "v1", []string{"application/vnd.docker.distribution.manifest.v2+json"}, nil); registry.KindOf(err) != registry.KindManifestUnknown {
		t.Fatalf("converted pull of an archived image: %v", err)
	}
	if !pullable("v2") {
		t.Fatal("the other image is no longer pullable")
	}
	if st := status(old); st.Status != registry.ImageArchived || !st.LastArchivedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("archived: %+v", st)
	}
	if got := listed(""); len(got) != 1 || got[0] != cur {
		t.Fatalf("default listing %v, want only the active image", got)
	}
	if got := listed(registry.ImageArchived); len(got) != 1 || got[0] != old {
		t.Fatalf("ARCHIVED listing %v", got)
	}
	if got := listed(registry.AnyImageStatus); len(got) != 2 {
		t.Fatalf("ANY listing %v", got)
	}
	_, _, err = e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Digest: old}, registry.StorageArchive)
	wantKind(t, err, registry.KindStorageClassUpdateUnsupported)
	_, _, err = e.svc.StartImageScan(ctx, reg, "app", registry.ImageRef{Tag: "v1"})
	wantKind(t, err, registry.KindImageArchived)

	// Restore: ACTIVATING for the restore time, then ACTIVE, with no job to run.
	e.clock.Advance(time.Hour)
	if _, st, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Digest: old}, registry.StorageStandard); err != nil || st != registry.ImageActivating {
		t.Fatalf("restore: %s %v", st, err)
	}
	_, _, err = e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Digest: old}, registry.StorageArchive)
	wantKind(t, err, registry.KindStorageClassUpdateUnsupported)
	if pullable("v1") {
		t.Fatal("an image being restored was pulled")
	}
	if got := listed(registry.ImageActivating); len(got) != 1 || got[0] != old {
		t.Fatalf("ACTIVATING listing %v", got)
	}
	e.clock.Advance(10*time.Minute - time.Second)
	if st := status(old); st.Status != registry.ImageActivating || !st.LastActivatedAt.IsZero() {
		t.Fatalf("a second before the restore completes: %+v", st)
	}
	e.clock.Advance(time.Second)
	restoredAt := t0.Add(time.Minute + time.Hour + 10*time.Minute)
	if st := status(old); st.Status != registry.ImageActive || !st.LastActivatedAt.Equal(restoredAt) || !st.LastArchivedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("restored: %+v", st)
	}
	if !pullable("v1") {
		t.Fatal("a restored image cannot be pulled")
	}
	if got := listed(""); len(got) != 2 {
		t.Fatalf("default listing after the restore: %v", got)
	}

	// Archived again, then pushed again: restored at once.
	if _, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Tag: "v1"}, registry.StorageArchive); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if got := e.push(t, "app", "v1", "1"); got != old {
		t.Fatalf("pushed again as %s", got)
	}
	if st := status(old); st.Status != registry.ImageActive || !st.LastActivatedAt.Equal(e.clock.Now()) {
		t.Fatalf("pushed again: %+v", st)
	}
	if !pullable("v1") {
		t.Fatal("an image pushed again cannot be pulled")
	}

	// Each change is an event, in the change's transaction.
	var got []string
	if err := e.meta.View(ctx, func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 1000)
		for _, ev := range evs {
			if ev.Type != registry.EventImageStorageChanged {
				continue
			}
			var re registry.Event
			if err := json.Unmarshal(ev.Data, &re); err != nil {
				return err
			}
			if re.Digest != old {
				t.Errorf("event of %s", re.Digest)
			}
			got = append(got, re.Status+"/"+re.Cause)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"ARCHIVED/api", "ACTIVATING/api", "ARCHIVED/api", "ACTIVE/push"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

// TestArchivedImageDeleted: deleting an archived image (ECR's BatchDeleteImage may, whatever the minimum
// storage duration) deletes its state with it.
func TestArchivedImageDeleted(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	d := e.push(t, "app", "v1", "1")
	if _, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Digest: d}, registry.StorageArchive); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteImage(ctx, reg, "app", registry.ImageRef{Digest: d}); err != nil {
		t.Fatal(err)
	}
	if again := e.push(t, "app", "v1", "1"); again != d {
		t.Fatal(again)
	}
	img, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Tag: "v1"})
	if err != nil || img.Storage.Status != registry.ImageActive || !img.Storage.LastArchivedAt.IsZero() {
		t.Fatalf("pushed after deletion: %+v %v", img, err)
	}
}

// TestLifecycleArchives: a transition rule archives the images not pulled for its days, the preview says
// so first, and an archive rule expires what has been archived for its days; images being restored are
// left alone.
func TestLifecycleArchives(t *testing.T) {
	e := newEnv(t, registry.Config{})
	e.repo(t, "app", "")
	idle := e.push(t, "app", "idle", "1")
	pulled := e.push(t, "app", "pulled", "2")
	restoring := e.push(t, "app", "restoring", "3")
	const policy = `{"rules":[
		{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}},
		{"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}}]}`
	if err := e.svc.PutLifecyclePolicy(ctx, reg, "app", policy); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Digest: restoring}, registry.StorageArchive); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(40 * 24 * time.Hour)
	if _, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "app", registry.ImageRef{Digest: restoring}, registry.StorageStandard); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetManifest(ctx, reg, "app", "pulled", []string{"arn:aws:iam::000000000000:user/dev"}); err != nil {
		t.Fatal(err)
	}
	e.svc.FlushPulls()

	results := e.preview(t, "app", "")
	if len(results) != 1 || results[0].Digest != idle || !results[0].Transition || results[0].Archived {
		t.Fatalf("preview: %+v", results)
	}
	run, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{})
	if err != nil {
		t.Fatal(err)
	}
	if len(run) != 1 || len(run[0].Transitioned) != 1 || run[0].Transitioned[0].Digest != idle || len(run[0].Expired) != 0 {
		t.Fatalf("pass: %+v", run)
	}
	status := func(d digest.Digest) registry.ImageStatus {
		img, err := e.svc.FindImage(ctx, reg, "app", registry.ImageRef{Digest: d})
		if err != nil {
			t.Fatal(err)
		}
		return img.Storage.Status
	}
	if status(idle) != registry.ImageArchived || status(pulled) != registry.ImageActive || status(restoring) != registry.ImageActivating {
		t.Fatalf("after the pass: %s %s %s", status(idle), status(pulled), status(restoring))
	}

	// 90 days in the archive: expired. The restored image, now 40 days idle... counts from its restore.
	e.clock.Advance(91 * 24 * time.Hour)
	results = e.preview(t, "app", "")
	var expired, archived []digest.Digest
	for _, r := range results {
		if r.Transition {
			archived = append(archived, r.Digest)
		} else {
			expired = append(expired, r.Digest)
		}
	}
	if len(expired) != 1 || expired[0] != idle || len(archived) != 2 {
		t.Fatalf("second preview: expired %v, archived %v", expired, archived)
	}
	if _, err := e.svc.RunLifecycle(ctx, registry.LifecycleRun{}); err != nil {
		t.Fatal(err)
	}
	if got := e.remaining(t, "app"); len(got) != 2 {
		t.Fatalf("remaining %v", got)
	}
	if status(pulled) != registry.ImageArchived || status(restoring) != registry.ImageArchived {
		t.Fatal("idle images were not archived")
	}
}

// TestRestoreScansOnPush: a restored image of a repository that scans on push is scanned again, as ECR
// scans restored images.
func TestRestoreScansOnPush(t *testing.T) {
	e, _ := newScanEnv(t)
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "scanned", ScanOnPush: true}); err != nil {
		t.Fatal(err)
	}
	d := e.push(t, "scanned", "v1", "b")
	if n := e.runScans(t); n != 1 {
		t.Fatalf("ran %d scan jobs, want 1", n)
	}
	if _, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "scanned", registry.ImageRef{Digest: d}, registry.StorageArchive); err != nil {
		t.Fatal(err)
	}
	if got := e.scanStatus(t, "scanned", d); got != registry.ScanComplete {
		t.Fatalf("archived: %s", got)
	}
	if _, _, err := e.svc.UpdateImageStorageClass(ctx, reg, "scanned", registry.ImageRef{Digest: d}, registry.StorageStandard); err != nil {
		t.Fatal(err)
	}
	if got := e.scanStatus(t, "scanned", d); got != registry.ScanInProgress {
		t.Fatalf("restored: %s", got)
	}
	if n := e.runScans(t); n != 1 {
		t.Fatalf("ran %d scan jobs after the restore, want 1", n)
	}
}
