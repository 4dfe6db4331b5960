package registry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/secrets"
)

// fakePeer is another region's deployment in memory: what was pushed to it, in order.
type fakePeer struct {
	mu       sync.Mutex
	creds    registry.PeerCredentials
	blobs    map[digest.Digest]bool
	uploads  []digest.Digest
	puts     []string // "repository:reference"
	err      error    // every request fails with it when set
	observed []string
}

func (f *fakePeer) dial(endpoint, region string, creds registry.PeerCredentials) registry.PeerClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creds = creds
	return f
}

func (f *fakePeer) BlobExists(ctx context.Context, registryID, repository string, d digest.Digest) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blobs[d], f.err
}

func (f *fakePeer) PutBlob(ctx context.Context, registryID, repository string, d digest.Digest, size int64, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if digest.FromBytes(b) != d || int64(len(b)) != size {
		return fmt.Errorf("blob %s: %d bytes of another digest", d, len(b))
	}
	f.blobs[d] = true
	f.uploads = append(f.uploads, d)
	return nil
}

func (f *fakePeer) PutManifest(ctx context.Context, registryID, repository, reference, mediaType string, content []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.puts = append(f.puts, registryID+"/"+repository+":"+reference)
	return nil
}

const west = "us-west-2"

// newPeerEnv is a core in us-east-1 whose peer in us-west-2 is f, with a Secrets Manager.
func newPeerEnv(t *testing.T, f *fakePeer) (*env, *secrets.Service) {
	f.blobs = map[digest.Digest]bool{}
	e, sec := ptcEnv(t, registry.Config{Peers: registry.PeerConfig{Endpoints: map[string]string{west: "http://west.invalid"}, Dial: f.dial,
		RetryFor: time.Hour, Observe: func(region, result string, n int64) {
			f.observed = append(f.observed, fmt.Sprintf("%s %s %d", region, result, n))
		}}})
	e.svc.ReplicateWith(region, grants{}.allow)
	if err := e.svc.PutReplicationConfiguration(ctx, reg, registry.ReplicationConfiguration{Rules: []registry.ReplicationRule{
		rule(nil, registry.ReplicationDestination{Region: west, RegistryID: reg}, registry.ReplicationDestination{Region: west, RegistryID: dstReg})}}); err != nil {
		t.Fatal(err)
	}
	return e, sec
}

// runReplicationsRetrying runs the replication jobs due, each as its attempt-th attempt; a job that fails
// is due again at once.
func (e *env) runReplicationsRetrying(t *testing.T, attempt int) []error {
	return e.runReplicationJobs(t, attempt, true)
}

func TestReplicationToAnotherRegion(t *testing.T) {
	f := &fakePeer{}
	e, sec := newPeerEnv(t, f)
	e.repo(t, "app", registry.Mutable)

	// Without the secret: FAILED, with the code that says so.
	d := e.push(t, "app", "v1", "one")
	e.runReplications(t, 1)
	want := fmt.Sprintf("[%s/%s FAILED %s %s/%s FAILED %[3]s]", west, reg, registry.ReplicationCredentialsNotFound, west, dstReg)
	if got := fmt.Sprint(e.replication(t, "app", d)); got != want {
		t.Fatalf("statuses without the secret: %s, want %s", got, want)
	}

	// With it, the next push replicates: the blobs, then the manifest under its tag, to each registry.
	secret(t, sec, registry.ReplicationSecretPrefix+west, `{"accessKeyId":"AKIAWEST","secretAccessKey":"s3cr3t"}`)
	a := e.push(t, "app", "", "amd64")
	b := e.push(t, "app", "", "arm64")
	f.blobs[digest.FromString("layer arm64")] = true // the destination has it already
	idx, err := e.svc.PutManifest(ctx, reg, "app", "v2", "application/vnd.oci.image.index.v1+json", indexManifest(a, b))
	if err != nil {
		t.Fatal(err)
	}
	f.uploads, f.puts = nil, nil
	// The jobs of the children (pushed untagged) and of the index run; the index's pushes its children first.
	for _, err := range e.runReplications(t, 1) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.creds.AccessKeyID != "AKIAWEST" || f.creds.SecretAccessKey != "s3cr3t" {
		t.Fatalf("credentials: %+v", f.creds)
	}
	for _, x := range []digest.Digest{a, b, idx.Digest} {
		want := fmt.Sprintf("[%s/%s COMPLETE  %s/%s COMPLETE ]", west, reg, west, dstReg)
		if got := fmt.Sprint(e.replication(t, "app", x)); got != want {
			t.Fatalf("statuses of %s: %s, want %s", x, got, want)
		}
	}
	for _, up := range f.uploads {
		if up == digest.FromString("layer arm64") {
			t.Fatalf("a blob the destination had was uploaded again")
		}
	}
	if len(f.uploads) != 3 { // amd64's config and layer, arm64's config
		t.Fatalf("uploads: %v", f.uploads)
	}
	tagged := 0
	for i, p := range f.puts {
		if strings.HasSuffix(p, ":v2") {
			tagged++
			before := strings.Join(f.puts[:i], " ")
			if !strings.Contains(before, a.String()) || !strings.Contains(before, b.String()) {
				t.Fatalf("the index before its children: %v", f.puts)
			}
		}
	}
	if tagged != 2 {
		t.Fatalf("manifest puts: %v", f.puts)
	}
	if !strings.Contains(strings.Join(f.observed, ","), west+" complete ") {
		t.Fatalf("observed: %v", f.observed)
	}
}

