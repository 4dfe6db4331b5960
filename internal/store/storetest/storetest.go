// Package storetest is the conformance suite every store.Store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// Run runs the suite. open returns a new, empty store each time it is called.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Repositories", testRepositories},
		{"BlobsAndLinks", testBlobsAndLinks},
		{"ImagesAndTags", testImagesAndTags},
		{"Referrers", testReferrers},
		{"Uploads", testUploads},
		{"Garbage", testGarbage},
		{"FailedUpdateChangesNothing", testRollback},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"DeleteRepositoryCascades", testDeleteRepository},
		{"Identities", testIdentities},
		{"RepositoryTags", testRepositoryTags},
		{"Policies", testPolicies},
		{"GroupsAndRoles", testGroupsAndRoles},
		{"Lifecycle", testLifecycle},
		{"Leases", testLeases},
		{"AuditChunks", testAuditChunks},
		{"AuditDelivery", testAuditDelivery},
		{"AuditTrail", testAuditTrail},
		{"Jobs", testJobs},
		{"JobRetriesAndDeadLetters", testJobRetries},
		{"JobClaimersNeverShareALiveLease", testJobClaimers},
		{"JobSchedules", testJobSchedules},
		{"Events", testEvents},
		{"EventsFromConcurrentWriters", testConcurrentEvents},
		{"Nodes", testNodes},
		{"ImageScans", testImageScans},
		{"ScanningConfiguration", testScanningConfiguration},
		{"PullTimeExclusions", testPullTimeExclusions},
		{"AccountSettings", testAccountSettings},
		{"Signing", testSigning},
		{"ImageScanListing", testImageScanListing},
		{"JobByKey", testJobByKey},
		{"Advisories", testAdvisories},
		{"ImageStorage", testImageStorage},
		{"LoginProfiles", testLoginProfiles},
		{"PasswordPolicies", testPasswordPolicies},
		{"AccountAliases", testAccountAliases},
		{"IAMListing", testIAMListing},
		{"IAMChanges", testIAMChanges},
		{"ConsoleSessions", testConsoleSessions},
		{"Usage", testUsage},
		{"Secrets", testSecrets},
		{"CreationTemplates", testCreationTemplates},
		{"Replication", testReplication},
		{"PullThroughCacheRules", testPullThroughCacheRules},
		{"PullThroughTagChecks", testPullThroughTagChecks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

var (
	ctx = context.Background()
	t0  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func dg(s string) digest.Digest { return digest.FromString(s) }

func update(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func mkRepo(t *testing.T, s store.Store, reg, name string) *store.Repository {
	t.Helper()
	r := &store.Repository{RegistryID: reg, Name: name, CreatedAt: t0, TagMutability: "MUTABLE", EncryptionType: "AES256"}
	update(t, s, func(tx store.Tx) error { return tx.CreateRepository(r) })
	if r.ID == 0 {
		t.Fatal("CreateRepository did not set ID")
	}
	return r
}

func mkBlob(t *testing.T, s store.Store, repoID int64, d digest.Digest, size int64, at time.Time) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutBlob(store.Blob{Digest: d, Size: size, TouchedAt: at}); err != nil {
			return err
		}
		return tx.LinkBlob(repoID, d, at)
	})
}

