package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

func enqueue(t *testing.T, s store.Store, j store.Job) (int64, bool) {
	t.Helper()
	var ok bool
	update(t, s, func(tx store.Tx) (err error) {
		ok, err = tx.EnqueueJob(&j)
		return err
	})
	return j.ID, ok
}

func claim(t *testing.T, s store.Store, kind, holder string, now time.Time, limit int) []store.Job {
	t.Helper()
	var jobs []store.Job
	update(t, s, func(tx store.Tx) (err error) {
		jobs, err = tx.ClaimJobs(kind, holder, now, now.Add(time.Minute), limit)
		return err
	})
	return jobs
}

func ids(jobs []store.Job) []int64 {
	var out []int64
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func testJobs(t *testing.T, s store.Store) {
	a, _ := enqueue(t, s, store.Job{Kind: "scan", Payload: []byte(`{"n":1}`), MaxAttempts: 3, RunAt: t0, CreatedAt: t0})
	b, _ := enqueue(t, s, store.Job{Kind: "scan", MaxAttempts: 3, RunAt: t0.Add(time.Second), CreatedAt: t0})
	enqueue(t, s, store.Job{Kind: "other", MaxAttempts: 3, RunAt: t0, CreatedAt: t0})
	if a == 0 || b == 0 || a == b {
		t.Fatalf("ids %d, %d", a, b)
	}

	// A job enqueued in a transaction that fails is not there.
	s.Update(ctx, func(tx store.Tx) error {
		tx.EnqueueJob(&store.Job{Kind: "scan", RunAt: t0, CreatedAt: t0})
		return errors.New("boom")
	})

	got := claim(t, s, "scan", "node-1", t0, 10) // b is not due yet
	if len(got) != 1 || got[0].ID != a || string(got[0].Payload) != `{"n":1}` || got[0].Attempts != 1 ||
		got[0].Holder != "node-1" || !got[0].LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("claimed %+v", got)
	}
	if got := claim(t, s, "scan", "node-2", t0.Add(30*time.Second), 10); len(got) != 1 || got[0].ID != b {
		t.Fatalf("a leased job was claimed again, or a due one was not: %v", ids(got))
	}
	view(t, s, func(tx store.Tx) error {
		counts, err := tx.CountJobs(t0.Add(30 * time.Second))
		if err != nil {
			return err
		}
		want := []store.JobCount{{Kind: "other", Queued: 1}, {Kind: "scan", Running: 2}}
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Fatalf("counts %v, want %v", counts, want)
		}
		return nil
	})

	// The holder renews; a job it does not hold is not renewed.
	update(t, s, func(tx store.Tx) error {
		held, err := tx.RenewJobs("node-1", []int64{a, b}, t0.Add(2*time.Minute))
		if err != nil {
			return err
		}
		if fmt.Sprint(held) != fmt.Sprint([]int64{a}) {
			t.Fatalf("node-1 renewed %v", held)
		}
		return nil
	})
	if got := claim(t, s, "scan", "node-2", t0.Add(80*time.Second), 10); len(got) != 0 {
		t.Fatalf("a renewed lease was taken: %v", ids(got))
	}
	// Only the holder completes; completed jobs are gone.
	update(t, s, func(tx store.Tx) error {
		if err := tx.CompleteJob(a, "node-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another holder completed the job: %v", err)
		}
		return tx.CompleteJob(a, "node-1")
	})
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.GetJob(a); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a completed job is still there: %v", err)
		}
		return nil
	})

	// A lease that lapses (its node died) lets another holder claim the job, as a new attempt; the first
	// holder can no longer complete it.
	got = claim(t, s, "scan", "node-3", t0.Add(2*time.Minute), 10)
	if len(got) != 1 || got[0].ID != b || got[0].Attempts != 2 || got[0].Holder != "node-3" {
		t.Fatalf("after the lease lapsed: %+v", got)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.CompleteJob(b, "node-2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the holder of a lapsed lease completed the job: %v", err)
		}
		return nil
	})

	// Unique keys: one queued or running job per key; once it is done, the key is free again.
	u1, ok1 := enqueue(t, s, store.Job{Kind: "gc", UniqueKey: "gc", MaxAttempts: 1, RunAt: t0, CreatedAt: t0})
	_, ok2 := enqueue(t, s, store.Job{Kind: "gc", UniqueKey: "gc", MaxAttempts: 1, RunAt: t0, CreatedAt: t0})
	if !ok1 || ok2 {
		t.Fatalf("unique key: first enqueued %v, second %v", ok1, ok2)
	}
	if got := claim(t, s, "gc", "node-1", t0, 10); len(got) != 1 || got[0].UniqueKey != "gc" {
		t.Fatalf("claimed %+v", got)
	}
	if _, ok := enqueue(t, s, store.Job{Kind: "gc", UniqueKey: "gc", RunAt: t0, CreatedAt: t0}); ok {
		t.Fatal("a second job was enqueued while the first runs")
	}
	update(t, s, func(tx store.Tx) error { return tx.CompleteJob(u1, "node-1") })
	if _, ok := enqueue(t, s, store.Job{Kind: "gc", UniqueKey: "gc", RunAt: t0, CreatedAt: t0}); !ok {
		t.Fatal("the key stayed taken after its job completed")
	}
	// In a transaction that goes on after a refused duplicate (PostgreSQL aborts transactions on errors).
	update(t, s, func(tx store.Tx) error {
		if ok, err := tx.EnqueueJob(&store.Job{Kind: "gc", UniqueKey: "gc", RunAt: t0, CreatedAt: t0}); ok || err != nil {
			t.Fatalf("duplicate: %v, %v", ok, err)
		}
		_, err := tx.EnqueueJob(&store.Job{Kind: "gc", RunAt: t0, CreatedAt: t0})
		return err
	})
}

