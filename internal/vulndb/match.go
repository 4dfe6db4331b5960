package vulndb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/osv-scalibr/semantic"

	"github.com/wharf-dev/wharf/internal/inventory"
	"github.com/wharf-dev/wharf/internal/store"
)

// ErrTooManyFindings is returned for an inventory with more findings than a scan keeps: many copies of a
// package that many advisories name (one per status.d file, say) multiply into millions.
var ErrTooManyFindings = errors.New("vulndb: the image has too many findings")

// maxFindings bounds the findings of one inventory (a variable for the tests): the most vulnerable real
// images have a few thousand.
var maxFindings = 100_000

// Match returns the findings of an inventory: for each package, the advisories of its ecosystem that name
// it (its source package, for distributions' packages) and whose ranges or versions hold its version.
// Findings come in the order of the packages, then by advisory id; an advisory known by several ids (a
// GHSA and a GO- advisory of one CVE) makes one finding per package.
func (db *DB) Match(ctx context.Context, inv inventory.Inventory) ([]Finding, error) {
	type key = store.AdvisoryPackage
	byPackage := map[key][]*Advisory{}
	var version time.Time
	err := db.store.View(ctx, func(tx store.Tx) (err error) {
		if version, err = tx.AdvisoriesUpdated(); err != nil {
			return err
		}
		parsed := map[string]*Advisory{} // advisories several packages share are parsed once
		for _, p := range inv.Packages {
			eco := Ecosystem(p.Ecosystem)
			k := key{Ecosystem: eco, Name: PackageName(eco, p.AdvisoryName())}
			if _, ok := byPackage[k]; ok || p.Ecosystem == "" {
				continue
			}
			if _, ok := db.matched.get(version, p); ok {
				continue // matched already at this version: its advisories are not needed
			}
			if list, ok := db.cache.get(version, k); ok {
				byPackage[k] = list
				continue
			}
			stored, err := tx.AdvisoriesFor(k.Ecosystem, k.Name)
			if err != nil {
				return err
			}
			list, size := []*Advisory{}, 0
			for _, s := range stored {
				a, ok := parsed[s.ID]
				if !ok {
					if a, err = ParseAdvisory(s.Data); err != nil {
						return err
					}
					parsed[s.ID] = a
				}
				if a.Withdrawn.IsZero() {
					list = append(list, a)
				}
				size += len(s.Data)
			}
			byPackage[k] = list
			db.cache.put(version, k, list, size)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, p := range inv.Packages {
		found, ok := db.matched.get(version, p)
		if !ok {
			found = matchPackage(p, byPackage)
			db.matched.put(version, p, found)
		}
		if len(out)+len(found) > maxFindings {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyFindings, maxFindings)
		}
		out = append(out, found...)
	}
	return out, nil
}

// matchPackage returns the findings of one package among the advisories of the packages they name.
func matchPackage(p inventory.Package, byPackage map[store.AdvisoryPackage][]*Advisory) []Finding {
	eco := Ecosystem(p.Ecosystem)
	name := PackageName(eco, p.AdvisoryName())
	var out []Finding
	seen := map[string]int{} // finding name -> index in out
	for _, a := range byPackage[store.AdvisoryPackage{Ecosystem: eco, Name: name}] {
		f, ok := match(a, p, eco, name)
		if !ok {
			continue
		}
		if i, dup := seen[f.Name]; dup {
			if out[i].Severity == SeverityUndefined && f.Severity != SeverityUndefined {
				out[i] = f
			}
			continue
		}
		seen[f.Name] = len(out)
		out = append(out, f)
	}
	return out
}

// matchedLimit bounds the packages whose findings a DB keeps.
const matchedLimit = 50_000

// matchedCache keeps the findings of packages matched at one state of the database (its update time):
// images built on one base share most of their packages, and re-matching thousands of them after an
// update matches each package once. A change seen on any node empties it, as does reaching the limit.
type matchedCache struct {
	mu      sync.Mutex
	version time.Time
	entries map[inventory.Package][]Finding
}

func (c *matchedCache) get(version time.Time, p inventory.Package) ([]Finding, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.version.Equal(version) {
		return nil, false
	}
	f, ok := c.entries[p]
	return f, ok
}

func (c *matchedCache) put(version time.Time, p inventory.Package, f []Finding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.version.Equal(version) || c.entries == nil || len(c.entries) >= matchedLimit {
		c.version, c.entries = version, map[inventory.Package][]Finding{}
	}
	c.entries[p] = f
}

// match tells whether advisory a affects package p (of the normalised ecosystem and name) and its finding.
func match(a *Advisory, p inventory.Package, ecosystem, name string) (Finding, bool) {
	for i := range a.Affected {
		af := &a.Affected[i]
		eco := Ecosystem(af.Package.Ecosystem)
		if eco != ecosystem || PackageName(eco, af.Package.Name) != name || !affects(af, eco, p.AdvisoryVersion()) {
			continue
		}
		sev := severityOf(a, af)
		f := Finding{
			Name: findingName(a), AdvisoryID: a.ID, Aliases: a.Aliases, Summary: a.Summary, Description: a.Details,
			URI: advisoryURI(a), Severity: sev.level, CVSSVector: sev.vector, CVSSScore: sev.score, CVSSVersion: sev.version,
			Package: p, FixedVersions: fixedVersions(af), Published: a.Published, Modified: a.Modified,
		}
		if f.Description == "" {
			f.Description = a.Summary
		}
		for _, r := range a.References {
			f.References = append(f.References, r.URL)
		}
		return f, true
	}
	return Finding{}, false
}

// affects tells whether version is one the package entry lists, or in one of its ECOSYSTEM or SEMVER ranges.
func affects(af *Affected, ecosystem, version string) bool {
	if ecosystem == "Go" {
		// Go's advisories give versions without the v of modules' and the go of the toolchain's (go1.21.3).
		version = strings.TrimPrefix(strings.TrimPrefix(version, "go"), "v")
	}
	if slices.Contains(af.Versions, version) {
		return true
	}
	for _, r := range af.Ranges {
		var parse func(string) (semantic.Version, error)
		switch r.Type {
		case "ECOSYSTEM":
			parse = func(s string) (semantic.Version, error) { return semantic.Parse(s, ecosystem) }
		case "SEMVER":
			parse = func(s string) (semantic.Version, error) {
				return semantic.ParseSemverVersion(strings.TrimPrefix(s, "v")), nil
			}
		default: // GIT ranges name commits, which an installed package does not tell
			continue
		}
		if inRange(parse, version, r.Events) {
			return true
		}
	}
	return false
}

// inRange applies OSV's evaluation of a range's events to version: it is affected from the latest
// introduced version at or below it, unless a fixed version at or below it, or a last affected version
// below it, comes at or after that introduction; and, when the range has limits, only below one of them.
func inRange(parse func(string) (semantic.Version, error), version string, events []Event) bool {
	v, err := parse(version)
	if err != nil {
		return false
	}
	// cmp compares version with an event's version: -1 when below it; ok false when it does not parse.
	cmp := func(s string) (int, bool) {
		c, err := v.CompareStr(s)
		return c, err == nil
	}
	var intro semantic.Version // nil: introduced at "0", below every version
	found := false
	for _, e := range events {
		if e.Introduced == "" {
			continue
		}
		if e.Introduced == "0" {
			found = true
			continue
		}
		iv, err := parse(e.Introduced)
		if err != nil {
			continue
		}
		if c, ok := cmp(e.Introduced); !ok || c < 0 {
			continue
		}
		if intro == nil {
			intro, found = iv, true
		} else if c, err := iv.Compare(intro); err == nil && c > 0 {
			intro = iv
		}
	}
	if !found {
		return false
	}
	// notBefore tells whether an event's version is at or after the introduction.
	notBefore := func(s string) bool {
		if intro == nil {
			return true
		}
		c, err := intro.CompareStr(s)
		return err == nil && c <= 0
	}
	limited, belowLimit := false, false
	for _, e := range events {
		switch {
		case e.Fixed != "":
			if c, ok := cmp(e.Fixed); ok && c >= 0 && notBefore(e.Fixed) {
				return false
			}
		case e.LastAffected != "":
			if c, ok := cmp(e.LastAffected); ok && c > 0 && notBefore(e.LastAffected) {
				return false
			}
		case e.Limit != "":
			limited = true
			if c, ok := cmp(e.Limit); e.Limit == "*" || ok && c < 0 {
				belowLimit = true
			}
		}
	}
	return !limited || belowLimit
}

// fixedVersions lists the fixed versions of a package entry's ranges.
func fixedVersions(af *Affected) []string {
	var out []string
	for _, r := range af.Ranges {
		for _, e := range r.Events {
			if e.Fixed != "" && !slices.Contains(out, e.Fixed) {
				out = append(out, e.Fixed)
			}
		}
	}
	return out
}

// findingName is the advisory's CVE id when it has one (its id, an alias, or its one upstream id), else
// its id.
func findingName(a *Advisory) string {
	if isCVE(a.ID) {
		return a.ID
	}
	for _, id := range a.Aliases {
		if isCVE(id) {
			return id
		}
	}
	var upstream []string
	for _, id := range a.Upstream {
		if isCVE(id) {
			upstream = append(upstream, id)
		}
	}
	if len(upstream) == 1 {
		return upstream[0]
	}
	return a.ID
}

func isCVE(id string) bool { return strings.HasPrefix(id, "CVE-") }

// advisoryURI is the advisory's own page: its first ADVISORY reference, else its page on osv.dev.
func advisoryURI(a *Advisory) string {
	for _, r := range a.References {
		if r.Type == "ADVISORY" && r.URL != "" {
			return r.URL
		}
	}
	return "https://osv.dev/vulnerability/" + a.ID
}