func testRepositories(t *testing.T, s store.Store) {
	a := mkRepo(t, s, "111111111111", "team/b")
	mkRepo(t, s, "111111111111", "team/a")
	mkRepo(t, s, "222222222222", "team/a")
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.CreateRepository(&store.Repository{RegistryID: "111111111111", Name: "team/b", TagMutability: "MUTABLE"})
	})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate repository: got %v, want ErrExists", err)
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetRepository("111111111111", "team/b")
		if err != nil || got.ID != a.ID || got.Name != "team/b" || !got.CreatedAt.Equal(t0) || got.EncryptionType != "AES256" {
			t.Fatalf("GetRepository = %+v, %v", got, err)
		}
		if _, err := tx.GetRepository("333333333333", "team/b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other registry: %v", err)
		}
		list, err := tx.ListRepositories("111111111111", "", 10)
		if err != nil || len(list) != 2 || list[0].Name != "team/a" || list[1].Name != "team/b" {
			t.Fatalf("ListRepositories = %+v, %v", list, err)
		}
		list, _ = tx.ListRepositories("111111111111", "team/a", 10)
		if len(list) != 1 || list[0].Name != "team/b" {
			t.Fatalf("ListRepositories after team/a = %+v", list)
		}
		if n, _ := tx.CountRepositories("111111111111"); n != 2 {
			t.Fatalf("CountRepositories = %d", n)
		}
		return nil
	})
	a.TagMutability = "IMMUTABLE_WITH_EXCLUSION"
	a.TagMutabilityExclusions = []string{"dev-*", "latest"}
	a.ScanOnPush = true
	update(t, s, func(tx store.Tx) error { return tx.UpdateRepository(a) })
	view(t, s, func(tx store.Tx) error {
		got, _ := tx.GetRepositoryByID(a.ID)
		if got.TagMutability != "IMMUTABLE_WITH_EXCLUSION" || fmt.Sprint(got.TagMutabilityExclusions) != "[dev-* latest]" || !got.ScanOnPush {
			t.Fatalf("after update: %+v", got)
		}
		return nil
	})
	a.TagMutability, a.TagMutabilityExclusions = "MUTABLE", nil
	update(t, s, func(tx store.Tx) error { return tx.UpdateRepository(a) })
	view(t, s, func(tx store.Tx) error {
		got, _ := tx.GetRepository(a.RegistryID, a.Name)
		if got.TagMutability != "MUTABLE" || got.TagMutabilityExclusions != nil {
			t.Fatalf("after clearing the exclusions: %+v", got)
		}
		return nil
	})
	c := &store.Repository{RegistryID: "111111111111", Name: "team/c", CreatedAt: t0, TagMutability: "MUTABLE_WITH_EXCLUSION",
		TagMutabilityExclusions: []string{"release-*"}, EncryptionType: "KMS_DSSE", KMSKey: "arn:aws:kms:us-east-1:111111111111:key/k"}
	update(t, s, func(tx store.Tx) error { return tx.CreateRepository(c) })
	view(t, s, func(tx store.Tx) error {
		got, _ := tx.GetRepository(c.RegistryID, c.Name)
		if fmt.Sprint(got.TagMutabilityExclusions) != "[release-*]" || got.EncryptionType != "KMS_DSSE" || got.KMSKey != c.KMSKey {
			t.Fatalf("created with exclusions: %+v", got)
		}
		return nil
	})
}