func testJobRetries(t *testing.T, s store.Store) {
	id, _ := enqueue(t, s, store.Job{Kind: "deliver", UniqueKey: "hook-1", MaxAttempts: 3, RunAt: t0, CreatedAt: t0})
	now := t0
	for attempt := 1; attempt <= 3; attempt++ {
		got := claim(t, s, "deliver", "node-1", now, 1)
		if len(got) != 1 || got[0].Attempts != attempt {
			t.Fatalf("attempt %d: claimed %+v", attempt, got)
		}
		retry := now.Add(time.Duration(attempt) * time.Minute)
		var dead bool
		update(t, s, func(tx store.Tx) (err error) {
			dead, err = tx.FailJob(id, "node-1", fmt.Sprintf("refused %d", attempt), retry)
			return err
		})
		if dead != (attempt == 3) {
			t.Fatalf("attempt %d: dead %v", attempt, dead)
		}
		if attempt < 3 {
			if got := claim(t, s, "deliver", "node-1", retry.Add(-time.Nanosecond), 1); len(got) != 0 {
				t.Fatalf("attempt %d: retried before its time", attempt)
			}
		}
		now = retry
	}
	if got := claim(t, s, "deliver", "node-1", now.Add(time.Hour), 1); len(got) != 0 {
		t.Fatal("a dead job was claimed")
	}
	view(t, s, func(tx store.Tx) error {
		dead, err := tx.DeadJobs(0, 10)
		if err != nil {
			return err
		}
		if len(dead) != 1 || dead[0].ID != id || dead[0].State != store.JobDead || dead[0].LastError != "refused 3" || dead[0].Attempts != 3 {
			t.Fatalf("dead letters %+v", dead)
		}
		return nil
	})
	// A dead job keeps its unique key free, and can be retried.
	if _, ok := enqueue(t, s, store.Job{Kind: "deliver", UniqueKey: "hook-1", MaxAttempts: 3, RunAt: t0, CreatedAt: t0}); !ok {
		t.Fatal("a dead job holds its unique key")
	}
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.FailJob(id, "node-1", "again", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FailJob of a dead job: %v", err)
		}
		return nil
	})

	// A job whose node dies on its last attempt is dead once its lease lapses, not run again.
	last, _ := enqueue(t, s, store.Job{Kind: "once", MaxAttempts: 1, RunAt: t0, CreatedAt: t0})
	if got := claim(t, s, "once", "node-1", t0, 1); len(got) != 1 {
		t.Fatal("not claimed")
	}
	if got := claim(t, s, "once", "node-2", t0.Add(2*time.Minute), 1); len(got) != 0 {
		t.Fatalf("a job was run past its attempts: %+v", got)
	}
	view(t, s, func(tx store.Tx) error {
		j, err := tx.GetJob(last)
		if err != nil {
			return err
		}
		if j.State != store.JobDead || j.LastError == "" {
			t.Fatalf("after its lease lapsed on the last attempt: %+v", j)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.RetryJob(last, t0.Add(3*time.Minute)) })
	if got := claim(t, s, "once", "node-2", t0.Add(3*time.Minute), 1); len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("a retried dead job: %+v", got)
	}
}

