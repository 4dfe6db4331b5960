package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
	"github.com/wharf-dev/wharf/internal/store"
)

// Failure codes of a replication to another region's deployment.
const (
	// ReplicationCredentialsNotFound: the source account has no usable secret wharf/replication/<region>.
	ReplicationCredentialsNotFound = "ReplicationCredentialsNotFound"
	// ReplicationCredentialsInvalid: the destination deployment refused the secret's access key.
	ReplicationCredentialsInvalid = "ReplicationCredentialsInvalid"
)

// ReplicationSecretPrefix names the secret of the source account that holds the access key replication to
// a region's deployment uses: wharf/replication/<region>, a JSON object {"accessKeyId","secretAccessKey"}.
const ReplicationSecretPrefix = "wharf/replication/"

// peerAttempts is the attempt count of a job replicating to another deployment: the runner never ends it
// by count; RunReplication does, after ReplicateAttempts failures other than an unreachable destination,
// or once a destination has been unreachable for PeerConfig.RetryFor.
const peerAttempts = 1 << 30

// Peer errors, which a PeerClient's errors wrap.
var (
	// ErrPeerUnavailable: the deployment could not be reached or answered 5xx or 429; retried until it
	// returns, within PeerConfig.RetryFor.
	ErrPeerUnavailable = errors.New("the destination deployment is unavailable")
	// ErrPeerUnauthorized: the deployment refused the access key.
	ErrPeerUnauthorized = errors.New("the destination deployment refused the credentials")
	// ErrPeerDenied: the deployment refused the push (its policies).
	ErrPeerDenied = errors.New("the destination deployment denied the replication")
	// ErrPeerCreateDenied: the deployment refused to create the missing repository (its policies).
	ErrPeerCreateDenied = errors.New("the destination deployment denied the creation of the repository")
)

// PeerConfig tunes replication to the deployments of other regions.
type PeerConfig struct {
	// Endpoints maps a region to the base URL (scheme and host) of the deployment serving it. A
	// destination in a region not named here is FAILED CrossRegionReplicationNotConfigured.
	Endpoints map[string]string
	// Dial makes the client of a region's deployment at endpoint, with an access key of the source
	// account there. internal/peer has the one over HTTP. Nil reaches none (every attempt unavailable).
	Dial func(endpoint, region string, creds PeerCredentials) PeerClient
	// RetryFor bounds how long a destination that cannot be reached is retried, from the push; then the
	// replication is FAILED. Default 24 hours.
	RetryFor time.Duration
	// RetryBase and RetryMax are the backoff of replication jobs between attempts: RetryBase doubling up
	// to RetryMax (the job runner's, as the server wires it). Default 10 seconds and 10 minutes.
	RetryBase, RetryMax time.Duration
	// Observe, when set, is told the outcome of each attempt of a replication to another region
	// ("complete", "failed", "retry") and the bytes of the blobs it pushed.
	Observe func(region, result string, bytes int64)
}

// PeerCredentials are what a replication secret holds: an access key of an identity of the source
// account at the destination deployment.
type PeerCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// PeerClient is what the core needs of another region's deployment: its registry API, as the source
// account's identity there. Every request is marked as a replication, so that the destination authorizes
// it as one (WithReplication).
type PeerClient interface {
	// BlobExists tells whether a repository of registryID at the destination has the blob.
	BlobExists(ctx context.Context, registryID, repository string, d digest.Digest) (bool, error)
	// PutBlob uploads a blob of size bytes read from r.
	PutBlob(ctx context.Context, registryID, repository string, d digest.Digest, size int64, r io.Reader) error
	// PutManifest puts a manifest under reference (a digest or a tag).
	PutManifest(ctx context.Context, registryID, repository, reference, mediaType string, content []byte) error
}

func (c PeerConfig) retryFor() time.Duration {
	if c.RetryFor <= 0 {
		return 24 * time.Hour
	}
	return c.RetryFor
}

func (c PeerConfig) observe(region, result string, bytes int64) {
	if c.Observe != nil {
		c.Observe(region, result, bytes)
	}
}

// hasPeer tells whether images can be replicated to region: this one, or one with a peer deployment.
func (s *Service) hasPeer(region string) bool {
	_, ok := s.cfg.Peers.Endpoints[region]
	return region == s.replication.region || ok
}

type replicationKey struct{}

// WithReplication marks a call as a replication pushed by another region's deployment (source, its
// region): a push that finds no repository creates it from the template that applies for REPLICATION,
// else with ECR's defaults, as the destination of a replication does.
func WithReplication(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, replicationKey{}, source)
}

// ReplicationSource is the region of the deployment whose replication the call is, "" for other calls.
func ReplicationSource(ctx context.Context) string {
	s, _ := ctx.Value(replicationKey{}).(string)
	return s
}