func testBlobsAndLinks(t *testing.T, s store.Store) {
	r1 := mkRepo(t, s, "000000000000", "one")
	r2 := mkRepo(t, s, "000000000000", "two")
	d := dg("layer")
	mkBlob(t, s, r1.ID, d, 42, t0)
	view(t, s, func(tx store.Tx) error {
		if b, err := tx.GetLinkedBlob(r1.ID, d); err != nil || b.Size != 42 {
			t.Fatalf("GetLinkedBlob in r1 = %+v, %v", b, err)
		}
		if _, err := tx.GetLinkedBlob(r2.ID, d); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("blob visible in a repository that never pushed it: %v", err)
		}
		holders, err := tx.BlobRepositories("000000000000", d, 10)
		if err != nil || len(holders) != 1 || holders[0].ID != r1.ID {
			t.Fatalf("BlobRepositories = %+v, %v", holders, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.LinkBlob(r2.ID, d, t0.Add(time.Minute)) })
	update(t, s, func(tx store.Tx) error { return tx.LinkBlob(r2.ID, d, t0.Add(time.Minute)) }) // idempotent
	update(t, s, func(tx store.Tx) error { return tx.UnlinkBlob(r1.ID, d) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetLinkedBlob(r1.ID, d); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unlinked blob still visible: %v", err)
		}
		if b, err := tx.GetBlob(d); err != nil || !b.TouchedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("link did not touch the blob: %+v, %v", b, err)
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UnlinkBlob(r1.ID, d) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unlink twice: %v", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.LinkBlob(r1.ID, dg("never stored"), t0) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("linking an unknown blob: %v", err)
	}
}

func testImagesAndTags(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "app")
	cfg, layer := dg("config"), dg("layer")
	mkBlob(t, s, r.ID, cfg, 10, t0)
	mkBlob(t, s, r.ID, layer, 20, t0)
	img := &store.Image{RepositoryID: r.ID, Digest: dg("manifest"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json", Size: 30, PushedAt: t0, Content: []byte(`{"a":1}`)}
	refs := []store.Ref{{Kind: store.RefBlob, Digest: cfg}, {Kind: store.RefBlob, Digest: layer}}
	update(t, s, func(tx store.Tx) error { return tx.PutImage(img, refs) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutImage(img, refs) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate image: %v", err)
	}
	update(t, s, func(tx store.Tx) error {
		for _, name := range []string{"v2", "v1", "latest"} {
			if err := tx.PutTag(r.ID, store.Tag{Name: name, Digest: img.Digest, UpdatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.PutTag(r.ID, store.Tag{Name: "x", Digest: dg("missing"), UpdatedAt: t0})
	}); err == nil {
		t.Fatal("a tag pointing at a missing image was stored")
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetImage(r.ID, img.Digest)
		if err != nil || string(got.Content) != `{"a":1}` || got.Size != 30 || got.MediaType != img.MediaType || !got.PushedAt.Equal(t0) {
			t.Fatalf("GetImage = %+v, %v", got, err)
		}
		if st, _ := tx.StatImage(r.ID, img.Digest); st.Content != nil {
			t.Fatal("StatImage returned content")
		}
		tags, _ := tx.ListTags(r.ID, "", 10)
		if len(tags) != 3 || tags[0].Name != "latest" || tags[2].Name != "v2" {
			t.Fatalf("ListTags = %+v", tags)
		}
		tags, _ = tx.ListTags(r.ID, "latest", 1)
		if len(tags) != 1 || tags[0].Name != "v1" {
			t.Fatalf("ListTags page = %+v", tags)
		}
		if names, _ := tx.ListTagNames(r.ID, "latest", 5); fmt.Sprint(names) != "[v1 v2]" {
			t.Fatalf("ListTagNames = %v", names)
		}
		if m, err := tx.TagsBetween(r.ID, img.Digest, img.Digest); err != nil || fmt.Sprint(m[img.Digest]) != "[latest v1 v2]" || len(m) != 1 {
			t.Fatalf("TagsBetween = %v, %v", m, err)
		}
		names, _ := tx.ImageTags(r.ID, img.Digest)
		if fmt.Sprint(names) != "[latest v1 v2]" {
			t.Fatalf("ImageTags = %v", names)
		}
		return nil
	})
	// An image's tags come in the order they were put on it; tags put at the same time by name.
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutTag(r.ID, store.Tag{Name: "a-later", Digest: img.Digest, UpdatedAt: t0.Add(time.Second)}); err != nil {
			return err
		}
		return tx.PutTag(r.ID, store.Tag{Name: "v1", Digest: img.Digest, UpdatedAt: t0.Add(2 * time.Second)})
	})
	view(t, s, func(tx store.Tx) error {
		if names, _ := tx.ImageTags(r.ID, img.Digest); fmt.Sprint(names) != "[latest v2 a-later v1]" {
			t.Fatalf("ImageTags by time = %v", names)
		}
		if m, _ := tx.TagsBetween(r.ID, img.Digest, img.Digest); fmt.Sprint(m[img.Digest]) != "[latest v2 a-later v1]" {
			t.Fatalf("TagsBetween by time = %v", m)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteTag(r.ID, "a-later"); err != nil {
			return err
		}
		return tx.PutTag(r.ID, store.Tag{Name: "v1", Digest: img.Digest, UpdatedAt: t0})
	})
	view(t, s, func(tx store.Tx) error {
		users, _ := tx.ReferencedBy(r.ID, store.RefBlob, layer)
		if len(users) != 1 || users[0] != img.Digest {
			t.Fatalf("ReferencedBy = %v", users)
		}
		if n, _ := tx.CountImages(r.ID); n != 1 {
			t.Fatalf("CountImages = %d", n)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		return tx.TouchPulls(r.ID, map[digest.Digest]time.Time{img.Digest: t0.Add(time.Hour)})
	})
	update(t, s, func(tx store.Tx) error { // an older pull time never moves it back
		return tx.TouchPulls(r.ID, map[digest.Digest]time.Time{img.Digest: t0})
	})
	view(t, s, func(tx store.Tx) error {
		if got, _ := tx.StatImage(r.ID, img.Digest); !got.LastPulledAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("LastPulledAt = %v", got.LastPulledAt)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteTag(r.ID, "v1") })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutImage(img, nil) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutImage of a digest already there: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		if n, _ := tx.CountImages(r.ID); n != 1 {
			t.Fatalf("CountImages after a refused PutImage = %d", n)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteImage(r.ID, img.Digest) })
	view(t, s, func(tx store.Tx) error {
		if n, _ := tx.CountImages(r.ID); n != 0 {
			t.Fatalf("CountImages after DeleteImage = %d", n)
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if tags, _ := tx.ListTags(r.ID, "", 10); len(tags) != 0 {
			t.Fatalf("tags survived their image: %+v", tags)
		}
		if users, _ := tx.ReferencedBy(r.ID, store.RefBlob, layer); len(users) != 0 {
			t.Fatalf("references survived their image: %v", users)
		}
		return nil
	})
}

func testReferrers(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "app")
	subject := dg("subject")
	for i, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig"} {
		img := &store.Image{RepositoryID: r.ID, Digest: dg(at), MediaType: "application/vnd.oci.image.manifest.v1+json",
			ArtifactType: at, Subject: subject, Annotations: fmt.Sprintf(`{"n":"%d"}`, i), PushedAt: t0, Content: []byte("{}")}
		update(t, s, func(tx store.Tx) error { return tx.PutImage(img, nil) })
	}
	view(t, s, func(tx store.Tx) error {
		refs, err := tx.Referrers(r.ID, subject)
		if err != nil || len(refs) != 2 || refs[0].Subject != subject || refs[0].Annotations == "" {
			t.Fatalf("Referrers = %+v, %v", refs, err)
		}
		if refs, _ := tx.Referrers(r.ID, dg("other")); len(refs) != 0 {
			t.Fatalf("Referrers of another subject = %+v", refs)
		}
		return nil
	})
}

func testUploads(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "app")
	u := &store.Upload{ID: "u1", RepositoryID: r.ID, Algorithm: digest.SHA256, StartedAt: t0, UpdatedAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.CreateUpload(u) })
	u.Offset, u.HashState, u.Parts, u.LastPart, u.SmallParts, u.UpdatedAt = 100, []byte("state"), 2, 60, 1, t0.Add(time.Minute)
	update(t, s, func(tx store.Tx) error { return tx.UpdateUpload(u, 0) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateUpload(u, 0) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale offset: %v, want ErrConflict", err)
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.GetUpload("u1")
		if err != nil || got.Offset != 100 || string(got.HashState) != "state" || got.RepositoryID != r.ID || got.Parts != 2 || got.LastPart != 60 || got.SmallParts != 1 {
			t.Fatalf("GetUpload = %+v, %v", got, err)
		}
		stale, _ := tx.StaleUploads(t0.Add(2*time.Minute), 10)
		if len(stale) != 1 {
			t.Fatalf("StaleUploads = %+v", stale)
		}
		if stale, _ := tx.StaleUploads(t0, 10); len(stale) != 0 {
			t.Fatalf("StaleUploads before update = %+v", stale)
		}
		if ok, _ := tx.UploadExists("u1"); !ok {
			t.Fatal("UploadExists = false")
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteUpload("u1") })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetUpload("u1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted upload: %v", err)
		}
		return nil
	})
}

