package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testSecrets(t *testing.T, s store.Store) {
	const a, b = "111111111111", "222222222222"
	arn := func(acct, name string) string {
		return "arn:aws:secretsmanager:us-east-1:" + acct + ":secret:" + name + "-AbC123"
	}
	hub := store.Secret{AccountID: a, Name: "ecr-pullthroughcache/hub", ARN: arn(a, "ecr-pullthroughcache/hub"), Description: "Docker Hub",
		Tags: []store.ResourceTag{{Key: "team", Value: "build"}}, CreatedAt: t0, ChangedAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.CreateSecret(hub) })
	dup := hub
	dup.ARN = arn(a, "other")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateSecret(dup) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second secret of the same name: %v", err)
	}
	for _, n := range []string{"b", "a", "c"} {
		update(t, s, func(tx store.Tx) error {
			return tx.CreateSecret(store.Secret{AccountID: a, Name: n, ARN: arn(a, n), CreatedAt: t0, ChangedAt: t0})
		})
	}
	update(t, s, func(tx store.Tx) error { // the same name in another account
		return tx.CreateSecret(store.Secret{AccountID: b, Name: "a", ARN: arn(b, "a"), CreatedAt: t0, ChangedAt: t0})
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Secret(a, hub.Name)
		if err != nil || got.ARN != hub.ARN || got.Description != "Docker Hub" || !slices.Equal(got.Tags, hub.Tags) ||
			!got.CreatedAt.Equal(t0) || !got.DeletedAt.IsZero() || !got.PurgeAt.IsZero() {
			t.Errorf("secret by name: %+v, %v", got, err)
		}
		if got, err := tx.SecretByARN(arn(b, "a")); err != nil || got.AccountID != b || got.Name != "a" || len(got.Tags) != 0 {
			t.Errorf("secret by ARN: %+v, %v", got, err)
		}
		if _, err := tx.Secret(b, "b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another account's secret: %v", err)
		}
		if _, err := tx.SecretByARN(arn(a, "nope")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a missing ARN: %v", err)
		}
		page, err := tx.Secrets(a, "", 2)
		if err != nil || len(page) != 2 || page[0].Name != "a" || page[1].Name != "b" {
			t.Errorf("first page: %+v, %v", page, err)
		}
		page, err = tx.Secrets(a, "b", 10)
		if err != nil || len(page) != 2 || page[0].Name != "c" || page[1].Name != hub.Name {
			t.Errorf("second page: %+v, %v", page, err)
		}
		return nil
	})

	// Versions: staging labels replaced, listed oldest first, gone with their secret.
	v1 := store.SecretVersion{SecretARN: hub.ARN, VersionID: "00000000-0000-4000-8000-000000000001", Stages: []string{"AWSCURRENT"},
		Sealed: []byte{1, 2, 3}, CreatedAt: t0}
	v2 := store.SecretVersion{SecretARN: hub.ARN, VersionID: "00000000-0000-4000-8000-000000000002", Stages: []string{"AWSCURRENT"},
		Sealed: []byte{4}, Binary: true, CreatedAt: t0.Add(time.Second)}
	update(t, s, func(tx store.Tx) error { return tx.PutSecretVersion(v1) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutSecretVersion(v1) }); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a version twice: %v", err)
	}
	missing := v1
	missing.SecretARN = arn(a, "nope")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutSecretVersion(missing) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a version of a missing secret: %v", err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetSecretVersionStages(hub.ARN, v1.VersionID, []string{"AWSPREVIOUS"}); err != nil {
			return err
		}
		return tx.PutSecretVersion(v2)
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetSecretVersionStages(hub.ARN, "nope", nil) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("labelling a missing version: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		vs, err := tx.SecretVersions(hub.ARN)
		if err != nil || len(vs) != 2 {
			t.Fatalf("versions: %+v, %v", vs, err)
		}
		if vs[0].VersionID != v1.VersionID || !slices.Equal(vs[0].Stages, []string{"AWSPREVIOUS"}) || string(vs[0].Sealed) != "\x01\x02\x03" ||
			vs[0].Binary || !vs[0].CreatedAt.Equal(t0) {
			t.Errorf("first version: %+v", vs[0])
		}
		if vs[1].VersionID != v2.VersionID || !slices.Equal(vs[1].Stages, []string{"AWSCURRENT"}) || !vs[1].Binary {
			t.Errorf("second version: %+v", vs[1])
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.SetSecretVersionStages(hub.ARN, v1.VersionID, nil) })
	view(t, s, func(tx store.Tx) error {
		vs, err := tx.SecretVersions(hub.ARN)
		if err != nil || len(vs) != 2 || len(vs[0].Stages) != 0 {
			t.Errorf("a version without labels: %+v, %v", vs, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteSecretVersion(hub.ARN, v1.VersionID) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteSecretVersion(hub.ARN, v1.VersionID) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing version: %v", err)
	}

	// Scheduling for deletion, and the secrets due.
	hub.Description, hub.Tags = "", nil
	hub.ChangedAt, hub.DeletedAt, hub.PurgeAt = t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(7*24*time.Hour)
	update(t, s, func(tx store.Tx) error { return tx.UpdateSecret(hub) })
	c := store.Secret{ARN: arn(a, "c"), DeletedAt: t0, PurgeAt: t0.Add(30 * 24 * time.Hour), ChangedAt: t0}
	update(t, s, func(tx store.Tx) error { return tx.UpdateSecret(c) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateSecret(store.Secret{ARN: arn(a, "nope")}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("updating a missing secret: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		got, err := tx.SecretByARN(hub.ARN)
		if err != nil || got.Description != "" || len(got.Tags) != 0 || !got.DeletedAt.Equal(hub.DeletedAt) || !got.PurgeAt.Equal(hub.PurgeAt) ||
			!got.ChangedAt.Equal(hub.ChangedAt) || got.Name != "ecr-pullthroughcache/hub" {
			t.Errorf("updated: %+v, %v", got, err)
		}
		for _, tc := range []struct {
			at   time.Time
			want []string
		}{
			{t0.Add(24 * time.Hour), nil},
			{hub.PurgeAt, []string{hub.ARN}},
			{t0.Add(60 * 24 * time.Hour), []string{hub.ARN, c.ARN}},
		} {
			due, err := tx.SecretsDue(tc.at, 10)
			var arns []string
			for _, d := range due {
				arns = append(arns, d.ARN)
			}
			if err != nil || !slices.Equal(arns, tc.want) {
				t.Errorf("due at %v: %v, %v; want %v", tc.at, arns, err, tc.want)
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteSecret(hub.ARN) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteSecret(hub.ARN) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing secret: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		if vs, err := tx.SecretVersions(hub.ARN); err != nil || len(vs) != 0 {
			t.Errorf("versions of a deleted secret: %+v, %v", vs, err)
		}
		if _, err := tx.Secret(a, hub.Name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted secret: %v", err)
		}
		return nil
	})
	// Its name is free again, under a new ARN.
	hub.ARN = arn(a, "ecr-pullthroughcache/hub") + "x"
	update(t, s, func(tx store.Tx) error { return tx.CreateSecret(hub) })
}
