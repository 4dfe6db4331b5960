package storetest

import (
	"maps"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func testUsage(t *testing.T, s store.Store) {
	const acct, other = "111111111111", "222222222222"
	a, b, c := mkRepo(t, s, acct, "a"), mkRepo(t, s, acct, "b"), mkRepo(t, s, acct, "c")
	x := mkRepo(t, s, other, "a")
	base, cfg := dg("base"), dg("config")
	for _, r := range []*store.Repository{a, b, x} {
		mkBlob(t, s, r.ID, base, 1000, t0)
		mkBlob(t, s, r.ID, cfg, 10, t0)
	}
	mkBlob(t, s, a.ID, dg("layer-a"), 200, t0)
	mkBlob(t, s, b.ID, dg("layer-b"), 300, t0)
	put := func(r *store.Repository, manifest string, layers ...store.Ref) {
		img := &store.Image{RepositoryID: r.ID, Digest: dg(manifest), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: 1, PushedAt: t0, Content: []byte(manifest)}
		update(t, s, func(tx store.Tx) error { return tx.PutImage(img, layers) })
	}
	ref := func(d ...string) []store.Ref {
		var out []store.Ref
		for _, n := range d {
			out = append(out, store.Ref{Kind: store.RefBlob, Digest: dg(n)})
		}
		return out
	}
	// a: two images sharing base and config; b: base, config and its own layer; c: empty; x in another registry.
	put(a, "manifest-1", ref("base", "config")...)
	put(a, "manifest-22", ref("base", "config", "layer-a")...)
	put(b, "manifest-333", ref("base", "config", "layer-b")...)
	put(x, "manifest-1", ref("base", "config")...) // the same manifest, in another registry
	update(t, s, func(tx store.Tx) error {
		return tx.PutTag(a.ID, store.Tag{Name: "v1", Digest: dg("manifest-1"), UpdatedAt: t0})
	})

	want := []store.RepositoryStorage{
		{RepositoryID: a.ID, Name: "a", Images: 2, Tags: 1, Bytes: 1000 + 10 + 200 + 10 + 11,
			Holders: map[int]int64{2: 1010, 1: 200 + 10 + 11}},
		{RepositoryID: b.ID, Name: "b", Images: 1, Tags: 0, Bytes: 1000 + 10 + 300 + 12, Holders: map[int]int64{2: 1010, 1: 312}},
		{RepositoryID: c.ID, Name: "c", Holders: map[int]int64{}},
	}
	check := func(first, last string, want []store.RepositoryStorage) {
		t.Helper()
		view(t, s, func(tx store.Tx) error {
			got, err := tx.RepositoryStorage(acct, first, last)
			if err != nil || len(got) != len(want) {
				t.Fatalf("RepositoryStorage(%q, %q) = %+v, %v; want %+v", first, last, got, err, want)
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.RepositoryID != w.RepositoryID || g.Name != w.Name || g.Images != w.Images || g.Tags != w.Tags ||
					g.Bytes != w.Bytes || !maps.Equal(g.Holders, w.Holders) {
					t.Errorf("RepositoryStorage(%q, %q)[%d] = %+v, want %+v", first, last, i, g, w)
				}
			}
			return nil
		})
	}
	check("a", "c", want)
	check("b", "b", want[1:2])
	view(t, s, func(tx store.Tx) error {
		got, err := tx.NamedRepositoryStorage(acct, []string{"c", "nope", "a"})
		if err != nil || len(got) != 2 || got[0].Name != "a" || got[0].Bytes != want[0].Bytes || !maps.Equal(got[0].Holders, want[0].Holders) || got[1].Name != "c" {
			t.Errorf("NamedRepositoryStorage = %+v, %v", got, err)
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if n, err := tx.RegistryStorage(acct); err != nil || n != 1000+10+200+300+10+11+12 {
			t.Errorf("RegistryStorage = %d, %v; want %d", n, err, 1000+10+200+300+10+11+12)
		}
		if ids, err := tx.UsageRegistries(); err != nil || len(ids) != 2 || ids[0] != acct || ids[1] != other {
			t.Errorf("UsageRegistries = %v, %v", ids, err)
		}
		if n, err := tx.RegistryStorage(other); err != nil || n != 1000+10+10 {
			t.Errorf("RegistryStorage(other) = %d, %v", n, err)
		}
		return nil
	})

	// Deleting b's image leaves a the only holder of base and config.
	update(t, s, func(tx store.Tx) error { return tx.DeleteImage(b.ID, dg("manifest-333")) })
	check("a", "b", []store.RepositoryStorage{
		{RepositoryID: a.ID, Name: "a", Images: 2, Tags: 1, Bytes: 1231, Holders: map[int]int64{1: 1231}},
		{RepositoryID: b.ID, Name: "b", Holders: map[int]int64{}},
	})

	// Pull counts add up per repository and day; "" is the registry's.
	d1 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	update(t, s, func(tx store.Tx) error {
		return tx.AddPulls([]store.PullCount{
			{RegistryID: acct, Repository: "a", Day: d1, Pulls: 2, Bytes: 100},
			{RegistryID: acct, Repository: "", Day: d1, Pulls: 2, Bytes: 100},
			{RegistryID: other, Repository: "a", Day: d1, Pulls: 7, Bytes: 7},
		})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.AddPulls([]store.PullCount{
			{RegistryID: acct, Repository: "a", Day: d1, Pulls: 1, Bytes: 50},
			{RegistryID: acct, Repository: "a", Day: d2, Pulls: 1},
			{RegistryID: acct, Repository: "b", Day: d2, Bytes: 9},
		})
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.PullCounts(acct, "a", "b", d1)
		want := []store.PullCount{
			{RegistryID: acct, Repository: "a", Day: d1, Pulls: 3, Bytes: 150},
			{RegistryID: acct, Repository: "a", Day: d2, Pulls: 1},
			{RegistryID: acct, Repository: "b", Day: d2, Bytes: 9},
		}
		if err != nil || len(got) != len(want) {
			t.Fatalf("PullCounts = %+v, %v; want %+v", got, err, want)
		}
		for i := range got {
			if got[i].RegistryID != want[i].RegistryID || got[i].Repository != want[i].Repository || !got[i].Day.Equal(want[i].Day) ||
				got[i].Pulls != want[i].Pulls || got[i].Bytes != want[i].Bytes {
				t.Errorf("PullCounts[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}
		if got, _ := tx.PullCounts(acct, "a", "a", d2); len(got) != 1 || got[0].Pulls != 1 {
			t.Errorf("PullCounts since the second day = %+v", got)
		}
		if got, _ := tx.PullCounts(acct, "", "", d1); len(got) != 1 || got[0].Pulls != 2 {
			t.Errorf("the registry's PullCounts = %+v", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if n, err := tx.PrunePullCounts(d2); err != nil || n != 3 {
			t.Errorf("PrunePullCounts = %d, %v; want the first day's 3", n, err)
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if got, _ := tx.PullCounts(acct, "", "~", d1); len(got) != 2 || !got[0].Day.Equal(d2) {
			t.Errorf("PullCounts after pruning = %+v", got)
		}
		return nil
	})
}
