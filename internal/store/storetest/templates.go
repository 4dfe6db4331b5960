package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testCreationTemplates(t *testing.T, s store.Store) {
	const reg = "000000000000"
	full := store.RepositoryCreationTemplate{RegistryID: reg, Prefix: "team-a", Description: "team A's",
		EncryptionType: "KMS", KMSKey: "arn:aws:kms:us-east-1:000000000000:key/k1",
		ResourceTags:  []store.ResourceTag{{Key: "team", Value: "a"}, {Key: "cost", Value: ""}},
		TagMutability: "IMMUTABLE_WITH_EXCLUSION", TagMutabilityExclusions: []string{"latest", "dev-*"},
		RepositoryPolicy: `{"Version":"2012-10-17"}`, LifecyclePolicy: `{"rules":[]}`,
		AppliedFor: []string{"CREATE_ON_PUSH", "REPLICATION"}, CustomRoleARN: "arn:aws:iam::000000000000:role/r",
		CreatedAt: t0, UpdatedAt: t0}
	bare := store.RepositoryCreationTemplate{RegistryID: reg, Prefix: "ROOT", EncryptionType: "AES256", TagMutability: "MUTABLE",
		AppliedFor: []string{"PULL_THROUGH_CACHE"}, CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(time.Second)}
	other := bare
	other.RegistryID = "111111111111"
	for _, tpl := range []store.RepositoryCreationTemplate{full, bare, other} {
		update(t, s, func(tx store.Tx) error { return tx.CreateCreationTemplate(tpl) })
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateCreationTemplate(full) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a prefix added twice: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		for _, want := range []store.RepositoryCreationTemplate{full, bare, other} {
			got, err := tx.GetCreationTemplate(want.RegistryID, want.Prefix)
			if err != nil || !reflect.DeepEqual(*got, want) {
				t.Errorf("template %s/%s = %+v, %v; want %+v", want.RegistryID, want.Prefix, got, err, want)
			}
		}
		if _, err := tx.GetCreationTemplate(reg, "team-b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a missing template: %v", err)
		}
		if n, err := tx.CountCreationTemplates(reg); n != 2 || err != nil {
			t.Errorf("count = %d, %v; want 2", n, err)
		}
		// Byte order: upper-case ROOT before lower-case prefixes.
		all, err := tx.CreationTemplates(reg, "", 10)
		if err != nil || len(all) != 2 || all[0].Prefix != "ROOT" || all[1].Prefix != "team-a" {
			t.Errorf("listing: %+v, %v", all, err)
		}
		page, err := tx.CreationTemplates(reg, "ROOT", 1)
		if err != nil || len(page) != 1 || page[0].Prefix != "team-a" {
			t.Errorf("page after ROOT: %+v, %v", page, err)
		}
		return nil
	})

	changed := bare
	changed.Description, changed.AppliedFor, changed.ResourceTags = "all", []string{"CREATE_ON_PUSH"}, []store.ResourceTag{{Key: "k", Value: "v"}}
	changed.CreatedAt, changed.UpdatedAt = t0.Add(time.Hour), t0.Add(time.Hour) // CreatedAt is not updated
	update(t, s, func(tx store.Tx) error { return tx.UpdateCreationTemplate(changed) })
	view(t, s, func(tx store.Tx) error {
		want := changed
		want.CreatedAt = bare.CreatedAt
		if got, err := tx.GetCreationTemplate(reg, "ROOT"); err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("updated = %+v, %v; want %+v", got, err, want)
		}
		return nil
	})
	missing := bare
	missing.Prefix = "nope"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateCreationTemplate(missing) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating a missing template: %v", err)
	}

	update(t, s, func(tx store.Tx) error { return tx.DeleteCreationTemplate(reg, "team-a") })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteCreationTemplate(reg, "team-a") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing template: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		if n, err := tx.CountCreationTemplates(reg); n != 1 || err != nil {
			t.Errorf("count after a delete = %d, %v", n, err)
		}
		if n, err := tx.CountCreationTemplates(other.RegistryID); n != 1 || err != nil {
			t.Errorf("the other registry's count = %d, %v", n, err)
		}
		return nil
	})
}
