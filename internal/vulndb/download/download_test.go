package download_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/store/sqlite"
	"github.com/wharf-dev/wharf/internal/vulndb"
	"github.com/wharf-dev/wharf/internal/vulndb/download"
)

var ctx = context.Background()

// fixtures are the vulnerability database's OSV fixtures.
const fixtures = "../testdata/osv"

// open returns an empty database on SQLite; its clock stands still.
func open(t *testing.T) (*vulndb.DB, *time.Time) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return vulndb.New(st, func() time.Time { return now }), &now
}

// counts says what the database holds, per ecosystem, and when it changed.
func counts(t *testing.T, db *vulndb.DB) (string, time.Time) {
	t.Helper()
	s, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range s.Ecosystems {
		out = append(out, fmt.Sprintf("%s=%d", c.Ecosystem, c.Advisories))
	}
	return strings.Join(out, " "), s.UpdatedAt
}

// zipOf writes the files of dir into a zip as osv.dev serves them (flat, one advisory a file).
func zipOf(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(e.Name())
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// osvServer serves zips as osv.dev does (<ecosystem>/all.zip, with an ETag) and counts the downloads.
type osvServer struct {
	*httptest.Server
	mu        sync.Mutex
	zips      map[string][]byte // by path
	downloads map[string]int
}

func newOSVServer(t *testing.T) *osvServer {
	s := &osvServer{zips: map[string][]byte{}, downloads: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		data, ok := s.zips[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		etag := fmt.Sprintf(`"%d-%x"`, len(data), data[len(data)-8:])
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.mu.Lock()
		s.downloads[r.URL.Path]++
		s.mu.Unlock()
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *osvServer) serve(t *testing.T, path, zipFile string) {
	t.Helper()
	data, err := os.ReadFile(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.zips[path] = data
	s.mu.Unlock()
}

func TestSync(t *testing.T) {
	db, now := open(t)
	osv := newOSVServer(t)
	osv.serve(t, "/Debian/all.zip", zipOf(t, fixtures+"/debian"))
	osv.serve(t, "/Red Hat/all.zip", zipOf(t, fixtures+"/go")) // the path of an ecosystem with a space, escaped
	osv.zips["/Alpine/all.zip"] = []byte("<html>not a zip</html>")
	s := download.NewSyncer(db, download.Source{URL: osv.URL + "/", Ecosystems: []string{"Debian", "Alpine", "Red Hat", "npm"}})

	stats, err := s.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "Alpine: GET "+osv.URL+"/Alpine/all.zip: not a zip") ||
		!strings.Contains(err.Error(), "npm: GET "+osv.URL+"/npm/all.zip: 404 Not Found") {
		t.Fatalf("sync error = %v, want Alpine's and npm's", err)
	}
	if len(stats) != 2 || stats[0].Ecosystem != "Debian" || stats[0].Changed == 0 || stats[0].Unchanged ||
		stats[1].Ecosystem != "Red Hat" || stats[1].Changed == 0 || stats[1].Bytes == 0 {
		t.Fatalf("first sync: %+v", stats)
	}
	if got, at := counts(t, db); got != "Debian:11=1 Debian:12=2 Go=2" || at.Before(*now) {
		t.Fatalf("after the first sync the database holds %q at %v", got, at)
	}

	// Unchanged zips are not downloaded again; a changed one (Alpine's, now a zip) is, and only its new advisories change the database.
	osv.serve(t, "/Alpine/all.zip", zipOf(t, fixtures+"/alpine"))
	s.Sync(ctx)
	if osv.downloads["/Debian/all.zip"] != 1 || osv.downloads["/Alpine/all.zip"] != 2 {
		t.Fatalf("downloads after the second sync: %v", osv.downloads)
	}
	if got, _ := counts(t, db); got != "Alpine:v3.19=1 Debian:11=1 Debian:12=2 Go=2" {
		t.Fatalf("after the second sync the database holds %q", got)
	}
	stats, _ = s.Sync(ctx)
	for _, st := range stats {
		if !st.Unchanged || st.Changed != 0 {
			t.Errorf("third sync of %s: %+v, want unchanged", st.Ecosystem, st)
		}
	}
}

func TestSyncUnreachable(t *testing.T) {
	db, _ := open(t)
	osv := newOSVServer(t)
	osv.Close()
	_, err := download.NewSyncer(db, download.Source{URL: osv.URL, Ecosystems: []string{"Debian"}}).Sync(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "Debian: ") {
		t.Fatalf("sync from a server that is down: %v", err)
	}
	if got, at := counts(t, db); got != "" || !at.IsZero() {
		t.Fatalf("the database holds %q at %v", got, at)
	}
}
