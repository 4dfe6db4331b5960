package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBackupWhilePushing backs a running server up with `wharf backup` while crane keeps pushing and
// images are deleted under a garbage collector that runs every half second, restores the backup into a
// fresh directory with `wharf restore`, starts a server on it, and pulls every image it holds by digest:
// each is one that was pushed, complete, byte for byte; every image pushed before the backup began and not
// deleted is there. A damaged or missing backup fails the restore with a clear message and writes nothing.
func TestBackupWhilePushing(t *testing.T) {
	crane := tool(t, "crane")
	dir := t.TempDir()
	const grace = 2 * time.Second
	s := startServer(t, dir, "--gc-interval", "500ms", "--gc-grace", grace.String())
	s.aws("ecr", "create-repository", "--repository-name", "app")
	s.aws("ecr", "create-repository", "--repository-name", "old")
	s.login()
	work := t.TempDir()

	var mu sync.Mutex
	pushed := map[string]string{} // manifest digest → repository
	var n int
	push := func(repo, tag string, size int) (string, error) {
		mu.Lock()
		n++
		name := fmt.Sprintf("layer%d", n)
		mu.Unlock()
		content := make([]byte, size)
		rand.Read(content)
		cmd := exec.Command(crane, "append", "--insecure", "-f", writeTar(t, work, name, content), "-t", s.addr+"/"+repo+":"+tag)
		var out, errs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errs
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("crane append %s:%s: %v\n%s", repo, tag, err, errs.String())
		}
		_, d, ok := strings.Cut(strings.TrimSpace(out.String()), "@")
		if !ok {
			return "", fmt.Errorf("crane append printed %q", out.String())
		}
		mu.Lock()
		pushed[d] = repo
		mu.Unlock()
		return d, nil
	}
	var before, old []string
	for i := range 3 {
		d, err := push("old", fmt.Sprint("v", i), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, d)
	}
	oldPushed := time.Now()
	for i := range 4 {
		d, err := push("app", fmt.Sprint("base-", i), (i+1)<<20)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, d)
	}
	time.Sleep(time.Until(oldPushed.Add(grace))) // the old images' blobs are past the grace period: deleted, they go at once

	stop := make(chan struct{})
	var pushers sync.WaitGroup
	var pushErr error
	for w := range 2 {
		pushers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := push("app", fmt.Sprintf("during-%d-%d", w, i), 512<<10); err != nil {
					mu.Lock()
					pushErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	backupDir := filepath.Join(t.TempDir(), "backup")
	type result struct {
		out string
		err error
	}
	done := make(chan result)
	go func() {
		out, err := runEnv(t, nil, nil, wharfBin, "backup", "--data-dir", dir, "--to", backupDir)
		done <- result{out, err}
	}()
	auth := basicAuth(s.password())
	for _, d := range old { // at once, so the collector wants their blobs while the backup copies
		req, _ := http.NewRequest("DELETE", "http://"+s.addr+"/v2/old/manifests/"+d, nil)
		req.Header.Set("Authorization", auth)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 202 {
			t.Fatalf("deleting %s: %v %v", d, res, err)
		} else {
			res.Body.Close()
		}
	}
	res := <-done
	time.Sleep(300 * time.Millisecond)
	close(stop)
	pushers.Wait()
	if res.err != nil || !strings.Contains(res.out, "backed up the metadata") {
		t.Fatalf("wharf backup: %v\n%s", res.err, res.out)
	}
	if pushErr != nil {
		t.Fatal(pushErr)
	}
	t.Log(strings.TrimSpace(res.out))

	// A damaged backup, a directory without one: clear errors, and nothing written.
	damaged := filepath.Join(t.TempDir(), "damaged")
	run(t, "cp", "-a", backupDir, damaged)
	layers, _ := filepath.Glob(filepath.Join(damaged, "blobs", "sha256", "*", "*"))
	var biggest string
	var size int64
	for _, p := range layers {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
	}
	if err := os.WriteFile(biggest, []byte("not the layer"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, want string }{
		{damaged, "in the backup is damaged"},
		{t.TempDir(), "no backup here: backup.json is missing"},
		{filepath.Join(work, "nothing"), "no such file or directory"},
	} {
		target := filepath.Join(t.TempDir(), "data")
		out, err := runEnv(t, nil, nil, wharfBin, "restore", "--from", c.from, "--data-dir", target)
		if err == nil || !strings.Contains(out, c.want) {
			t.Fatalf("restore from %s: %v; want %q in:\n%s", c.from, err, c.want, out)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Fatalf("a failed restore left %s: %v", target, err)
		}
	}
	// A data directory in use is refused.
	if out, err := runEnv(t, nil, nil, wharfBin, "restore", "--from", backupDir, "--data-dir", dir); err == nil || !strings.Contains(out, "not empty") {
		t.Fatalf("restore over the running installation: %v\n%s", err, out)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runEnv(t, nil, nil, wharfBin, "restore", "--from", backupDir, "--data-dir", restored); err != nil {
		t.Fatalf("wharf restore: %v\n%s", err, out)
	}
	s.stop()
	r := startServer(t, restored)
	// The admin's access key came back, sealed with the restored server.key.
	auth = basicAuth(r.password())
	found, deleted := 0, 0
	inBackup := map[string]bool{}
	for _, repo := range []string{"app", "old"} {
		var list struct {
			ImageIds []struct{ ImageDigest string }
		}
		jsonOf(t, r.aws("ecr", "list-images", "--repository-name", repo), &list)
		for _, id := range list.ImageIds {
			d := id.ImageDigest
			if inBackup[d] {
				continue
			}
			inBackup[d] = true
			if pushed[d] != repo {
				t.Fatalf("the restored %s holds %s, which was never pushed there", repo, d)
			}
			pullByDigest(t, r.addr, auth, repo, d)
			found++
			if repo == "old" {
				deleted++
			}
		}
	}
	for _, d := range before {
		if !inBackup[d] {
			t.Fatalf("image %s, pushed before the backup began, is not in it", d)
		}
	}
	t.Logf("restored and pulled %d images (%d of those deleted while the backup ran); %d were pushed in all", found, deleted, len(pushed))
}

// pullByDigest fetches an image's manifest and every blob it names by digest and checks each against its
// digest and size.
func pullByDigest(t *testing.T, addr, auth, repo, d string) {
	t.Helper()
	get := func(path, accept string) []byte {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/"+repo+path, nil)
		req.Header.Set("Authorization", auth)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, err)
		}
		return body
	}
	check := func(what string, body []byte, want string, size int64) {
		sum := sha256.Sum256(body)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != want || size >= 0 && int64(len(body)) != size {
			t.Fatalf("%s of %s@%s: %d bytes hashing to %s, want %s (%d bytes)", what, repo, d, len(body), got, want, size)
		}
	}
	body := get("/manifests/"+d, "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json")
	check("manifest", body, d, -1)
	var m struct {
		Config struct {
			Digest string
			Size   int64
		}
		Layers []struct {
			Digest string
			Size   int64
		}
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("manifest %s: %v\n%s", d, err, body)
	}
	check("config", get("/blobs/"+m.Config.Digest, ""), m.Config.Digest, m.Config.Size)
	for _, l := range m.Layers {
		check("layer", get("/blobs/"+l.Digest, ""), l.Digest, l.Size)
	}
}