func testJobClaimers(t *testing.T, s store.Store) {
	const jobs, claimers = 40, 6
	for i := 0; i < jobs; i++ {
		enqueue(t, s, store.Job{Kind: "work", MaxAttempts: 5, RunAt: t0, CreatedAt: t0})
	}
	var mu sync.Mutex
	owner := map[int64]string{}
	var wg sync.WaitGroup
	for c := 0; c < claimers; c++ {
		holder := fmt.Sprintf("node-%d", c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var got []store.Job
				err := s.Update(ctx, func(tx store.Tx) (err error) {
					got, err = tx.ClaimJobs("work", holder, t0, t0.Add(time.Minute), 3)
					return err
				})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					if prev, ok := owner[j.ID]; ok {
						t.Errorf("job %d claimed by %s and %s while its lease is live", j.ID, prev, holder)
					}
					owner[j.ID] = holder
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(owner) != jobs {
		t.Fatalf("%d jobs claimed, want %d", len(owner), jobs)
	}
}

func testJobSchedules(t *testing.T, s store.Store) {
	due := func(now time.Time) bool {
		var ok bool
		update(t, s, func(tx store.Tx) (err error) {
			ok, err = tx.DueSchedule("gc", now, now.Add(time.Hour), now.Add(time.Hour))
			return err
		})
		return ok
	}
	if due(t0) {
		t.Fatal("a new schedule was due before its first run")
	}
	if due(t0.Add(59 * time.Minute)) {
		t.Fatal("due early")
	}
	if !due(t0.Add(time.Hour)) {
		t.Fatal("not due at its time")
	}
	if due(t0.Add(time.Hour + time.Second)) {
		t.Fatal("due twice in one period")
	}
	// Several nodes asking at once: one of them runs it.
	var mu sync.Mutex
	winners := 0
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok bool
			if err := s.Update(ctx, func(tx store.Tx) (err error) {
				ok, err = tx.DueSchedule("gc", t0.Add(3*time.Hour), t0, t0.Add(4*time.Hour))
				return err
			}); err != nil {
				t.Error(err)
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
		t.Fatalf("%d nodes ran one period's job", winners)
	}
}

func testEvents(t *testing.T, s store.Store) {
	add := func(typ string, at time.Time) {
		update(t, s, func(tx store.Tx) error {
			e := &store.Event{Type: typ, At: at, RegistryID: "000000000000", Repository: "app", Data: []byte(`{"k":"` + typ + `"}`)}
			if err := tx.AddEvent(e); err != nil {
				return err
			}
			if e.ID == 0 {
				t.Fatal("AddEvent did not set ID")
			}
			return nil
		})
	}
	read := func(after store.EventPosition) []store.Event {
		var evs []store.Event
		view(t, s, func(tx store.Tx) (err error) {
			evs, err = tx.EventsAfter(after, 2)
			return err
		})
		return evs
	}
	add("pushed", t0)
	s.Update(ctx, func(tx store.Tx) error { // rolled back: never seen
		tx.AddEvent(&store.Event{Type: "ghost", At: t0, Data: []byte(`{}`)})
		return errors.New("boom")
	})
	add("tagged", t0.Add(time.Second))
	add("deleted", t0.Add(2*time.Second))

	var pos store.EventPosition
	view(t, s, func(tx store.Tx) (err error) { pos, err = tx.EventCursor("hooks"); return err })
	if pos != (store.EventPosition{}) {
		t.Fatalf("a new consumer's cursor is %v", pos)
	}
	var types []string
	for {
		evs := read(pos)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			types = append(types, e.Type)
			if e.RegistryID != "000000000000" || e.Repository != "app" || string(e.Data) != `{"k":"`+e.Type+`"}` {
				t.Fatalf("event %+v", e)
			}
		}
		pos = evs[len(evs)-1].Position
		update(t, s, func(tx store.Tx) error { return tx.SetEventCursor("hooks", pos) })
	}
	if fmt.Sprint(types) != "[pushed tagged deleted]" {
		t.Fatalf("events %v", types)
	}
	view(t, s, func(tx store.Tx) error {
		if p, err := tx.EventCursor("hooks"); err != nil || p != pos {
			t.Fatalf("cursor %v, %v; want %v", p, err, pos)
		}
		return nil
	})
	var n int
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.PruneEvents(t0.Add(2 * time.Second)); return err })
	if n != 2 {
		t.Fatalf("pruned %d", n)
	}
	add("pushed", t0.Add(3*time.Second)) // after pruning everything read, new events still come after the cursor
	if evs := read(pos); len(evs) != 1 || evs[0].Type != "pushed" {
		t.Fatalf("after pruning: %+v", evs)
	}
	add("old", t0.Add(time.Second)) // written by a node whose clock is behind: it waits for the events before it
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.PruneEvents(t0.Add(3 * time.Second)); return err })
	if n != 1 {
		t.Fatalf("pruned %d of deleted, pushed, old; want 1", n)
	}
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.PruneEvents(t0.Add(time.Hour)); return err })
	if n != 2 {
		t.Fatalf("pruned %d of 2 old events", n)
	}
	add("tagged", t0.Add(4*time.Second))
	if evs := read(pos); len(evs) != 1 || evs[0].Type != "tagged" {
		t.Fatalf("after pruning everything: %+v", evs)
	}
}