func testGarbage(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "app")
	used, unused, young := dg("used"), dg("unused"), dg("young")
	mkBlob(t, s, r.ID, used, 1, t0)
	mkBlob(t, s, r.ID, unused, 2, t0)
	mkBlob(t, s, r.ID, young, 3, t0.Add(time.Hour))
	img := &store.Image{RepositoryID: r.ID, Digest: dg("m"), MediaType: "x", PushedAt: t0, Content: []byte("{}")}
	update(t, s, func(tx store.Tx) error { return tx.PutImage(img, []store.Ref{{Kind: store.RefBlob, Digest: used}}) })

	cutoff := t0.Add(30 * time.Minute)
	var n int
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.UnlinkUnreferenced(cutoff, 100); return err })
	if n != 1 {
		t.Fatalf("UnlinkUnreferenced removed %d links, want 1 (the old unused one)", n)
	}
	view(t, s, func(tx store.Tx) error {
		g, err := tx.GarbageBlobs(cutoff, 100)
		if err != nil || len(g) != 1 || g[0].Digest != unused {
			t.Fatalf("GarbageBlobs = %+v, %v", g, err)
		}
		return nil
	})
	var marked bool
	update(t, s, func(tx store.Tx) (err error) { marked, err = tx.MarkBlobDeleting(used, cutoff); return err })
	if marked {
		t.Fatal("a linked blob was marked for deletion")
	}
	update(t, s, func(tx store.Tx) (err error) { marked, err = tx.MarkBlobDeleting(unused, cutoff); return err })
	if !marked {
		t.Fatal("an unused blob was not marked")
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.PutBlob(store.Blob{Digest: unused, Size: 2, TouchedAt: t0.Add(2 * time.Hour)})
	}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutBlob on a Deleting blob: %v, want ErrConflict", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.LinkBlob(r.ID, unused, t0) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LinkBlob on a Deleting blob: %v, want ErrNotFound", err)
	}
	view(t, s, func(tx store.Tx) error {
		if holders, _ := tx.BlobRepositories("000000000000", unused, 10); len(holders) != 0 {
			t.Fatalf("a Deleting blob is mountable: %+v", holders)
		}
		g, _ := tx.GarbageBlobs(cutoff, 100)
		if len(g) != 1 || g[0].Status != store.BlobDeleting {
			t.Fatalf("GarbageBlobs with a Deleting blob = %+v", g)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteBlob(unused) })
	update(t, s, func(tx store.Tx) error { return tx.PutBlob(store.Blob{Digest: unused, Size: 2, TouchedAt: t0}) })
}

