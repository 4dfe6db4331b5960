package vulndb

import (
	"archive/zip"
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/store"
)

// DB is the vulnerability database over the metadata store, so every node sees the same advisories.
type DB struct {
	store   store.Store
	now     func() time.Time
	cache   cache
	matched matchedCache
}

// New returns the vulnerability database kept in st; now tells the time of changes.
func New(st store.Store, now func() time.Time) *DB {
	return &DB{store: st, now: now, cache: cache{limit: defaultCacheBytes}}
}

// ImportStats says what an import did.
type ImportStats struct {
	Read    int // advisories read
	Changed int // new or newer advisories stored; the rest were held already (or newer)
	// Invalid counts the files that are not OSV advisories (or lack what matching needs), skipped;
	// Problems says what is wrong with the first few.
	Invalid  int
	Problems []string
}

// maxProblems is how many invalid files an import describes.
const maxProblems = 10

// importBatch is how many advisories one transaction stores: big enough to amortise a commit, small enough
// not to hold the database's writer (or memory) long.
const importBatch = 500

// Import stores the OSV advisories of path: one JSON file, a directory of them (walked), or a zip of them as
// osv.dev serves each ecosystem's (all.zip). Advisories are read one at a time and stored in batches,
// each its own transaction, so an import runs beside a serving registry; an advisory replaces the one
// held with its id unless that one is newer or the same. Files that are not usable advisories are
// skipped and counted; another error (a file that cannot be read, a damaged zip, the store) stops the
// import after the batches stored so far (importing again is harmless).
func (db *DB) Import(ctx context.Context, path string) (ImportStats, error) {
	var st ImportStats
	var batch []store.Advisory
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		changed := 0
		err := db.store.Update(ctx, func(tx store.Tx) error {
			changed = 0
			for _, a := range batch {
				ok, err := tx.PutAdvisory(a)
				if err != nil {
					return fmt.Errorf("storing advisory %s: %w", a.ID, err)
				}
				if ok {
					changed++
				}
			}
			if changed == 0 {
				return nil
			}
			// The update time is also the version of the database that caches go by: it only moves forward.
			prev, err := tx.AdvisoriesUpdated()
			if err != nil {
				return err
			}
			at := db.now().UTC()
			if !at.After(prev) {
				at = prev.Add(time.Nanosecond)
			}
			return tx.SetAdvisoriesUpdated(at)
		})
		if err != nil {
			return err
		}
		st.Changed += changed
		batch = batch[:0]
		return nil
	}
	err := walk(path, func(name string, r io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		a, err := readAdvisory(r)
		var invalid *invalidError
		if errors.As(err, &invalid) {
			st.Invalid++
			if len(st.Problems) < maxProblems {
				st.Problems = append(st.Problems, name+": "+err.Error())
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		st.Read++
		batch = append(batch, a)
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return st, err
}

// readAdvisory reads and checks one advisory, kept as compact JSON with the packages it affects.
func readAdvisory(r io.Reader) (store.Advisory, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAdvisorySize+1))
	if err != nil {
		return store.Advisory{}, err
	}
	if len(data) > maxAdvisorySize {
		return store.Advisory{}, &invalidError{errors.New("advisory larger than 32 MiB")}
	}
	a, err := ParseAdvisory(data)
	if err != nil {
		return store.Advisory{}, &invalidError{err}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return store.Advisory{}, err
	}
	out := store.Advisory{ID: a.ID, Modified: a.Modified.UTC(), Data: compact.Bytes()}
	for _, af := range a.Affected {
		eco := Ecosystem(af.Package.Ecosystem)
		out.Packages = append(out.Packages, store.AdvisoryPackage{Ecosystem: eco, Name: PackageName(eco, af.Package.Name)})
	}
	return out, nil
}

// invalidError is a file that is not a usable advisory: the import skips it.
type invalidError struct{ err error }

func (e *invalidError) Error() string { return e.err.Error() }

// walk calls fn with each advisory file of path: the file itself, the .json files under a directory, or
// the .json entries of a zip.
func walk(path string, fn func(name string, r io.Reader) error) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
				return err
			}
			return walkFile(p, fn)
		})
	}
	return walkFile(path, fn)
}

func walkFile(path string, fn func(name string, r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err == nil && string(magic) == "PK\x03\x04" {
		info, err := f.Stat()
		if err != nil {
			return err
		}
		return walkZip(path, f, info.Size(), fn)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return fn(path, f)
}

func walkZip(path string, f io.ReaderAt, size int64, fn func(name string, r io.Reader) error) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, e := range zr.File {
		if e.FileInfo().IsDir() || !strings.HasSuffix(e.Name, ".json") {
			continue
		}
		r, err := e.Open()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, e.Name, err)
		}
		err = fn(path+":"+e.Name, r)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Status is what the database holds.
type Status struct {
	// UpdatedAt is when an import last changed it (ECR's vulnerabilitySourceUpdatedAt); zero when never.
	UpdatedAt  time.Time
	Ecosystems []store.AdvisoryCount
}

// Status returns what the database holds.
func (db *DB) Status(ctx context.Context) (Status, error) {
	var s Status
	err := db.store.View(ctx, func(tx store.Tx) (err error) {
		if s.UpdatedAt, err = tx.AdvisoriesUpdated(); err != nil {
			return err
		}
		s.Ecosystems, err = tx.CountAdvisories()
		return err
	})
	return s, err
}

// UpdatedAt returns when an import last changed the database (zero when never): Status without the counts.
func (db *DB) UpdatedAt(ctx context.Context) (at time.Time, err error) {
	err = db.store.View(ctx, func(tx store.Tx) error {
		at, err = tx.AdvisoriesUpdated()
		return err
	})
	return at, err
}

// defaultCacheBytes bounds the advisories a DB keeps parsed, by the size of their JSON (parsed, they take
// about twice that): re-matching many inventories after an update reads the advisories of the packages
// they share from the store once.
const defaultCacheBytes = 32 << 20

// cache keeps the parsed advisories of the packages used last, for one state of the database (its
// update time): a change seen on any node empties it.
type cache struct {
	mu      sync.Mutex
	limit   int
	size    int
	version time.Time
	entries map[store.AdvisoryPackage]*list.Element // of *cacheEntry
	lru     list.List                               // most recently used first
}

type cacheEntry struct {
	key        store.AdvisoryPackage
	advisories []*Advisory
	size       int
}

// get returns the cached advisories of a package at version of the database.
func (c *cache) get(version time.Time, p store.AdvisoryPackage) ([]*Advisory, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[p]
	if !ok || !c.version.Equal(version) {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).advisories, true
}

// put caches the advisories of a package at version of the database, dropping the least recently used
// past the limit; size is their JSON's.
func (c *cache) put(version time.Time, p store.AdvisoryPackage, advisories []*Advisory, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.version.Equal(version) || c.entries == nil {
		c.version, c.size, c.entries = version, 0, map[store.AdvisoryPackage]*list.Element{}
		c.lru.Init()
	}
	if _, ok := c.entries[p]; ok || size > c.limit {
		return
	}
	for c.size+size > c.limit {
		old := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		delete(c.entries, old.key)
		c.size -= old.size
	}
	c.entries[p] = c.lru.PushFront(&cacheEntry{key: p, advisories: advisories, size: size})
	c.size += size
}
