package e2e

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestUsage pushes an image with crane and copies it to a second repository (the same blobs, held by
// both), pulls it twice with crane and once with aws ecr batch-get-image (the copy and crane manifest read
// the manifest too: two more pulls, without blob bytes), then reads the usage three ways:
// wharf usage --format json and csv, and a signed DescribeUsage call. Storage is exactly the manifest's,
// config's and layers' bytes, once for the account and half each as the repositories' shares; the pulls and
// bytes pulled are those of the pulls made.
func TestUsage(t *testing.T) {
	crane := tool(t, "crane")
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	s.aws("ecr", "create-repository", "--repository-name", "usage/app")
	s.aws("ecr", "create-repository", "--repository-name", "usage/web")
	s.login()
	app, web := s.addr+"/usage/app", s.addr+"/usage/web"
	run(t, crane, "append", "--insecure", "-f", writeLayer(t, work, "base", map[string][]byte{"etc/motd": []byte(strings.Repeat("wharf usage\n", 5000))}), "-t", app+":v1")
	run(t, crane, "copy", "--insecure", app+":v1", web+":v1")
	raw := run(t, crane, "manifest", "--insecure", app+":v1")
	var m struct {
		Config struct{ Size int64 }
		Layers []struct{ Size int64 }
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("crane manifest: %v\n%s", err, raw)
	}
	blobs := m.Config.Size
	for _, l := range m.Layers {
		blobs += l.Size
	}
	mf := int64(len(raw)) // each repository stores its own copy of the manifest; the blobs are shared
	storage := mf + blobs
	for i := range 2 {
		run(t, crane, "pull", "--insecure", app+":v1", filepath.Join(work, "pulled"+strconv.Itoa(i)+".tar"))
	}
	s.aws("ecr", "batch-get-image", "--repository-name", "usage/web", "--image-ids", "imageTag=v1")
	s.stop() // writes the pull counts the server holds
	s.start()

	check := func(how string, repos []any, totals map[string]any) {
		t.Helper()
		want := map[string]map[string]float64{
			"usage/app": {"storageBytes": float64(storage), "sharedBytes": float64(blobs), "storageShareBytes": math.Round(float64(mf) + float64(blobs)/2), "pulls": 4, "bytesPulled": float64(2 * blobs), "imageCount": 1, "tagCount": 1},
			"usage/web": {"storageBytes": float64(storage), "sharedBytes": float64(blobs), "storageShareBytes": math.Round(float64(mf) + float64(blobs)/2), "pulls": 1, "bytesPulled": 0, "imageCount": 1, "tagCount": 1},
		}
		if len(repos) != 2 {
			t.Fatalf("%s: repositories %v", how, repos)
		}
		for _, r := range repos {
			r := r.(map[string]any)
			for k, v := range want[r["repositoryName"].(string)] {
				if r[k] != v {
					t.Errorf("%s: %s's %s is %v, want %v", how, r["repositoryName"], k, r[k], v)
				}
			}
		}
		if totals["storageBytes"] != float64(2*mf+blobs) || totals["pulls"] != float64(5) || totals["bytesPulled"] != float64(2*blobs) || totals["repositoryCount"] != float64(2) {
			t.Errorf("%s: totals %v; want storage %d, 5 pulls, %d bytes pulled", how, totals, 2*mf+blobs, 2*blobs)
		}
	}

	code, api := s.ecrCall(adminKeyID, adminSecret, "DescribeUsage", map[string]any{"days": 7, "includeTotals": true})
	if code != 200 {
		t.Fatalf("DescribeUsage: %d %v", code, api)
	}
	check("DescribeUsage", api["repositories"].([]any), api["totals"].(map[string]any))
	var cli map[string]any
	jsonOf(t, s.wharf("usage", "--days", "7", "--format", "json"), &cli)
	check("wharf usage --format json", cli["repositories"].([]any), cli["totals"].(map[string]any))
	if a, c := api["totals"].(map[string]any)["estimatedMonthlyCost"], cli["totals"].(map[string]any)["estimatedMonthlyCost"]; !jsonEqual(a, c) {
		t.Errorf("costs differ: the API's %v, the command's %v", a, c)
	}

	rows, err := csv.NewReader(strings.NewReader(s.wharf("usage", "--days", "7", "--format", "csv"))).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "repository" || rows[3][0] != "TOTAL" {
		t.Fatalf("wharf usage --format csv: %v %v", rows, err)
	}
	col := func(row []string, name string) string { return row[slices.Index(rows[0], name)] }
	if col(rows[1], "repository") != "usage/app" || col(rows[1], "storage_bytes") != strconv.FormatInt(storage, 10) ||
		col(rows[1], "pulls") != "4" || col(rows[1], "bytes_pulled") != strconv.FormatInt(2*blobs, 10) ||
		col(rows[3], "storage_bytes") != strconv.FormatInt(2*mf+blobs, 10) || col(rows[3], "pulls") != "5" {
		t.Fatalf("wharf usage --format csv:\n%v", rows)
	}

	// A user allowed nothing is denied, both ways in.
	s.wharf("admin", "create-user", "nobody")
	var key struct{ AccessKeyId, SecretAccessKey string }
	jsonOf(t, s.wharf("admin", "create-access-key", "nobody"), &key)
	if code, body := s.ecrCall(key.AccessKeyId, key.SecretAccessKey, "DescribeUsage", map[string]any{}); code != 400 || body["__type"] != "AccessDeniedException" {
		t.Fatalf("DescribeUsage without permission: %d %v", code, body)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