func testRollback(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateRepository(&store.Repository{RegistryID: "000000000000", Name: "ghost", TagMutability: "MUTABLE"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetRepository("000000000000", "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failed transaction left its repository: %v", err)
		}
		return nil
	})
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				r := &store.Repository{RegistryID: "000000000000", Name: fmt.Sprintf("r%02d", i%(n/2)), TagMutability: "MUTABLE"}
				return tx.CreateRepository(r)
			})
		}(i)
	}
	wg.Wait()
	ok, dup := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrExists):
			dup++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if ok != n/2 || dup != n/2 {
		t.Fatalf("%d created, %d duplicates; want %d each", ok, dup, n/2)
	}
	view(t, s, func(tx store.Tx) error {
		if c, _ := tx.CountRepositories("000000000000"); c != n/2 {
			t.Fatalf("%d repositories, want %d", c, n/2)
		}
		return nil
	})
}

func testDeleteRepository(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "gone")
	d := dg("b")
	mkBlob(t, s, r.ID, d, 1, t0)
	img := &store.Image{RepositoryID: r.ID, Digest: dg("m"), MediaType: "x", PushedAt: t0, Content: []byte("{}")}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutImage(img, []store.Ref{{Kind: store.RefBlob, Digest: d}}); err != nil {
			return err
		}
		if err := tx.PutTag(r.ID, store.Tag{Name: "t", Digest: img.Digest, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateUpload(&store.Upload{ID: "up", RepositoryID: r.ID, Algorithm: digest.SHA256, StartedAt: t0, UpdatedAt: t0})
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteRepository(r.ID) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetUpload("up"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("upload survived its repository: %v", err)
		}
		g, _ := tx.GarbageBlobs(t0.Add(time.Hour), 10)
		if len(g) != 1 || g[0].Digest != d {
			t.Fatalf("the blob of a deleted repository is not garbage: %+v", g)
		}
		return nil
	})
}

func testIdentities(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateAccount(store.Account{ID: "111122223333", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateUser(store.User{AccountID: "111122223333", Name: "alice", UserID: "AIDAALICE", CreatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateAccessKey(store.AccessKey{ID: "AKIAALICE", AccountID: "111122223333", UserName: "alice", Secret: []byte("sealed"), Status: "Active", CreatedAt: t0})
	})
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.CreateUser(store.User{AccountID: "999999999999", Name: "ghost", UserID: "AIDAGHOST", CreatedAt: t0})
	}); err == nil {
		t.Fatal("a user of a missing account was stored")
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateAccount(store.Account{ID: "111122223333"}) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate account: %v", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.SetAccessKeyStatus("AKIAALICE", "Inactive") })
	view(t, s, func(tx store.Tx) error {
		k, err := tx.GetAccessKey("AKIAALICE")
		if err != nil || k.UserName != "alice" || string(k.Secret) != "sealed" || k.Status != "Inactive" {
			t.Fatalf("GetAccessKey = %+v, %v", k, err)
		}
		if keys, _ := tx.ListAccessKeys("111122223333", "alice"); len(keys) != 1 {
			t.Fatalf("ListAccessKeys = %+v", keys)
		}
		if u, err := tx.GetUser("111122223333", "alice"); err != nil || u.UserID != "AIDAALICE" {
			t.Fatalf("GetUser = %+v, %v", u, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteUser("111122223333", "alice") })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetAccessKey("AKIAALICE"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("access key survived its user: %v", err)
		}
		return nil
	})
}

func testRepositoryTags(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "000000000000", "tagged")
	update(t, s, func(tx store.Tx) error {
		return tx.PutRepositoryTags(r.ID, []store.ResourceTag{{Key: "team", Value: "devs"}, {Key: "env", Value: "prod"}})
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutRepositoryTags(r.ID, []store.ResourceTag{{Key: "team", Value: "ops"}}); err != nil {
			return err
		}
		return tx.DeleteRepositoryTags(r.ID, []string{"env", "absent"})
	})
	view(t, s, func(tx store.Tx) error {
		tags, err := tx.RepositoryTags(r.ID)
		if err != nil || len(tags) != 1 || tags[0] != (store.ResourceTag{Key: "team", Value: "ops"}) {
			t.Fatalf("RepositoryTags = %+v, %v", tags, err)
		}
		return nil
	})
}

