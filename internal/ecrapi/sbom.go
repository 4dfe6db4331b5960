package ecrapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/sbom"
)

// Wharf's extensions of the ECR API: an image's SBOM (the inventory its latest completed scan stored), and
// the SBOM attached to the image as an OCI referrer. ECR has no such operations; they are called as any
// other, with the same target prefix, signature and error shapes.
//
// An SBOM is a scan's result: reading it is authorized as ecr:DescribeImageScanFindings on the repository.
// Attaching it pushes an image into the repository, so it needs ecr:PutImage there too: the operation names
// the repository twice, once per action, and the caller must be allowed both.

type imageSBOMInput struct {
	repositoryRef
	ImageID imageID `json:"imageId"`
	Format  string  `json:"format"`
}

// sbomTargets names the repository once for each action an SBOM operation needs there.
func sbomTargets(actions ...string) func(h *Handler, c *pipeline.Call, in *imageSBOMInput) ([]pipeline.Target, error) {
	return func(h *Handler, c *pipeline.Call, in *imageSBOMInput) ([]pipeline.Target, error) {
		var out []pipeline.Target
		for _, action := range actions {
			ts, err := in.targets(c, action)
			if err != nil {
				return nil, err
			}
			out = append(out, ts...)
		}
		return out, nil
	}
}

// sbomRequest checks an SBOM operation's image id and format.
func sbomRequest(in *imageSBOMInput) (registry.ImageRef, sbom.Format, error) {
	r, err := imageRef(in.ImageID)
	if err != nil {
		return r, "", err
	}
	f, err := sbom.ParseFormat(in.Format)
	if err != nil || in.Format != "" && in.Format != string(f) {
		return r, "", invalidParameter("Invalid parameter at 'format' failed to satisfy constraint: 'Member must satisfy enum value set: [SPDX, CYCLONEDX]'")
	}
	return r, f, nil
}

// sbomError answers an image that is not there, or has no completed scan, with ECR's codes.
func sbomError(err error, id imageID, name, registryID string) error {
	if registry.KindOf(err) == registry.KindScanNotFound {
		return &awsError{Code: "ScanNotFoundException", Status: http.StatusBadRequest, Message: fmt.Sprintf(
			"%s with '%s' in the repository with name '%s' in the registry with id '%s'", err.Error(), id, name, registryID)}
	}
	return imageNotFound(err, id, name, registryID)
}

func init() {
	registerWith("GetImageSbom", sbomTargets("ecr:DescribeImageScanFindings"), func(h *Handler, ctx context.Context, c *pipeline.Call, in *imageSBOMInput) (any, error) {
		name := c.Target().Repository
		r, f, err := sbomRequest(in)
		if err != nil {
			return nil, err
		}
		doc, err := h.Service.ImageSBOM(ctx, c.RegistryID, name, r, f)
		if err != nil {
			return nil, sbomError(err, in.ImageID, name, c.RegistryID)
		}
		// The audit trail records no read's answer, so not the document either.
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name,
			"imageId": imageID{ImageDigest: doc.Image.Digest.String(), ImageTag: in.ImageID.ImageTag},
			"format":  string(f), "mediaType": f.MediaType(), "sbom": string(doc.Document)}, nil
	})

	registerWith("AttachImageSbom", sbomTargets("ecr:DescribeImageScanFindings", "ecr:PutImage"), func(h *Handler, ctx context.Context, c *pipeline.Call, in *imageSBOMInput) (any, error) {
		name := c.Target().Repository
		r, f, err := sbomRequest(in)
		if err != nil {
			return nil, err
		}
		att, err := h.Service.AttachImageSBOM(ctx, c.RegistryID, name, r, f)
		if err != nil {
			return nil, sbomError(err, in.ImageID, name, c.RegistryID)
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name,
			"imageId":      imageID{ImageDigest: att.Referrer.String()},
			"subject":      imageID{ImageDigest: att.Image.Digest.String(), ImageTag: in.ImageID.ImageTag},
			"artifactType": f.MediaType(), "format": string(f)}, nil
	})
}
