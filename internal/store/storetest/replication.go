package storetest

import (
	"errors"
	"testing"

	"github.com/wharf-dev/wharf/internal/store"
)

func testReplication(t *testing.T, s store.Store) {
	const reg = "000000000000"
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.ReplicationConfiguration(reg); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("configuration before any: %v", err)
	}
	for _, rules := range []string{`[1]`, `[2]`} {
		update(t, s, func(tx store.Tx) error {
			return tx.SetReplicationConfiguration(store.ReplicationConfiguration{RegistryID: reg, Rules: rules, UpdatedAt: t0})
		})
	}
	view(t, s, func(tx store.Tx) error {
		c, err := tx.ReplicationConfiguration(reg)
		if err != nil || c.Rules != `[2]` || !c.UpdatedAt.Equal(t0) {
			t.Errorf("configuration: %+v, %v", c, err)
		}
		return nil
	})

	r := mkRepo(t, s, reg, "app")
	img := &store.Image{RepositoryID: r.ID, Digest: dg("replicated"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: 1, PushedAt: t0, Content: []byte(`{}`)}
	update(t, s, func(tx store.Tx) error { return tx.PutImage(img, nil) })
	for _, d := range []struct{ region, registry string }{{"us-west-2", "111111111111"}, {"eu-west-1", "000000000000"}, {"us-west-2", "000000000001"}} {
		update(t, s, func(tx store.Tx) error {
			return tx.PutImageReplicationStatus(store.ImageReplicationStatus{RepositoryID: r.ID, Digest: img.Digest, Region: d.region,
				RegistryID: d.registry, Status: "IN_PROGRESS", UpdatedAt: t0})
		})
	}
	update(t, s, func(tx store.Tx) error {
		return tx.PutImageReplicationStatus(store.ImageReplicationStatus{RepositoryID: r.ID, Digest: img.Digest, Region: "us-west-2",
			RegistryID: "111111111111", Status: "FAILED", FailureCode: "Code", UpdatedAt: t0})
	})
	view(t, s, func(tx store.Tx) error {
		all, err := tx.ImageReplicationStatuses(r.ID, img.Digest)
		if err != nil || len(all) != 3 || all[0].Region != "eu-west-1" || all[1].RegistryID != "000000000001" || all[1].Status != "IN_PROGRESS" ||
			all[2].RegistryID != "111111111111" || all[2].Status != "FAILED" || all[2].FailureCode != "Code" || !all[2].UpdatedAt.Equal(t0) {
			t.Errorf("statuses: %+v, %v", all, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteImage(r.ID, img.Digest) })
	view(t, s, func(tx store.Tx) error {
		if all, err := tx.ImageReplicationStatuses(r.ID, img.Digest); err != nil || len(all) != 0 {
			t.Errorf("statuses of a deleted image: %+v, %v", all, err)
		}
		return nil
	})
}