// replica tells whether a call is another region's replication: marked (WithReplication), by a caller
// allowed ecr:ReplicateImage on the repository. Any client may mark a call; for others the mark changes
// nothing. A replica's push creates a missing repository for REPLICATION and is not replicated further.
func replica(ctx context.Context, repository string) bool {
	return ReplicationSource(ctx) != "" && authorize(ctx, "ecr:ReplicateImage", repository) == nil
}

// peerClient reads the source account's replication secret for the region and dials its deployment.
func (s *Service) peerClient(ctx context.Context, account, region string) (PeerClient, string, error) {
	endpoint, ok := s.cfg.Peers.Endpoints[region]
	if !ok {
		return nil, CrossRegionNotConfigured, fmt.Errorf("no deployment serves the region %s", region)
	}
	name := ReplicationSecretPrefix + region
	if s.cfg.Secrets == nil {
		return nil, ReplicationCredentialsNotFound, fmt.Errorf("no secret %s", name)
	}
	v, err := s.cfg.Secrets.Value(ctx, account, name)
	var coded interface{ ErrorCode() string }
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, "", err
	case errors.As(err, &coded):
		return nil, ReplicationCredentialsNotFound, fmt.Errorf("the secret %s of account %s: %w", name, account, err)
	default:
		return nil, "", err
	}
	var creds PeerCredentials
	if json.Unmarshal(v, &creds) != nil || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, ReplicationCredentialsNotFound, fmt.Errorf("the secret %s must hold a JSON object with an accessKeyId and a secretAccessKey", name)
	}
	if s.cfg.Peers.Dial == nil {
		return nil, "", fmt.Errorf("%w: no deployment can be reached from this one", ErrPeerUnavailable)
	}
	return s.cfg.Peers.Dial(endpoint, region, creds), "", nil
}

// replicateRemote pushes an image of src to the destination of p, another region's deployment, through
// its registry API: the blobs it lacks, the manifests (an index's children first), then the tag. It
// returns the failure code of a replication that cannot succeed ("" for an error another attempt may
// overcome) and the bytes of blobs it pushed.
func (s *Service) replicateRemote(ctx context.Context, src *store.Repository, p replicateJob) (string, int64, error) {
	c, code, err := s.peerClient(ctx, src.RegistryID, p.Region)
	if err != nil {
		return code, 0, err
	}
	tag := p.Tag
	if tag != "" {
		err := s.meta.View(ctx, func(tx store.Tx) error {
			if cur, err := tx.GetTag(src.ID, tag); err != nil || cur.Digest != p.Digest {
				tag = "" // the tag moved on, or is gone, since the push: the push that moved it replicates it
			}
			return nil
		})
		if err != nil {
			return "", 0, err
		}
	}
	push := &peerPush{s: s, c: c, src: src, registryID: p.RegistryID, done: map[digest.Digest]bool{}}
	err = push.image(ctx, p.Digest, tag)
	switch {
	case err == nil:
		return "", push.bytes, nil
	case errors.Is(err, ErrPeerUnauthorized):
		return ReplicationCredentialsInvalid, push.bytes, err
	case errors.Is(err, ErrPeerCreateDenied):
		return CreateRepositoryDenied, push.bytes, err
	case errors.Is(err, ErrPeerDenied):
		return ReplicateImageDenied, push.bytes, err
	}
	return "", push.bytes, err
}

// peerPush is one replication's push to a peer.
type peerPush struct {
	s          *Service
	c          PeerClient
	src        *store.Repository
	registryID string
	done       map[digest.Digest]bool // blobs known to be at the destination
	bytes      int64
}

// image pushes manifest d and what it references, under reference tag ("": its digest).
func (p *peerPush) image(ctx context.Context, d digest.Digest, tag string) error {
	var img *store.Image
	err := p.s.meta.View(ctx, func(tx store.Tx) (err error) {
		img, err = tx.GetImage(p.src.ID, d)
		return err
	})
	if err != nil {
		return err
	}
	m, err := manifest.Parse(img.MediaType, img.Content)
	if err != nil {
		return err
	}
	for _, b := range m.Blobs() {
		if err := p.blob(ctx, b.Digest, b.Size); err != nil {
			return err
		}
	}
	for _, child := range m.Manifests {
		if err := p.image(ctx, child.Digest, ""); err != nil {
			return err
		}
	}
	ref := d.String()
	if tag != "" {
		ref = tag
	}
	return p.c.PutManifest(ctx, p.registryID, p.src.Name, ref, img.MediaType, img.Content)
}

// blob uploads a blob unless the destination has it.
func (p *peerPush) blob(ctx context.Context, d digest.Digest, size int64) error {
	if p.done[d] {
		return nil
	}
	ok, err := p.c.BlobExists(ctx, p.registryID, p.src.Name, d)
	if err != nil {
		return err
	}
	if !ok {
		rc, err := p.s.blobs.Open(ctx, d)
		if err != nil {
			return err
		}
		err = p.c.PutBlob(ctx, p.registryID, p.src.Name, d, size, rc)
		rc.Close()
		if err != nil {
			return err
		}
		p.bytes += size
	}
	p.done[d] = true
	return nil
}
