package peer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/internal/address"
)

// Endpoints is the flag of the peer deployments: region=URL, repeatable; one value may hold several,
// comma-separated (WHARF_REPLICATION_PEERS), or a JSON list of them or object of region to URL (a config
// file's setting).
type Endpoints map[string]string

var region = regexp.MustCompile(`^[0-9a-z-]{2,25}$`)

// String implements flag.Value.
func (e Endpoints) String() string {
	var out []string
	for r, u := range e {
		out = append(out, r+"="+u)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Set implements flag.Value: it adds the peers of v.
func (e Endpoints) Set(v string) error {
	var pairs []string
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, "["):
		if err := json.Unmarshal([]byte(v), &pairs); err != nil {
			return err
		}
	case strings.HasPrefix(v, "{"):
		var m map[string]string
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return err
		}
		for r, u := range m {
			pairs = append(pairs, r+"="+u)
		}
	default:
		pairs = strings.Split(v, ",")
	}
	for _, p := range pairs {
		r, u, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !region.MatchString(r) {
			return fmt.Errorf("a replication peer is REGION=URL, e.g. us-west-2=https://wharf-west.example.com: %q", p)
		}
		o, err := address.ParseURL(u)
		if err != nil {
			return err
		}
		e[r] = o.Scheme + "://" + o.Host
	}
	return nil
}
