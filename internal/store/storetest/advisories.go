package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testAdvisories(t *testing.T, s store.Store) {
	put := func(a store.Advisory) bool {
		t.Helper()
		var changed bool
		update(t, s, func(tx store.Tx) (err error) {
			changed, err = tx.PutAdvisory(a)
			return err
		})
		return changed
	}
	ids := func(eco, name string) []string {
		t.Helper()
		var out []string
		view(t, s, func(tx store.Tx) error {
			as, err := tx.AdvisoriesFor(eco, name)
			for _, a := range as {
				out = append(out, fmt.Sprintf("%s %s %s", a.ID, a.Modified.Format(time.RFC3339), a.Data))
			}
			return err
		})
		return out
	}
	openssl := store.AdvisoryPackage{Ecosystem: "Debian:12", Name: "openssl"}
	curl := store.AdvisoryPackage{Ecosystem: "Debian:12", Name: "curl"}
	apk := store.AdvisoryPackage{Ecosystem: "Alpine:v3.19", Name: "openssl"}
	if !put(store.Advisory{ID: "DSA-1", Modified: t0, Data: []byte(`{"v":1}`), Packages: []store.AdvisoryPackage{openssl, curl, openssl}}) {
		t.Fatal("a new advisory changed nothing")
	}
	put(store.Advisory{ID: "CVE-2", Modified: t0, Data: []byte(`{"v":1}`), Packages: []store.AdvisoryPackage{openssl, apk}})
	if put(store.Advisory{ID: "DSA-1", Modified: t0, Data: []byte(`{"v":1}`), Packages: []store.AdvisoryPackage{openssl}}) {
		t.Error("the same advisory again changed something")
	}
	if put(store.Advisory{ID: "DSA-1", Modified: t0.Add(-time.Hour), Data: []byte(`{"v":0}`)}) {
		t.Error("an older advisory replaced a newer one")
	}
	want := []string{"CVE-2 2026-01-02T03:04:05Z {\"v\":1}", "DSA-1 2026-01-02T03:04:05Z {\"v\":1}"}
	if got := ids("Debian:12", "openssl"); !reflect.DeepEqual(got, want) {
		t.Errorf("openssl's advisories = %q, want %q", got, want)
	}
	if got := ids("Debian:12", "curl"); len(got) != 1 {
		t.Errorf("curl's advisories = %q", got)
	}
	if got := ids("Debian:11", "openssl"); len(got) != 0 {
		t.Errorf("another release's advisories = %q", got)
	}
	// A newer version replaces the advisory and the packages it affects.
	if !put(store.Advisory{ID: "DSA-1", Modified: t0.Add(time.Hour), Data: []byte(`{"v":2}`), Packages: []store.AdvisoryPackage{curl}}) {
		t.Error("a newer advisory changed nothing")
	}
	if got := ids("Debian:12", "openssl"); len(got) != 1 || got[0][:5] != "CVE-2" {
		t.Errorf("openssl's advisories after the update = %q", got)
	}
	if got := ids("Debian:12", "curl"); !reflect.DeepEqual(got, []string{"DSA-1 2026-01-02T04:04:05Z {\"v\":2}"}) {
		t.Errorf("curl's advisories after the update = %q", got)
	}
	// The same modification time with other content replaces it too (a corrected export).
	if !put(store.Advisory{ID: "DSA-1", Modified: t0.Add(time.Hour), Data: []byte(`{"v":3}`), Packages: []store.AdvisoryPackage{curl}}) {
		t.Error("other content at the same modification time changed nothing")
	}

	view(t, s, func(tx store.Tx) error {
		counts, err := tx.CountAdvisories()
		want := []store.AdvisoryCount{{Ecosystem: "Alpine:v3.19", Advisories: 1}, {Ecosystem: "Debian:12", Advisories: 2}}
		if err == nil && !reflect.DeepEqual(counts, want) {
			t.Errorf("counts = %v, want %v", counts, want)
		}
		return err
	})

	view(t, s, func(tx store.Tx) error {
		at, err := tx.AdvisoriesUpdated()
		if err == nil && !at.IsZero() {
			t.Errorf("updated at %v before any update", at)
		}
		return err
	})
	for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
		update(t, s, func(tx store.Tx) error { return tx.SetAdvisoriesUpdated(at) })
		view(t, s, func(tx store.Tx) error {
			got, err := tx.AdvisoriesUpdated()
			if err == nil && !got.Equal(at) {
				t.Errorf("updated at %v, want %v", got, at)
			}
			return err
		})
	}
}
