package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/vulndb"
	"github.com/wharf-dev/wharf/internal/vulndb/download"
)

// openVulnDB opens the installation and its vulnerability database (in the metadata store, which every
// node shares).
func (c *common) openVulnDB() (*server.App, *vulndb.DB, error) {
	log, err := c.logger()
	if err != nil {
		return nil, nil, err
	}
	st, err := c.stores(true)
	if err != nil {
		return nil, nil, err
	}
	app, err := server.New(c.options(log), st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return app, vulndb.New(st.Meta, time.Now), nil
}

func scanDBImport(args []string) error {
	fs, c := commonFlags("scan-db import")
	pos, err := parseArgs(fs, args, "PATH")
	if err != nil {
		return err
	}
	app, db, err := c.openVulnDB()
	if err != nil {
		return err
	}
	defer app.Close()
	var st vulndb.ImportStats
	start := time.Now()
	err = do(app, c.accountID, "wharf:ImportVulnerabilities", nil, func(ctx context.Context) (err error) {
		st, err = db.Import(ctx, pos[0])
		if st.Changed > 0 {
			// The images scanned continuously are matched again, by the nodes serving, at once.
			if _, qerr := app.Service.QueueRematch(ctx); err == nil {
				err = qerr
			}
		}
		return err
	})
	fmt.Printf("read %d advisories, %d new or updated, in %s\n", st.Read, st.Changed, time.Since(start).Round(time.Millisecond))
	if st.Invalid > 0 {
		fmt.Printf("skipped %d files that are not OSV advisories:\n", st.Invalid)
		for _, p := range st.Problems {
			fmt.Println("  " + p)
		}
	}
	return err
}

func scanDBSync(args []string) error {
	fs, c := commonFlags("scan-db sync")
	from := fs.String("from", download.OSVDevURL, "where the advisories are: URL/<ecosystem>/all.zip")
	ecos := fs.String("ecosystems", strings.Join(download.DefaultEcosystems, ","), "the ecosystems to download, comma-separated")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	app, db, err := c.openVulnDB()
	if err != nil {
		return err
	}
	defer app.Close()
	syncer := download.NewSyncer(db, download.Source{URL: *from, Ecosystems: ecosystems(*ecos)})
	var stats []download.SyncStats
	err = do(app, c.accountID, "wharf:ImportVulnerabilities", nil, func(ctx context.Context) (err error) {
		stats, err = syncer.Sync(ctx)
		return err
	})
	for _, st := range stats {
		fmt.Printf("%s: %d bytes, %d advisories, %d new or updated, %d skipped\n", st.Ecosystem, st.Bytes, st.Read, st.Changed, st.Invalid)
	}
	return err
}

// ecosystems splits a comma-separated list of ecosystems.
func ecosystems(list string) []string {
	var out []string
	for _, e := range strings.Split(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func scanDBStatus(args []string) error {
	fs, c := commonFlags("scan-db status")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	app, db, err := c.openVulnDB()
	if err != nil {
		return err
	}
	defer app.Close()
	var s vulndb.Status
	if err := do(app, c.accountID, "wharf:DescribeVulnerabilities", nil, func(ctx context.Context) (err error) {
		s, err = db.Status(ctx)
		return err
	}); err != nil {
		return err
	}
	if s.UpdatedAt.IsZero() {
		fmt.Println("no advisories imported")
		return nil
	}
	fmt.Printf("updated at %s\n", s.UpdatedAt.Format(time.RFC3339))
	for _, e := range s.Ecosystems {
		fmt.Printf("%s\t%d advisories\n", e.Ecosystem, e.Advisories)
	}
	return nil
}
