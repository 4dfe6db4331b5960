package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testPullTimeExclusions(t *testing.T, s store.Store) {
	arn := func(i int) string { return fmt.Sprintf("arn:aws:iam::000000000000:user/u%02d", i) }
	for i := range 5 {
		update(t, s, func(tx store.Tx) error {
			return tx.PutPullTimeExclusion(store.PullTimeExclusion{RegistryID: "000000000000", PrincipalARN: arn(i), CreatedAt: t0.Add(time.Duration(i) * time.Second)})
		})
	}
	update(t, s, func(tx store.Tx) error {
		return tx.PutPullTimeExclusion(store.PullTimeExclusion{RegistryID: "111111111111", PrincipalARN: arn(0), CreatedAt: t0})
	})
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.PutPullTimeExclusion(store.PullTimeExclusion{RegistryID: "000000000000", PrincipalARN: arn(3), CreatedAt: t0})
	}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an exclusion added twice: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		page, err := tx.PullTimeExclusions("000000000000", arn(1), 2)
		if err != nil || len(page) != 2 || page[0].PrincipalARN != arn(2) || page[1].PrincipalARN != arn(3) ||
			!page[1].CreatedAt.Equal(t0.Add(3*time.Second)) || page[0].RegistryID != "000000000000" {
			t.Errorf("page after %s: %+v, %v", arn(1), page, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeletePullTimeExclusion("000000000000", arn(3)) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.DeletePullTimeExclusion("000000000000", arn(3)) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing exclusion: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		all, err := tx.PullTimeExclusions("000000000000", "", 100)
		if err != nil || len(all) != 4 {
			t.Errorf("after a delete: %+v, %v", all, err)
		}
		other, err := tx.PullTimeExclusions("111111111111", "", 100)
		if err != nil || len(other) != 1 {
			t.Errorf("the other registry's: %+v, %v", other, err)
		}
		return nil
	})
}

func testAccountSettings(t *testing.T, s store.Store) {
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.AccountSetting("000000000000", "BLOB_MOUNTING"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a setting never set: %v", err)
	}
	for _, v := range []string{"DISABLED", "ENABLED"} {
		update(t, s, func(tx store.Tx) error { return tx.SetAccountSetting("000000000000", "BLOB_MOUNTING", v) })
		view(t, s, func(tx store.Tx) error {
			if got, err := tx.AccountSetting("000000000000", "BLOB_MOUNTING"); err != nil || got != v {
				t.Errorf("setting = %q, %v; want %q", got, err, v)
			}
			if _, err := tx.AccountSetting("111111111111", "BLOB_MOUNTING"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another registry's setting: %v", err)
			}
			return nil
		})
	}
}
