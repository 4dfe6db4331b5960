package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testPullThroughCacheRules(t *testing.T, s store.Store) {
	const reg = "000000000000"
	hub := store.PullThroughCacheRule{RegistryID: reg, Prefix: "hub", UpstreamURL: "registry-1.docker.io",
		UpstreamRegistry: "docker-hub", CredentialARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/hub-AbCdEf",
		CreatedAt: t0, UpdatedAt: t0}
	ecr := store.PullThroughCacheRule{RegistryID: reg, Prefix: "ROOT", UpstreamURL: "111111111111.dkr.ecr.us-west-2.amazonaws.com",
		UpstreamRegistry: "ecr", UpstreamRepositoryPrefix: "team", CustomRoleARN: "arn:aws:iam::000000000000:role/r",
		CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(time.Second)}
	other := hub
	other.RegistryID = "111111111111"
	for _, r := range []store.PullThroughCacheRule{hub, ecr, other} {
		update(t, s, func(tx store.Tx) error { return tx.CreatePullThroughCacheRule(r) })
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreatePullThroughCacheRule(hub) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a prefix added twice: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		for _, want := range []store.PullThroughCacheRule{hub, ecr, other} {
			got, err := tx.GetPullThroughCacheRule(want.RegistryID, want.Prefix)
			if err != nil || !reflect.DeepEqual(*got, want) {
				t.Errorf("rule %s/%s = %+v, %v; want %+v", want.RegistryID, want.Prefix, got, err, want)
			}
		}
		if _, err := tx.GetPullThroughCacheRule(reg, "quay"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a missing rule: %v", err)
		}
		if n, err := tx.CountPullThroughCacheRules(reg); n != 2 || err != nil {
			t.Errorf("count = %d, %v; want 2", n, err)
		}
		all, err := tx.PullThroughCacheRules(reg, "", 10)
		if err != nil || len(all) != 2 || all[0].Prefix != "ROOT" || all[1].Prefix != "hub" {
			t.Errorf("listing: %+v, %v", all, err)
		}
		page, err := tx.PullThroughCacheRules(reg, "ROOT", 1)
		if err != nil || len(page) != 1 || page[0].Prefix != "hub" {
			t.Errorf("page after ROOT: %+v, %v", page, err)
		}
		return nil
	})

	changed := hub
	changed.CredentialARN, changed.CustomRoleARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:ecr-pullthroughcache/new-123456", "arn:aws:iam::000000000000:role/x"
	changed.CreatedAt, changed.UpdatedAt = t0.Add(time.Hour), t0.Add(time.Hour) // CreatedAt is not updated
	update(t, s, func(tx store.Tx) error { return tx.UpdatePullThroughCacheRule(changed) })
	view(t, s, func(tx store.Tx) error {
		want := changed
		want.CreatedAt = hub.CreatedAt
		if got, err := tx.GetPullThroughCacheRule(reg, "hub"); err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("updated = %+v, %v; want %+v", got, err, want)
		}
		return nil
	})
	missing := hub
	missing.Prefix = "nope"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdatePullThroughCacheRule(missing) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating a missing rule: %v", err)
	}

	update(t, s, func(tx store.Tx) error { return tx.DeletePullThroughCacheRule(reg, "hub") })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeletePullThroughCacheRule(reg, "hub") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing rule: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		if n, err := tx.CountPullThroughCacheRules(reg); n != 1 || err != nil {
			t.Errorf("count after a delete = %d, %v", n, err)
		}
		if n, err := tx.CountPullThroughCacheRules(other.RegistryID); n != 1 || err != nil {
			t.Errorf("the other registry's count = %d, %v", n, err)
		}
		return nil
	})
}

func testPullThroughTagChecks(t *testing.T, s store.Store) {
	const reg = "000000000000"
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.PullThroughTagChecked(reg, "hub/library/alpine", "3"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a tag never checked: %v", err)
		}
		return nil
	})
	for _, at := range []time.Time{t0, t0.Add(time.Hour)} {
		update(t, s, func(tx store.Tx) error { return tx.SetPullThroughTagChecked(reg, "hub/library/alpine", "3", at) })
		view(t, s, func(tx store.Tx) error {
			if got, err := tx.PullThroughTagChecked(reg, "hub/library/alpine", "3"); err != nil || !got.Equal(at) {
				t.Fatalf("checked at %v, %v; want %v", got, err, at)
			}
			if _, err := tx.PullThroughTagChecked(reg, "hub/library/alpine", "latest"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("another tag: %v", err)
			}
			return nil
		})
	}
}
