package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/server"
	"github.com/wharf-dev/wharf/internal/store"
)

// The usage scenario: DescribeUsage on 1,000 repositories holding 10,000 images (10 each), as the web
// console calls it for its repositories page. Each image has its own config and layer and two of 5 base
// layers every repository shares, and one tag; every repository has 30 days of pull counts. The figures
// are the median latency of a signed DescribeUsage call over HTTP, through the pipeline: the first page
// of 100, a later page of 100, 100 repositories named, and the first page with the account's totals.
var usagePostgres = flag.String("usage-postgres", "", "run the usage scenario on this (empty) PostgreSQL database instead of SQLite")

const (
	usageRepos, usageImagesPerRepo, usageBases = 1000, 10, 5
	usageAccount                               = "000000000000"
)

func usageBench() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wharf-bench-usage")
	check(err)
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	st, err := server.OpenStorage(ctx, server.Storage{DataDir: data, Metadata: *usagePostgres})
	check(err)
	creds := identity.Credentials{AccessKeyID: "AKIABENCHUSAGE000001", SecretAccessKey: "bench-usage-secret-000000000000000000000"}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := server.New(server.Options{DataDir: data, Bootstrap: true, AdminCredentials: &creds, Log: quiet}, st)
	check(err)
	defer app.Close()
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()

	start := time.Now()
	usageFill(ctx, st.Meta)
	fmt.Printf("%-34s %.1f s (%d repositories × %d images)\n", "usage: fill", time.Since(start).Seconds(), usageRepos, usageImagesPerRepo)

	var names []string
	for i := 500; i < 600; i++ {
		names = append(names, usageRepo(i))
	}
	first := map[string]any{"maxResults": 100}
	next := usageCall(srv.URL, creds, map[string]any{"maxResults": 400})["nextToken"]
	for _, c := range []struct {
		label string
		in    map[string]any
	}{
		{"first page of 100", first},
		{"a later page of 100", map[string]any{"maxResults": 100, "nextToken": next}},
		{"100 repositories named", map[string]any{"repositoryNames": names}},
		{"first page of 100 with totals", map[string]any{"maxResults": 100, "includeTotals": true}},
	} {
		var ds []time.Duration
		var out map[string]any
		for range 21 {
			t0 := time.Now()
			out = usageCall(srv.URL, creds, c.in)
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		if n := len(out["repositories"].([]any)); n != 100 {
			check(fmt.Errorf("DescribeUsage %s: %d repositories", c.label, n))
		}
		fmt.Printf("%-34s %s median, %s max of 21\n", "usage: "+c.label, round(ds[len(ds)/2]), round(ds[len(ds)-1]))
	}
}

func usageRepo(i int) string { return fmt.Sprintf("team/service-%04d", i) }

// usageFill stores the scenario's rows directly (a push of each would take far longer than the figure).
func usageFill(ctx context.Context, meta store.Store) {
	now := time.Now().UTC()
	blob := func(tx store.Tx, name string, size int64) digest.Digest {
		d := digest.FromString(name)
		check(tx.PutBlob(store.Blob{Digest: d, Size: size, TouchedAt: now}))
		return d
	}
	var bases []digest.Digest
	check(meta.Update(ctx, func(tx store.Tx) error {
		for i := range usageBases {
			bases = append(bases, blob(tx, fmt.Sprintf("base %d", i), int64(30<<20+i)))
		}
		return nil
	}))
	for i := range usageRepos {
		check(meta.Update(ctx, func(tx store.Tx) error {
			r := &store.Repository{RegistryID: usageAccount, Name: usageRepo(i), CreatedAt: now, TagMutability: "MUTABLE", EncryptionType: "AES256"}
			if err := tx.CreateRepository(r); err != nil {
				return err
			}
			for j := range usageImagesPerRepo {
				cfg := blob(tx, fmt.Sprintf("config %d %d", i, j), 1500)
				layer := blob(tx, fmt.Sprintf("layer %d %d", i, j), int64(5<<20+i*j))
				refs := []store.Ref{{Kind: store.RefBlob, Digest: cfg}, {Kind: store.RefBlob, Digest: layer},
					{Kind: store.RefBlob, Digest: bases[(i+j)%usageBases]}, {Kind: store.RefBlob, Digest: bases[(i+j+1)%usageBases]}}
				body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":"%d-%d","pad":"%s"}`, i, j, strings.Repeat("x", 800)))
				img := &store.Image{RepositoryID: r.ID, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json",
					PushedAt: now, Content: body}
				if err := tx.PutImage(img, refs); err != nil {
					return err
				}
				if err := tx.PutTag(r.ID, store.Tag{Name: fmt.Sprintf("v%d", j), Digest: img.Digest, UpdatedAt: now}); err != nil {
					return err
				}
			}
			var counts []store.PullCount
			for d := range 30 {
				day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -d)
				counts = append(counts, store.PullCount{RegistryID: usageAccount, Repository: r.Name, Day: day, Pulls: int64(i + d), Bytes: int64(i+d) << 20},
					store.PullCount{RegistryID: usageAccount, Day: day, Pulls: int64(i + d), Bytes: int64(i+d) << 20})
			}
			return tx.AddPulls(counts)
		}))
	}
}

// usageCall makes a signed DescribeUsage call and returns its answer.
func usageCall(base string, creds identity.Credentials, in map[string]any) map[string]any {
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.DescribeUsage")
	sum := sha256.Sum256(body)
	check(v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()))
	res, err := http.DefaultClient.Do(req)
	check(err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	check(err)
	if res.StatusCode != 200 {
		check(fmt.Errorf("DescribeUsage: %d %s", res.StatusCode, data))
	}
	var out map[string]any
	check(json.Unmarshal(data, &out))
	return out
}