func TestReplicationToARegionDownCatchesUp(t *testing.T) {
	f := &fakePeer{}
	e, sec := newPeerEnv(t, f)
	secret(t, sec, registry.ReplicationSecretPrefix+west, `{"accessKeyId":"AKIAWEST","secretAccessKey":"s3cr3t"}`)
	e.repo(t, "app", registry.Mutable)
	f.err = fmt.Errorf("%w: connection refused", registry.ErrPeerUnavailable)
	d := e.push(t, "app", "v1", "one")
	// Attempts past ReplicateAttempts keep it in progress while the destination is down, within RetryFor.
	for _, err := range e.runReplicationsRetrying(t, registry.ReplicateAttempts+3) {
		if err == nil {
			t.Fatal("an attempt against a destination down succeeded")
		}
	}
	want := fmt.Sprintf("[%s/%s IN_PROGRESS  %s/%s IN_PROGRESS ]", west, reg, west, dstReg)
	if got := fmt.Sprint(e.replication(t, "app", d)); got != want {
		t.Fatalf("statuses while down: %s, want %s", got, want)
	}
	f.err = nil
	e.runReplicationsRetrying(t, registry.ReplicateAttempts+4)
	want = fmt.Sprintf("[%s/%s COMPLETE  %s/%s COMPLETE ]", west, reg, west, dstReg)
	if got := fmt.Sprint(e.replication(t, "app", d)); got != want {
		t.Fatalf("statuses once back: %s, want %s", got, want)
	}

	// Down for longer than RetryFor: FAILED. A refusal of the push: FAILED at once, denied.
	f.err = fmt.Errorf("%w: connection refused", registry.ErrPeerUnavailable)
	d2 := e.push(t, "app", "v2", "two")
	e.clock.Advance(2 * time.Hour)
	e.runReplications(t, 30)
	f.err = fmt.Errorf("%w: 403", registry.ErrPeerDenied)
	d3 := e.push(t, "app", "v3", "three")
	e.runReplications(t, 1)
	for _, c := range []struct {
		d    digest.Digest
		code string
	}{{d2, registry.ReplicationErrorCode}, {d3, registry.ReplicateImageDenied}} {
		want := fmt.Sprintf("[%s/%s FAILED %s %s/%s FAILED %[3]s]", west, reg, c.code, west, dstReg)
		if got := fmt.Sprint(e.replication(t, "app", c.d)); got != want {
			t.Fatalf("statuses: %s, want %s", got, want)
		}
	}
}

// TestReplicaIsNotReplicatedFurther: an image pushed by another region's replication (a marked push by a
// caller allowed ecr:ReplicateImage) is not replicated further, as a replica made in this region is not;
// for a caller not allowed ecr:ReplicateImage the mark changes nothing: its push is replicated.
func TestReplicaIsNotReplicatedFurther(t *testing.T) {
	f := &fakePeer{}
	e, _ := newPeerEnv(t, f)
	e.repo(t, "app", registry.Mutable)
	marked := registry.WithReplication(ctx, "eu-west-1")
	for _, c := range []struct {
		caller    string
		replicate bool
		statuses  int
	}{{"replicator", true, 0}, {"pusher", false, 2}} {
		c := c
		as := registry.WithAuthorizer(marked, func(action, repo string) error {
			if action == "ecr:ReplicateImage" && !c.replicate {
				return errors.New("not authorized to perform: ecr:ReplicateImage")
			}
			return nil
		})
		cfg, layer := e.blob(t, "app", "config "+c.caller), e.blob(t, "app", "layer "+c.caller)
		res, err := e.svc.PutManifest(as, reg, "app", c.caller, "application/vnd.oci.image.manifest.v1+json", imageManifest(cfg, layer))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.replication(t, "app", res.Digest); len(got) != c.statuses {
			t.Errorf("a marked push by the %s: replication statuses %v", c.caller, got)
		}
	}
}
