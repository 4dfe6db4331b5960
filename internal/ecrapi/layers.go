package ecrapi

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// downloadURLTTL is how long a GetDownloadUrlForLayer URL works.
const downloadURLTTL = time.Hour

type layerInput struct {
	repositoryRef
	UploadID      string   `json:"uploadId"`
	PartFirstByte *int64   `json:"partFirstByte"`
	PartLastByte  *int64   `json:"partLastByte"`
	LayerPartBlob []byte   `json:"layerPartBlob"` // base64 in JSON
	LayerDigests  []string `json:"layerDigests"`
	LayerDigest   string   `json:"layerDigest"`
}

// AuditSummary records a layer part by its size, not its bytes.
func (in *layerInput) AuditSummary() any {
	return struct {
		*layerInput
		LayerPartBlob int `json:"layerPartBlob"` // its size in bytes
	}{in, len(in.LayerPartBlob)}
}

func init() {
	register("InitiateLayerUpload", func(h *Handler, ctx context.Context, c *pipeline.Call, in *layerInput) (any, error) {
		st, err := h.Service.StartUpload(ctx, c.RegistryID, c.Target().Repository)
		if err != nil {
			return nil, err
		}
		return map[string]any{"uploadId": st.ID, "partSize": registry.MaxLayerPart}, nil
	})

	register("UploadLayerPart", func(h *Handler, ctx context.Context, c *pipeline.Call, in *layerInput) (any, error) {
		if err := required("uploadId", in.UploadID); err != nil {
			return nil, err
		}
		name := c.Target().Repository
		if in.PartFirstByte == nil || in.PartLastByte == nil || in.LayerPartBlob == nil {
			return nil, invalidParameter("Invalid parameter: partFirstByte, partLastByte and layerPartBlob are required")
		}
		st, err := h.Service.UploadLayerPart(ctx, c.RegistryID, name, in.UploadID, *in.PartFirstByte, *in.PartLastByte, in.LayerPartBlob)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name, "uploadId": st.ID, "lastByteReceived": st.Offset - 1}, nil
	})

	register("CompleteLayerUpload", func(h *Handler, ctx context.Context, c *pipeline.Call, in *layerInput) (any, error) {
		if err := required("uploadId", in.UploadID); err != nil {
			return nil, err
		}
		name := c.Target().Repository
		if len(in.LayerDigests) != 1 {
			return nil, invalidParameter("Invalid parameter at 'layerDigests' failed to satisfy constraint: 'Member must have length equal to 1'")
		}
		d, err := digest.Parse(in.LayerDigests[0])
		if err != nil {
			return nil, invalidParameter("Invalid parameter at 'layerDigests' failed to satisfy constraint: 'invalid digest'")
		}
		info, err := h.Service.CompleteLayerUpload(ctx, c.RegistryID, name, in.UploadID, d)
		if errors.Is(err, registry.ErrDigestInvalid) {
			return nil, &awsError{Code: "InvalidLayerException", Message: err.Error(), Status: 400}
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name, "uploadId": in.UploadID, "layerDigest": info.Digest.String()}, nil
	})

	register("BatchCheckLayerAvailability", func(h *Handler, ctx context.Context, c *pipeline.Call, in *layerInput) (any, error) {
		if err := listLength("layerDigests", len(in.LayerDigests), 1, 100); err != nil {
			return nil, err
		}
		name := c.Target().Repository
		if _, err := h.Service.Repository(ctx, c.RegistryID, name); err != nil {
			return nil, err
		}
		type layer struct {
			LayerDigest       string `json:"layerDigest"`
			LayerAvailability string `json:"layerAvailability"`
			LayerSize         int64  `json:"layerSize"`
			MediaType         string `json:"mediaType"`
		}
		type failure struct {
			LayerDigest   string `json:"layerDigest"`
			FailureCode   string `json:"failureCode"`
			FailureReason string `json:"failureReason"`
		}
		layers, failures := []layer{}, []failure{}
		// Blobs another node is fetching into a repository under a pull through cache rule are waited
		// for, a minute for the whole batch: past it, they are missing.
		ctx = registry.WithBlobWaitsFor(ctx, time.Minute)
		for _, s := range in.LayerDigests {
			d, err := digest.Parse(s)
			if err != nil {
				failures = append(failures, failure{s, "InvalidLayerDigest", "Invalid layer digest"})
				continue
			}
			info, err := h.Service.StatBlob(ctx, c.RegistryID, name, d)
			if errors.Is(err, registry.ErrBlobUnknown) {
				failures = append(failures, failure{s, "MissingLayerDigest", "Could not find layer"})
				continue
			}
			if err != nil {
				return nil, err
			}
			// The media type an image of the repository gives the blob, as ECR reports it (a configuration's
			// is not a layer's); a blob no image uses yet is taken for a layer.
			mt, err := h.Service.BlobMediaType(ctx, c.RegistryID, name, d)
			if err != nil {
				return nil, err
			}
			if mt == "" {
				mt = "application/vnd.docker.image.rootfs.diff.tar.gzip"
			}
			layers = append(layers, layer{s, "AVAILABLE", info.Size, mt})
		}
		return map[string]any{"layers": layers, "failures": failures}, nil
	})

	register("GetDownloadUrlForLayer", func(h *Handler, ctx context.Context, c *pipeline.Call, in *layerInput) (any, error) {
		name := c.Target().Repository
		d, err := digest.Parse(in.LayerDigest)
		if err != nil {
			return nil, invalidParameter("Invalid parameter at 'layerDigest' failed to satisfy constraint: 'invalid digest'")
		}
		if _, err := h.Service.StatBlob(ctx, c.RegistryID, name, d); errors.Is(err, registry.ErrBlobUnknown) {
			return nil, &awsError{Code: "LayersNotFoundException", Message: "The specified layers could not be found, or the specified layer is not valid for this repository.", Status: 400}
		} else if err != nil {
			return nil, err
		}
		// Like ECR, a presigned URL of the object store when there is one.
		if u, info, err := h.Service.BlobURL(ctx, c.RegistryID, name, d, downloadURLTTL); err != nil {
			return nil, err
		} else if u != "" {
			h.Service.CountBytesPulled(c.RegistryID, name, info.Size) // the blob store serves them
			return map[string]any{"downloadUrl": u, "layerDigest": d.String()}, nil
		}
		path := "/v2/" + h.Addresses.Path(c.Origin, c.RegistryID, name) + "/blobs/" + d.String()
		tok := h.Identity.IssueScopedToken(c.Caller, h.Clock.Now().Add(downloadURLTTL), identity.PresignScope("GET", c.RegistryID, path))
		u := h.Addresses.Endpoint(c.Origin, c.RegistryID) + path + "?" + url.Values{identity.PresignParam: {tok}}.Encode()
		return map[string]any{"downloadUrl": u, "layerDigest": d.String()}, nil
	})
}