func testPolicies(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "111122223333", "guarded")
	update(t, s, func(tx store.Tx) error {
		if err := tx.CreateAccount(store.Account{ID: "111122223333", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.CreateUser(store.User{AccountID: "111122223333", Name: "alice", UserID: "AIDAA", CreatedAt: t0}); err != nil {
			return err
		}
		for _, err := range []error{
			tx.PutUserPolicy("111122223333", "alice", "pull", `{"v":1}`),
			tx.PutUserPolicy("111122223333", "alice", "pull", `{"v":2}`),
			tx.AttachUserPolicy("111122223333", "alice", "arn:aws:iam::aws:policy/AdministratorAccess"),
			tx.AttachUserPolicy("111122223333", "alice", "arn:aws:iam::aws:policy/AdministratorAccess"),
			tx.SetRepositoryPolicy(r.ID, `{"repo":1}`),
			tx.SetRegistryPolicy("111122223333", `{"reg":1}`),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if p, _ := tx.UserPolicies("111122223333", "alice"); p["pull"] != `{"v":2}` || len(p) != 1 {
			t.Fatalf("UserPolicies = %v", p)
		}
		if a, _ := tx.AttachedUserPolicies("111122223333", "alice"); len(a) != 1 {
			t.Fatalf("AttachedUserPolicies = %v", a)
		}
		if d, err := tx.RepositoryPolicy(r.ID); err != nil || d != `{"repo":1}` {
			t.Fatalf("RepositoryPolicy = %q, %v", d, err)
		}
		if d, err := tx.RegistryPolicy("111122223333"); err != nil || d != `{"reg":1}` {
			t.Fatalf("RegistryPolicy = %q, %v", d, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetRepositoryPolicy(r.ID, ""); err != nil {
			return err
		}
		return tx.DetachUserPolicy("111122223333", "alice", "arn:aws:iam::aws:policy/AdministratorAccess")
	})
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.RepositoryPolicy(r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted repository policy: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteUser("111122223333", "alice") })
	view(t, s, func(tx store.Tx) error {
		if p, _ := tx.UserPolicies("111122223333", "alice"); len(p) != 0 {
			t.Fatalf("policies survived their user: %v", p)
		}
		return nil
	})
}

func testGroupsAndRoles(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, err := range []error{
			tx.CreateAccount(store.Account{ID: "111122223333", CreatedAt: t0}),
			tx.CreateUser(store.User{AccountID: "111122223333", Name: "alice", UserID: "AIDAA", CreatedAt: t0}),
			tx.CreateGroup(store.Group{AccountID: "111122223333", Name: "devs", GroupID: "AGPAD", CreatedAt: t0}),
			tx.AddUserToGroup("111122223333", "devs", "alice"),
			tx.AddUserToGroup("111122223333", "devs", "alice"),
			tx.CreateRole(store.Role{AccountID: "111122223333", Name: "ci", RoleID: "AROAC", TrustPolicy: "{}", MaxSession: time.Hour, CreatedAt: t0}),
			tx.PutOwnerPolicy("111122223333", store.GroupPolicies, "devs", "p", `{"g":1}`),
			tx.AttachOwnerPolicy("111122223333", store.RolePolicies, "ci", "arn:aws:iam::aws:policy/AdministratorAccess"),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.AddUserToGroup("111122223333", "nope", "alice") }); err == nil {
		t.Fatal("a user joined a missing group")
	}
	view(t, s, func(tx store.Tx) error {
		if g, _ := tx.UserGroups("111122223333", "alice"); fmt.Sprint(g) != "[devs]" {
			t.Fatalf("UserGroups = %v", g)
		}
		if r, err := tx.GetRole("111122223333", "ci"); err != nil || r.MaxSession != time.Hour || r.RoleID != "AROAC" {
			t.Fatalf("GetRole = %+v, %v", r, err)
		}
		if p, _ := tx.OwnerPolicies("111122223333", store.GroupPolicies, "devs"); p["p"] != `{"g":1}` {
			t.Fatalf("OwnerPolicies = %v", p)
		}
		if a, _ := tx.AttachedOwnerPolicies("111122223333", store.RolePolicies, "ci"); len(a) != 1 {
			t.Fatalf("AttachedOwnerPolicies = %v", a)
		}
		if _, err := tx.GetGroup("111122223333", "devs"); err != nil {
			t.Fatalf("GetGroup: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.RemoveUserFromGroup("111122223333", "devs", "alice") })
	for _, group := range []string{"devs", "nope"} {
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.RemoveUserFromGroup("111122223333", group, "alice") }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RemoveUserFromGroup of a non-member (group %s): %v", group, err)
		}
	}
	view(t, s, func(tx store.Tx) error {
		if g, err := tx.UserGroups("111122223333", "alice"); err != nil || len(g) != 0 {
			t.Fatalf("UserGroups after RemoveUserFromGroup = %v, %v", g, err)
		}
		if _, err := tx.GetGroup("111122223333", "devs"); err != nil {
			t.Fatalf("the group went with its last member: %v", err)
		}
		if _, err := tx.GetUser("111122223333", "alice"); err != nil {
			t.Fatalf("the user went with its membership: %v", err)
		}
		return nil
	})
}

func testLifecycle(t *testing.T, s store.Store) {
	r := mkRepo(t, s, "111111111111", "app")
	other := mkRepo(t, s, "111111111111", "other")
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.LifecyclePolicy(r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LifecyclePolicy before any: %v", err)
		}
		if _, err := tx.LifecyclePreview(r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LifecyclePreview before any: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteLifecyclePolicy(r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteLifecyclePolicy before any: %v", err)
		}
		if err := tx.SetLifecycleEvaluated(r.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetLifecycleEvaluated of no policy: %v", err)
		}
		if err := tx.SetLifecyclePolicy(store.LifecyclePolicy{RepositoryID: r.ID, Text: "first", UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.SetLifecyclePolicy(store.LifecyclePolicy{RepositoryID: other.ID, Text: "other", UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.SetLifecyclePolicy(store.LifecyclePolicy{RepositoryID: r.ID, Text: "second", UpdatedAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		return tx.SetLifecycleEvaluated(r.ID, t0.Add(2*time.Hour))
	})
	view(t, s, func(tx store.Tx) error {
		p, err := tx.LifecyclePolicy(r.ID)
		if err != nil || p.Text != "second" || !p.UpdatedAt.Equal(t0.Add(time.Hour)) || !p.LastEvaluatedAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("LifecyclePolicy = %+v, %v", p, err)
		}
		all, err := tx.LifecyclePolicies(0, 10)
		if err != nil || len(all) != 2 || all[0].RepositoryID != r.ID || all[1].RepositoryID != other.ID || !all[1].LastEvaluatedAt.IsZero() {
			t.Errorf("LifecyclePolicies = %+v, %v", all, err)
		}
		if page, _ := tx.LifecyclePolicies(r.ID, 10); len(page) != 1 || page[0].Text != "other" {
			t.Errorf("LifecyclePolicies after %d = %+v", r.ID, page)
		}
		return nil
	})

	events := []store.LifecycleEvent{
		{At: t0, Expiry: store.Expiry{Digest: dg("a"), Tags: []string{"v1", "prod"}, PushedAt: t0.Add(-48 * time.Hour), Rule: 1}},
		{At: t0.Add(time.Hour), Expiry: store.Expiry{Digest: dg("b"), PushedAt: t0.Add(-24 * time.Hour), Rule: 3}},
	}
	update(t, s, func(tx store.Tx) error { return tx.AddLifecycleEvents(r.ID, events) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.LifecycleEvents(r.ID, 10)
		if err != nil || len(got) != 2 || got[0].Digest != dg("b") || got[1].Digest != dg("a") || got[1].Rule != 1 ||
			len(got[1].Tags) != 2 || got[1].Tags[1] != "prod" || !got[1].PushedAt.Equal(events[0].PushedAt) || !got[0].At.Equal(events[1].At) {
			t.Errorf("LifecycleEvents = %+v, %v", got, err)
		}
		if got, _ := tx.LifecycleEvents(other.ID, 10); len(got) != 0 {
			t.Errorf("events of another repository: %+v", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		n, err := tx.PruneLifecycleEvents(t0.Add(time.Minute))
		if n != 1 {
			t.Errorf("PruneLifecycleEvents removed %d, want 1", n)
		}
		return err
	})

	preview := store.LifecyclePreview{RepositoryID: r.ID, Text: "p", Status: "IN_PROGRESS", StartedAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.PutLifecyclePreview(preview) })
	preview.Status = "COMPLETE"
	preview.Results = []store.Expiry{events[0].Expiry, events[1].Expiry}
	update(t, s, func(tx store.Tx) error { return tx.PutLifecyclePreview(preview) })
	view(t, s, func(tx store.Tx) error {
		p, err := tx.LifecyclePreview(r.ID)
		if err != nil || p.Status != "COMPLETE" || p.Text != "p" || !p.StartedAt.Equal(t0) || len(p.Results) != 2 ||
			p.Results[0].Digest != dg("a") || p.Results[0].Tags[0] != "v1" || !p.Results[1].PushedAt.Equal(events[1].PushedAt) || p.Results[1].Rule != 3 {
			t.Errorf("LifecyclePreview = %+v, %v", p, err)
		}
		return nil
	})

	update(t, s, func(tx store.Tx) error { return tx.DeleteRepository(r.ID) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.LifecyclePolicy(r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("policy outlived its repository: %v", err)
		}
		if _, err := tx.LifecyclePreview(r.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("preview outlived its repository: %v", err)
		}
		if got, _ := tx.LifecycleEvents(r.ID, 10); len(got) != 0 {
			t.Errorf("events outlived their repository: %+v", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteLifecyclePolicy(other.ID) })
	view(t, s, func(tx store.Tx) error {
		if all, _ := tx.LifecyclePolicies(0, 10); len(all) != 0 {
			t.Errorf("policies left: %+v", all)
		}
		return nil
	})
}

func testLeases(t *testing.T, s store.Store) {
	acquire := func(holder string, at time.Time) bool {
		var ok bool
		update(t, s, func(tx store.Tx) (err error) {
			ok, err = tx.AcquireLease("lifecycle", holder, at, time.Minute)
			return err
		})
		return ok
	}
	held := func(at time.Time) bool {
		var ok bool
		view(t, s, func(tx store.Tx) (err error) {
			ok, err = tx.LeaseHeld("lifecycle", at)
			return err
		})
		return ok
	}
	if held(t0) {
		t.Fatal("a lease never taken is held")
	}
	if !acquire("node-1", t0) {
		t.Fatal("a free lease was refused")
	}
	if !held(t0.Add(59*time.Second)) || held(t0.Add(60*time.Second)) {
		t.Fatal("LeaseHeld does not tell a lease held until it expires")
	}
	if acquire("node-2", t0.Add(30*time.Second)) {
		t.Fatal("a held lease was given to another holder")
	}
	if !acquire("node-1", t0.Add(50*time.Second)) {
		t.Fatal("the holder could not renew")
	}
	if acquire("node-2", t0.Add(100*time.Second)) {
		t.Fatal("a renewed lease expired at its first term")
	}
	if !acquire("node-2", t0.Add(111*time.Second)) {
		t.Fatal("an expired lease was not taken over")
	}
	update(t, s, func(tx store.Tx) error { return tx.ReleaseLease("lifecycle", "node-1") }) // not the holder: no effect
	if acquire("node-1", t0.Add(112*time.Second)) {
		t.Fatal("a release by a former holder freed the lease")
	}
	update(t, s, func(tx store.Tx) error { return tx.ReleaseLease("lifecycle", "node-2") })
	if !acquire("node-1", t0.Add(113*time.Second)) {
		t.Fatal("a released lease stayed taken")
	}
	var mu sync.Mutex
	winners := 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok bool
			err := s.Update(ctx, func(tx store.Tx) (err error) {
				ok, err = tx.AcquireLease("gc", fmt.Sprintf("racer-%d", i), t0, time.Minute)
				return err
			})
			if err != nil {
				t.Errorf("AcquireLease: %v", err)
			}
			mu.Lock()
			if ok {
				winners++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d concurrent holders of one lease", winners)
	}
}

func testNodes(t *testing.T, s store.Store) {
	live := func(since time.Time) int {
		var n int
		update(t, s, func(tx store.Tx) (err error) { n, err = tx.LiveNodes(since); return err })
		return n
	}
	for i, node := range []string{"a", "b", "c"} {
		update(t, s, func(tx store.Tx) error { return tx.Heartbeat(node, t0.Add(time.Duration(i)*time.Second)) })
	}
	update(t, s, func(tx store.Tx) error { return tx.Heartbeat("a", t0.Add(5*time.Second)) }) // a beats again
	if n := live(t0); n != 3 {
		t.Fatalf("%d live nodes since t0, want 3", n)
	}
	if n := live(t0.Add(2 * time.Second)); n != 2 { // b last beat at t0+1s
		t.Fatalf("%d live nodes since t0+2s, want 2 (a and c)", n)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode("c") })
	if n := live(t0); n != 2 {
		t.Fatalf("%d live nodes after c stopped, want 2", n)
	}
	update(t, s, func(tx store.Tx) error { return tx.PruneNodes(t0.Add(3 * time.Second)) }) // b is forgotten
	if n := live(time.Time{}); n != 1 {
		t.Fatalf("%d nodes after pruning, want 1", n)
	}
}
