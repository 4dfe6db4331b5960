package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/manifest"
)

// maxConfigSize bounds the image configuration a schema 1 conversion reads.
const maxConfigSize = 8 << 20

// GetManifestAs is GetManifest for a client that understands the manifest formats in accept (media types;
// nil for any format). Pulled by tag, an image whose stored format the client does not understand is
// converted to one it does, as ECR's conversion table says (manifest.Targets); the result names the
// converted manifest by its own digest. Pulled by digest, the stored manifest is returned as it is: a
// conversion has another digest. When no format fits, the stored manifest is returned with Unacceptable
// set; a schema 1 image asked for as schema 2 is returned as stored (the client falls back to schema 1).
// An index, for a client that understands no index, stands for its linux/amd64 image (then converted if
// need be), as Distribution serves old clients; ECR's table does not say.
func (s *Service) GetManifestAs(ctx context.Context, registryID, name, ref string, accept []string, pulledBy []string) (*ManifestInfo, error) {
	gen := s.cache.gen.Load()
	info, err := s.GetManifest(ctx, registryID, name, ref, pulledBy)
	fetching := false
	if k := KindOf(err); k == KindRepositoryNotFound || k == KindManifestUnknown {
		// Under a pull through cache rule, what Wharf does not hold is fetched from the upstream.
		applied, perr := s.pullThrough(ctx, registryID, name, ref, false)
		if perr != nil {
			return nil, perr
		}
		fetching = applied
	} else if err == nil && !IsDigest(ref) {
		// A tag of a pull through cache, when its check is due, is checked upstream (a pull by digest never is).
		fetching = s.refreshTag(ctx, registryID, name, ref, info.Digest)
	}
	if fetching {
		// Served from memory while its blobs arrive, when the client takes it as it is.
		if pending, p := s.inflight.manifest(registryID, name, ref); pending != nil {
			if accept == nil || IsDigest(ref) || manifest.Accepts(accept, pending.MediaType) {
				return pending, nil
			}
			<-p.done
		}
		info, err = s.GetManifest(ctx, registryID, name, ref, pulledBy)
	}
	if err != nil || accept == nil || IsDigest(ref) || manifest.Accepts(accept, info.MediaType) {
		return info, err
	}
	if info.MediaType == manifest.OCIIndex || info.MediaType == manifest.DockerList {
		if manifest.Accepts(accept, manifest.OCIIndex) || manifest.Accepts(accept, manifest.DockerList) {
			return info, nil
		}
		child, err := s.platformImage(ctx, registryID, name, info)
		if err != nil {
			return nil, err
		}
		if child == nil {
			return unacceptable(info), nil
		}
		if info = child; manifest.Accepts(accept, info.MediaType) {
			return info, nil
		}
	}
	if manifest.IsSchema1(info.MediaType) && manifest.Accepts(accept, manifest.DockerManifest) {
		return info, nil
	}
	for _, to := range manifest.Targets(info.MediaType) {
		if !manifest.Accepts(accept, to) {
			continue
		}
		key := cacheKey{registryID, name, ref + "\x00as\x00" + to + "\x00" + info.Digest.String()}
		now := s.clock.Now()
		if e, ok := s.cache.get(key, now); ok && e.info != nil {
			return e.info, nil
		}
		conv, err := s.convert(ctx, registryID, name, ref, info, to)
		if errors.Is(err, manifest.ErrNoConversion) {
			s.log.Debug("manifest not converted", "repository", name, "ref", ref, "to", to, "reason", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		s.cache.put(key, cacheEntry{info: conv, size: len(conv.Content)}, gen, now)
		return conv, nil
	}
	return unacceptable(info), nil
}

func unacceptable(info *ManifestInfo) *ManifestInfo {
	out := *info
	out.Unacceptable = true
	return &out
}

// platformImage returns the image an index stands for when pulled by tag by a client that understands
// no index, as Distribution serves Docker 1.9: its linux/amd64 image, as stored; nil if it lists none.
func (s *Service) platformImage(ctx context.Context, registryID, name string, index *ManifestInfo) (*ManifestInfo, error) {
	m, err := manifest.Parse(index.MediaType, index.Content)
	if err != nil {
		return nil, internal(fmt.Errorf("stored manifest %s: %w", index.Digest, err))
	}
	child, ok := manifest.DefaultPlatform(m)
	if !ok {
		return nil, nil
	}
	return s.GetManifest(ctx, registryID, name, child.Digest.String(), nil)
}

// convert converts a stored image manifest to the format to.
func (s *Service) convert(ctx context.Context, registryID, name, tag string, info *ManifestInfo, to string) (*ManifestInfo, error) {
	m, err := manifest.Parse(info.MediaType, info.Content)
	if err != nil {
		return nil, internal(fmt.Errorf("stored manifest %s: %w", info.Digest, err))
	}
	var body []byte
	if to != manifest.DockerSchema1JWS {
		if body, err = manifest.ConvertSchema2(m, to); err != nil {
			return nil, err
		}
		return &ManifestInfo{Digest: digest.FromBytes(body), MediaType: to, Content: body, Image: info.Digest}, nil
	}
	if m.Config == nil {
		return nil, manifest.ErrNoConversion
	}
	config, err := s.readConfig(ctx, registryID, name, m.Config.Digest)
	if err != nil {
		return nil, err
	}
	payload, err := manifest.ToSchema1(m, config, name, tag)
	if err != nil {
		return nil, err
	}
	key, err := s.schema1Key()
	if err != nil {
		return nil, internal(err)
	}
	if body, err = manifest.Sign(payload, key, s.clock.Now()); err != nil {
		return nil, internal(err)
	}
	return &ManifestInfo{Digest: digest.FromBytes(payload), MediaType: to, Content: body, Image: info.Digest}, nil
}

// readConfig reads an image's configuration blob, at most maxConfigSize bytes.
func (s *Service) readConfig(ctx context.Context, registryID, name string, d digest.Digest) ([]byte, error) {
	info, rc, err := s.OpenBlob(ctx, registryID, name, d)
	if KindOf(err) == KindBlobUnknown {
		return nil, fmt.Errorf("%w: config %s is missing", manifest.ErrNoConversion, d)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if info.Size > maxConfigSize {
		return nil, fmt.Errorf("%w: config %s of %d bytes is over %d bytes", manifest.ErrNoConversion, d, info.Size, maxConfigSize)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxConfigSize+1))
	if err != nil {
		return nil, internal(err)
	}
	if d.Algorithm().FromBytes(b) != d {
		return nil, internal(fmt.Errorf("config blob %s does not match its digest", d))
	}
	return b, nil
}
