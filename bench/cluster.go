package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/opencontainers/go-digest"
)

// clusterBench compares, on this machine and in one run, one node on the embedded stores with three nodes
// sharing PostgreSQL and S3 (push and pull throughput), and manifest GETs on PostgreSQL with SQLite. It
// uses the PostgreSQL and S3 servers named as for the tests: WHARF_TEST_POSTGRES, WHARF_TEST_S3,
// WHARF_TEST_S3_ACCESS_KEY and WHARF_TEST_S3_SECRET_KEY (scripts/test.sh starts both the same way).
func clusterBench() {
	pg, s3 := os.Getenv("WHARF_TEST_POSTGRES"), os.Getenv("WHARF_TEST_S3")
	if pg == "" || s3 == "" {
		check(fmt.Errorf("-cluster needs WHARF_TEST_POSTGRES and WHARF_TEST_S3 (and WHARF_TEST_S3_ACCESS_KEY, WHARF_TEST_S3_SECRET_KEY)"))
	}
	dir, err := os.MkdirTemp("", "wharf-bench-cluster")
	check(err)
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "wharf")
	build := exec.Command("go", "build", "-o", bin, "./cmd/wharf")
	build.Stderr = os.Stderr
	check(build.Run())

	db := fmt.Sprintf("wharf_bench_%d", time.Now().UnixNano())
	admin, err := sql.Open("pgx", pg)
	check(err)
	_, err = admin.Exec("CREATE DATABASE " + db)
	check(err)
	_, err = admin.Exec("CREATE DATABASE " + db + "_meta")
	check(err)
	defer func() {
		admin.Exec("DROP DATABASE " + db + " WITH (FORCE)")
		admin.Exec("DROP DATABASE " + db + "_meta WITH (FORCE)")
		admin.Close()
	}()
	i := strings.LastIndex(s3, "/")
	endpoint, bucket := s3[:i], s3[i+1:]
	secret := make([]byte, 32)
	rand.Read(secret)
	shared := []string{"--metadata", strings.Replace(pg, "/postgres?", "/"+db+"?", 1), "--blobs", "s3://" + bucket + "/" + db + "/",
		"--s3-endpoint", endpoint, "--s3-force-path-style", "--server-secret", base64.StdEncoding.EncodeToString(secret)}
	env := []string{"AWS_ACCESS_KEY_ID=" + os.Getenv("WHARF_TEST_S3_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("WHARF_TEST_S3_SECRET_KEY"), "AWS_REGION=us-east-1"}

	defer func() {
		for _, stop := range cleanups {
			stop()
		}
	}()
	node := func(name string, args ...string) string {
		a, stop := startNode(bin, filepath.Join(dir, name), env, args...)
		cleanups = append(cleanups, stop)
		return a
	}
	single := node("single")
	var three []string
	for n := range 3 {
		three = append(three, node(fmt.Sprintf("node%d", n), shared...))
	}
	pgOnly := node("pg", "--metadata", strings.Replace(pg, "/postgres?", "/"+db+"_meta?", 1), "--server-secret", base64.StdEncoding.EncodeToString(secret))

	for _, setup := range []struct {
		label string
		nodes []string
	}{{"1 node, SQLite + files", []string{single}}, {"3 nodes, PostgreSQL + S3", three}} {
		b := benchFor(setup.nodes)
		fmt.Printf("%-34s %s\n", "cluster: "+setup.label, b.parallelPush(4, 4)+", "+b.parallelPull(10))
	}
	for _, setup := range []struct{ label, node string }{{"SQLite", single}, {"PostgreSQL", pgOnly}} {
		b := benchFor([]string{setup.node})
		b.manifestPuts(10)
		fmt.Printf("metadata on %s:\n", setup.label)
		b.manifestGets()
	}
}

// benchFor returns a bench over the nodes, with a registry token of theirs.
func benchFor(nodes []string) *bench {
	b := &bench{base: "http://" + nodes[0], ecr: ecrClient("http://" + nodes[0])}
	for _, n := range nodes {
		b.nodes = append(b.nodes, "http://"+n)
	}
	tok, err := b.ecr.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	check(err)
	authHeader = "Basic " + *tok.AuthorizationData[0].AuthorizationToken
	return b
}

// startNode starts a wharf node and waits until it is healthy.
func startNode(bin, dir string, env []string, args ...string) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	a := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", a, "--data-dir", dir, "--create-on-push", "--log-level", "warn",
		"--max-images", "1000000", "--max-repositories", "100000", "--gc-interval", "0", "--lifecycle-interval", "0"}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(append(os.Environ(), env...), "WHARF_ADMIN_ACCESS_KEY_ID="+benchKeyID, "WHARF_ADMIN_SECRET_ACCESS_KEY="+benchSecret)
	check(cmd.Start())
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	for i := 0; i < 400; i++ {
		if res, err := http.Get("http://" + a + "/healthz"); err == nil && res.StatusCode == 200 {
			res.Body.Close()
			return a, stop
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	check(fmt.Errorf("wharf %v did not become healthy", args))
	return "", nil
}

// parallelPush pushes pushers × each blobs monolithically at once, pusher p through node p, and returns
// the throughput.
func (b *bench) parallelPush(pushers, each int) string {
	size := *blobMiB << 20
	var wg sync.WaitGroup
	start := time.Now()
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			rand.Read(buf)
			base := b.nodes[p%len(b.nodes)]
			for i := range each {
				copy(buf, fmt.Sprintf("%04d%04d", p, i))
				d := digest.FromBytes(buf)
				res := do("POST", base+"/v2/bench/cluster/blobs/uploads/", nil, 0)
				do("PUT", base+res.Header.Get("Location")+"?digest="+d.String(), bytes.NewReader(buf), int64(size),
					"Content-Type", "application/octet-stream")
				if p == 0 && i == 0 {
					b.big = d
				}
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("push %s (%d pushers x %d x %d MiB)", mbps(int64(pushers*each*size), time.Since(start)), pushers, each, *blobMiB)
}

// parallelPull pulls one blob with clients at once, client c through node c (following S3 redirects).
func (b *bench) parallelPull(clients int) string {
	return fmt.Sprintf("pull %s (%d clients x %d MiB)", b.pulls(clients, "bench/cluster"), clients, *blobMiB)
}
