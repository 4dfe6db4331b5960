package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/server"
)

// The pull through scenario: an upstream that serves a single-layer image of 256 MiB from memory (a
// static registry API over loopback), and an embedded Wharf (SQLite, files) with a pull through cache
// rule to it. Each run has a layer of its own and measures, in MB/s of the layer: (a) a pull straight from
// the upstream, (b) the first pull through the cache (manifest, then the layer streamed while Wharf stores
// it), (c) a second pull, from the cache. It prints the median of the runs.
const (
	ptcLayerMiB = 256
	ptcRuns     = 5
)

func pullThroughBench() {
	ctx := context.Background()
	layer := make([]byte, ptcLayerMiB<<20)
	rand.Read(layer)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	var cur struct {
		layer    digest.Digest
		manifest []byte
	}
	// Run i's layer differs from the others in its first bytes: a first pull finds nothing stored.
	setRun := func(i int) {
		binary.BigEndian.PutUint64(layer, uint64(i)+1)
		cur.layer = digest.FromBytes(layer)
		cur.manifest = fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
			digest.FromBytes(config), len(config), cur.layer, len(layer))
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch p := r.URL.Path; {
		case p == "/v2/":
		case strings.HasSuffix(p, "/manifests/v1"), strings.HasSuffix(p, "/manifests/"+digest.FromBytes(cur.manifest).String()):
			body = cur.manifest
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		case strings.HasSuffix(p, "/blobs/"+digest.FromBytes(config).String()):
			body = config
		case strings.HasSuffix(p, "/blobs/"+cur.layer.String()):
			body = layer
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}))
	defer up.Close()

	dir, err := os.MkdirTemp("", "wharf-bench-ptc")
	check(err)
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	st, err := server.OpenStorage(ctx, server.Storage{DataDir: data})
	check(err)
	creds := identity.Credentials{AccessKeyID: "AKIABENCHPTC00000001", SecretAccessKey: "bench-ptc-secret-0000000000000000000000"}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := server.New(server.Options{DataDir: data, Bootstrap: true, AdminCredentials: &creds, Log: quiet,
		Registry: registry.Config{Upstreams: registry.UpstreamConfig{AllowHTTP: true}}}, st)
	check(err)
	defer app.Close()
	srv := httptest.NewServer(app.Handler)
	defer srv.Close()
	api := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""), HTTPClient: client})
	_, err = api.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("up"), UpstreamRegistryUrl: aws.String(up.URL)})
	check(err)
	tok, err := api.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	check(err)
	auth := "Basic " + *tok.AuthorizationData[0].AuthorizationToken

	// pull fetches the manifest of v1 and the layer, and returns the layer's MB/s over the whole pull.
	pull := func(base, repo, authorization string) float64 {
		start := time.Now()
		for _, p := range []string{"/v2/" + repo + "/manifests/v1", "/v2/" + repo + "/blobs/" + cur.layer.String()} {
			req, _ := http.NewRequest(http.MethodGet, base+p, nil)
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			res, err := client.Do(req)
			check(err)
			n := drain(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || strings.Contains(p, "/blobs/") && n != int64(len(layer)) {
				check(fmt.Errorf("GET %s: HTTP %d, %d bytes", p, res.StatusCode, n))
			}
		}
		return float64(len(layer)) / 1e6 / time.Since(start).Seconds()
	}
	var direct, first, second []float64
	for i := range ptcRuns {
		setRun(i)
		repo := fmt.Sprintf("lib/app%d", i)
		direct = append(direct, pull(up.URL, repo, ""))
		first = append(first, pull(srv.URL, "up/"+repo, auth))
		// BatchGetImage returns once the image is stored.
		_, err := api.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("up/" + repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1")}}})
		check(err)
		second = append(second, pull(srv.URL, "up/"+repo, auth))
	}
	median := func(xs []float64) string {
		sort.Float64s(xs)
		return fmt.Sprintf("%.0f MB/s (runs: %s)", xs[len(xs)/2], fmtRuns(xs))
	}
	fmt.Printf("%-34s %s\n", fmt.Sprintf("pull through: direct, %d MiB", ptcLayerMiB), median(direct))
	fmt.Printf("%-34s %s\n", "pull through: first pull (cache)", median(first))
	fmt.Printf("%-34s %s\n", "pull through: second pull (cached)", median(second))
}

func fmtRuns(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, " ")
}