// testConcurrentEvents reads events while concurrent transactions write them: the reader, moving its cursor,
// sees each exactly once, however the writers' commits interleave.
func testConcurrentEvents(t *testing.T, s store.Store) {
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := s.Update(ctx, func(tx store.Tx) error {
					return tx.AddEvent(&store.Event{Type: "pushed", At: t0, Repository: fmt.Sprintf("w%d/%d", w, i), Data: []byte(`{}`)})
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]int{}
	var pos store.EventPosition
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		var evs []store.Event
		update(t, s, func(tx store.Tx) (err error) {
			evs, err = tx.EventsAfter(pos, 7)
			return err
		})
		for _, e := range evs {
			seen[e.Repository]++
			pos = e.Position
		}
		if finished && len(evs) == 0 {
			break
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("saw %d distinct events, want %d", len(seen), writers*each)
	}
	for r, n := range seen {
		if n != 1 {
			t.Fatalf("event %s seen %d times", r, n)
		}
	}
}

// testJobByKey: a job is found by its unique key while queued or running, then dead; a job that succeeded
// is gone.
func testJobByKey(t *testing.T, s store.Store) {
	const key = "by-key/1"
	find := func() (*store.Job, error) {
		var j *store.Job
		err := s.View(ctx, func(tx store.Tx) (err error) { j, err = tx.JobByKey(key); return err })
		return j, err
	}
	if _, err := find(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before any: %v", err)
	}
	first, _ := enqueue(t, s, store.Job{Kind: "by-key", UniqueKey: key, MaxAttempts: 1, RunAt: t0, CreatedAt: t0})
	if j, err := find(); err != nil || j.ID != first || j.State != store.JobQueued {
		t.Fatalf("queued: %+v, %v", j, err)
	}
	if got := claim(t, s, "by-key", "node-1", t0, 10); len(got) != 1 {
		t.Fatalf("claimed %+v", got)
	}
	update(t, s, func(tx store.Tx) error { _, err := tx.FailJob(first, "node-1", "boom", t0); return err })
	if j, err := find(); err != nil || j.ID != first || j.State != store.JobDead {
		t.Fatalf("dead: %+v, %v", j, err)
	}
	second, ok := enqueue(t, s, store.Job{Kind: "by-key", UniqueKey: key, MaxAttempts: 1, RunAt: t0, CreatedAt: t0})
	if !ok {
		t.Fatal("a key whose job is dead is free again")
	}
	if j, err := find(); err != nil || j.ID != second || j.State != store.JobQueued {
		t.Fatalf("queued again beside a dead one: %+v, %v", j, err)
	}
	claim(t, s, "by-key", "node-1", t0, 10)
	update(t, s, func(tx store.Tx) error { return tx.CompleteJob(second, "node-1") })
	if j, err := find(); err != nil || j.ID != first {
		t.Fatalf("after the second succeeded: %+v, %v", j, err)
	}
}
