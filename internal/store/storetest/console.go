package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testConsoleSessions(t *testing.T, s store.Store) {
	a := store.ConsoleSession{IDHash: "aa", AccountID: "000000000000", UserName: "alice", CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour), ResetRequired: true}
	b := store.ConsoleSession{IDHash: "bb", AccountID: "000000000000", UserName: "alice", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	c := store.ConsoleSession{IDHash: "cc", AccountID: "111111111111", UserName: "bob", CreatedAt: t0, ExpiresAt: t0.Add(-time.Minute)}
	update(t, s, func(tx store.Tx) error {
		for _, x := range []store.ConsoleSession{a, b, c} {
			if err := tx.PutConsoleSession(x); err != nil {
				return err
			}
		}
		return nil
	})
	a.Role, a.ResetRequired = `{"role":"ops"}`, false
	update(t, s, func(tx store.Tx) error { return tx.PutConsoleSession(a) })
	s.View(ctx, func(tx store.Tx) error {
		got, err := tx.GetConsoleSession("aa")
		if err != nil || got.Role != a.Role || got.ResetRequired || got.UserName != "alice" || !got.ExpiresAt.Equal(a.ExpiresAt) || !got.CreatedAt.Equal(t0) {
			t.Errorf("GetConsoleSession(aa) = %+v, %v; want %+v", got, err, a)
		}
		if _, err := tx.GetConsoleSession("zz"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsoleSession(zz) = %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if n, err := tx.DeleteConsoleSessions("", "", t0); err != nil || n != 1 {
			t.Errorf("deleting expired sessions = %d, %v; want 1 (cc)", n, err)
		}
		if err := tx.DeleteConsoleSession("bb"); err != nil {
			return err
		}
		if err := tx.DeleteConsoleSession("bb"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting bb twice = %v, want ErrNotFound", err)
		}
		if n, err := tx.DeleteConsoleSessions("000000000000", "alice", time.Time{}); err != nil || n != 1 {
			t.Errorf("deleting alice's sessions = %d, %v; want 1", n, err)
		}
		return nil
	})
	s.View(ctx, func(tx store.Tx) error {
		for _, id := range []string{"aa", "bb", "cc"} {
			if _, err := tx.GetConsoleSession(id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session %s left: %v", id, err)
			}
		}
		return nil
	})
}
