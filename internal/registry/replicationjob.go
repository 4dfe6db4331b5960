package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// ReplicationJob is what a replication job copies: an image of a repository (with the tag it was pushed
// with, if any) to one destination, whose repository has the same name.
type ReplicationJob struct {
	RegistryID, Repository string
	Digest                 digest.Digest
	Tag                    string
	Destination            ReplicationDestination
}

// ReplicationJobOf tells what a replication job copies, for its audit record. It fails when the job's
// repository is gone (RunReplication then has nothing to copy).
func (s *Service) ReplicationJobOf(ctx context.Context, j store.Job) (ReplicationJob, error) {
	var p replicateJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return ReplicationJob{}, fmt.Errorf("replication job %d: %w", j.ID, err)
	}
	out := ReplicationJob{Digest: p.Digest, Tag: p.Tag, Destination: ReplicationDestination{p.Region, p.RegistryID}}
	err := s.meta.View(ctx, func(tx store.Tx) error {
		r, err := tx.GetRepositoryByID(p.RepositoryID)
		if err == nil {
			out.RegistryID, out.Repository = r.RegistryID, r.Name
		}
		return err
	})
	return out, err
}
