package server

import (
	"context"
	"errors"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// replicationFailed is a replication that ended FAILED: the audit record's error, not the job's (the
// status records it; no other attempt would change it).
type replicationFailed struct{ code string }

func (e replicationFailed) Error() string {
	return "the image was not replicated to the destination: " + e.code
}

// replicateImage runs a replication job through the pipeline as Wharf's service principal in the source
// account. Its audit record (ReplicateImage) names the image in its requestParameters (registryId,
// repositoryName, imageId, and the destination's region and registryId), the source and destination
// repositories as its resources (both accounts' trails show it), and the replication's outcome: the
// destination's status as responseElements, a FAILED one's failure code as the record's errorCode.
func (a *App) replicateImage(ctx context.Context, j store.Job) error {
	job, err := a.Service.ReplicationJobOf(ctx, j)
	if err != nil { // the repository is gone, or the job unreadable: RunReplication says so
		return a.background(ctx, "replication", "wharf:ReplicateImage", func(ctx context.Context) error { return a.Service.RunReplication(ctx, j) })
	}
	image := map[string]string{"imageDigest": job.Digest.String()}
	if job.Tag != "" {
		image["imageTag"] = job.Tag
	}
	input := map[string]any{"registryId": job.RegistryID, "repositoryName": job.Repository, "imageId": image,
		"destination": map[string]string{"region": job.Destination.Region, "registryId": job.Destination.RegistryID}}
	dest := pipeline.Repository("ecr:ReplicateImage", job.Destination.RegistryID, job.Repository)
	if job.Destination.Region != a.opts.Region {
		dest = pipeline.Target{Action: "ecr:ReplicateImage", Resource: "arn:aws:ecr:" + job.Destination.Region + ":" +
			job.Destination.RegistryID + ":repository/" + job.Repository}
	}
	call := &pipeline.Call{Protocol: "replication", RegistryID: job.RegistryID, Credential: pipeline.As(identity.ServiceIn(job.RegistryID))}
	codeOf := actionErrorCode(call)
	call.ErrorCode = func(err error) (string, string) {
		var failed replicationFailed
		if errors.As(err, &failed) {
			return failed.code, err.Error()
		}
		return codeOf(err)
	}
	err = a.pipeline.Do(ctx, call, pipeline.Op{Action: "wharf:ReplicateImage",
		Decode: func() (any, error) { return input, nil },
		Resolve: func(*pipeline.Call) ([]pipeline.Target, error) {
			return []pipeline.Target{pipeline.Repository("ecr:ReplicateImage", job.RegistryID, job.Repository), dest}, nil
		},
		Run: func(ctx context.Context, c *pipeline.Call) error {
			if err := a.Service.RunReplication(ctx, j); err != nil {
				return err
			}
			st, err := a.Service.DescribeImageReplicationStatus(ctx, job.RegistryID, job.Repository, registry.ImageRef{Digest: job.Digest})
			if err != nil {
				return nil // the image gone meanwhile: nothing was replicated, nothing to tell
			}
			for _, s := range st.Statuses {
				if s.Region != job.Destination.Region || s.RegistryID != job.Destination.RegistryID {
					continue
				}
				status := map[string]string{"region": s.Region, "registryId": s.RegistryID, "status": s.Status}
				if s.FailureCode != "" {
					status["failureCode"] = s.FailureCode
				}
				c.Output = map[string]any{"replicationStatuses": []any{status}}
				if s.Status == registry.ReplicationFailed {
					return replicationFailed{s.FailureCode}
				}
			}
			return nil
		}})
	var failed replicationFailed
	if errors.As(err, &failed) {
		return nil
	}
	return err
}
