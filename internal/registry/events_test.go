package registry_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// events returns the outbox's events as "type repository tag cause" lines.
func (e *env) events(t *testing.T) []string {
	t.Helper()
	var out []string
	err := e.meta.View(context.Background(), func(tx store.Tx) error {
		evs, err := tx.EventsAfter(store.EventPosition{}, 100)
		for _, se := range evs {
			ev, err := registry.DecodeEvent(se)
			if err != nil {
				return err
			}
			if ev.Type != se.Type || ev.Repository != se.Repository || ev.RegistryID != reg || ev.At.IsZero() {
				t.Fatalf("event %+v in row %+v", ev, se)
			}
			out = append(out, fmt.Sprintf("%s %s %s %s", ev.Type, ev.Repository, ev.Tag, ev.Cause))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventsAreRecordedWithTheirChange(t *testing.T) {
	e := newEnv(t, registry.Config{})
	ctx := context.Background()
	if _, err := e.svc.CreateRepository(ctx, store.Repository{RegistryID: reg, Name: "app"}); err != nil {
		t.Fatal(err)
	}
	d1 := e.push(t, "app", "v1", "one")
	e.push(t, "app", "v1", "two") // moves v1
	if _, err := e.svc.PutManifest(ctx, reg, "app", "v1", "application/vnd.oci.image.manifest.v1+json", nil); err == nil {
		t.Fatal("an empty manifest was accepted")
	}
	if _, err := e.svc.DeleteManifest(ctx, reg, "app", d1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteRepository(ctx, reg, "app", true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"RepositoryCreated app  ",
		"ImagePushed app v1 ",
		"ImagePushed app v1 ",
		"TagMoved app v1 ",
		"ImageDeleted app  api",
		"RepositoryDeleted app  ",
	}
	if got := e.events(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
}
