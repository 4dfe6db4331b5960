// Package download keeps the vulnerability database fresh from osv.dev, or a mirror laid out as its
// bucket: it downloads each ecosystem's zip and imports it.
package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/vulndb"
)

// OSVDevURL is where osv.dev publishes each ecosystem's advisories, as <ecosystem>/all.zip.
const OSVDevURL = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultEcosystems are the ecosystems a scan matches: the distributions and language package managers the
// inventory reads. They name osv.dev's folders.
var DefaultEcosystems = []string{"Debian", "Ubuntu", "Alpine", "Red Hat", "Go", "npm", "PyPI", "Maven"}

// maxDownload bounds one ecosystem's zip (osv.dev's largest are a few hundred MiB).
const maxDownload = 4 << 30

// Source is where a Syncer downloads advisories from: URL/<ecosystem>/all.zip for each of Ecosystems.
type Source struct {
	URL        string
	Ecosystems []string
	Client     *http.Client // default one whose requests time out after an hour
	TempDir    string       // where downloads are kept while they are imported; default os.TempDir()
}

// Syncer downloads a Source's zips and imports them into a DB. It remembers each zip's ETag, so a zip
// that has not changed since this Syncer's last download is not downloaded again.
type Syncer struct {
	db  *vulndb.DB
	src Source

	mu    sync.Mutex
	etags map[string]string
}

// NewSyncer returns a Syncer of src into db.
func NewSyncer(db *vulndb.DB, src Source) *Syncer {
	if src.Client == nil {
		src.Client = &http.Client{Timeout: time.Hour}
	}
	return &Syncer{db: db, src: src, etags: map[string]string{}}
}

// SyncStats says what a sync did, per ecosystem in the Source's order.
type SyncStats struct {
	Ecosystem string
	Unchanged bool // the zip had not changed since the last sync: nothing was downloaded
	Bytes     int64
	vulndb.ImportStats
}

// Sync downloads and imports each ecosystem's zip in turn. An ecosystem that fails (the server is
// unreachable, answers an error, sends a damaged zip) does not stop the others; the errors are joined.
// Imports are idempotent, so a sync that stops midway is completed by the next.
func (s *Syncer) Sync(ctx context.Context) ([]SyncStats, error) {
	var out []SyncStats
	var errs []error
	for _, eco := range s.src.Ecosystems {
		st, err := s.syncOne(ctx, eco)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", eco, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

func (s *Syncer) syncOne(ctx context.Context, eco string) (SyncStats, error) {
	st := SyncStats{Ecosystem: eco}
	u := strings.TrimSuffix(s.src.URL, "/") + "/" + url.PathEscape(eco) + "/all.zip"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, err
	}
	s.mu.Lock()
	etag := s.etags[eco]
	s.mu.Unlock()
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := s.src.Client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		st.Unchanged = true
		return st, nil
	default:
		return st, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.CreateTemp(s.src.TempDir, "osv-*.zip")
	if err != nil {
		return st, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	st.Bytes, err = io.Copy(f, io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return st, fmt.Errorf("GET %s: %w", u, err)
	}
	if st.Bytes > maxDownload {
		return st, fmt.Errorf("GET %s: larger than %d GiB", u, maxDownload>>30)
	}
	if resp.ContentLength >= 0 && st.Bytes != resp.ContentLength {
		return st, fmt.Errorf("GET %s: %d of %d bytes received", u, st.Bytes, resp.ContentLength)
	}
	magic := make([]byte, 4)
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != "PK\x03\x04" {
		return st, fmt.Errorf("GET %s: not a zip", u)
	}
	if err := f.Close(); err != nil {
		return st, err
	}
	if st.ImportStats, err = s.db.Import(ctx, f.Name()); err != nil {
		return st, err
	}
	if etag := resp.Header.Get("ETag"); etag != "" {
		s.mu.Lock()
		s.etags[eco] = etag
		s.mu.Unlock()
	}
	return st, nil
}
