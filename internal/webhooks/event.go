package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// Detail types: ECR's, in EventBridge's format for ECR, and Wharf's own for changes ECR has no event for.
const (
	ImageAction           = "ECR Image Action"
	LifecyclePolicyAction = "ECR Lifecycle Policy Action"
	ImageScan             = "ECR Image Scan"
	RepositoryAction      = "Wharf Repository Action"
	PolicyAction          = "Wharf Policy Action"
	ImageStorageAction    = "Wharf Image Storage Action"
)

var (
	ecrDetailTypes = []string{ImageAction, LifecyclePolicyAction, ImageScan}
	detailTypes    = []string{ImageAction, LifecyclePolicyAction, ImageScan, RepositoryAction, PolicyAction, ImageStorageAction}
)

// Envelope is an event as EventBridge delivers it.
type Envelope struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     Detail   `json:"detail"`
}

// Detail is the detail of an Envelope. ECR Image Action has result, repository-name, image-digest,
// action-type and image-tag; ECR Lifecycle Policy Action result, repository-name, action-type EXPIRE and
// image-count; ECR Image Scan scan-status, repository-name, finding-severity-counts, image-digest and
// image-tags (both present when empty); Wharf Policy Action policy-type.
type Detail struct {
	Result                string          `json:"result,omitempty"`
	ScanStatus            string          `json:"scan-status,omitempty"`
	RepositoryName        string          `json:"repository-name,omitempty"`
	FindingSeverityCounts *map[string]int `json:"finding-severity-counts,omitempty"`
	ImageDigest           string          `json:"image-digest,omitempty"`
	ImageTags             *[]string       `json:"image-tags,omitempty"`
	ActionType            string          `json:"action-type,omitempty"`
	ImageTag              string          `json:"image-tag,omitempty"`
	ImageCount            int             `json:"image-count,omitempty"`
	PolicyType            string          `json:"policy-type,omitempty"`
	ImageStatus           string          `json:"image-status,omitempty"`
}

// Render turns a core event into the events a receiver gets (none for a tag moved: the push of the image
// it now names reports it; none for a lifecycle pass that expired nothing). Their ids are left empty.
func Render(e registry.Event, region string) []Envelope {
	base := Envelope{Version: "0", Source: "aws.ecr", Account: e.RegistryID, Time: e.At.UTC().Format(time.RFC3339),
		Region: region, Resources: []string{}}
	if e.Repository != "" {
		base.Resources = []string{fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", region, e.RegistryID, e.Repository)}
	}
	image := func(action, tag string) Envelope {
		env := base
		env.DetailType = ImageAction
		env.Detail = Detail{Result: "SUCCESS", RepositoryName: e.Repository, ImageDigest: e.Digest.String(), ActionType: action, ImageTag: tag}
		return env
	}
	wharf := func(detailType string, d Detail) []Envelope {
		env := base
		env.DetailType, env.Source, env.Detail = detailType, "wharf", d
		env.Detail.Result, env.Detail.RepositoryName = "SUCCESS", e.Repository
		return []Envelope{env}
	}
	switch e.Type {
	case registry.EventImagePushed:
		return []Envelope{image("PUSH", e.Tag)}
	case registry.EventTagDeleted:
		return []Envelope{image("DELETE", e.Tag)}
	case registry.EventImageDeleted: // one event for each tag it had, as if each was deleted in turn
		if len(e.Tags) == 0 {
			return []Envelope{image("DELETE", "")}
		}
		out := make([]Envelope, len(e.Tags))
		for i, tag := range e.Tags {
			out[i] = image("DELETE", tag)
		}
		return out
	case registry.EventLifecyclePass:
		var out []Envelope
		for _, c := range []struct {
			action string
			n      int
		}{{"EXPIRE", e.Expired}, {"TRANSITION", e.Transitioned}} {
			if c.n > 0 {
				env := base
				env.DetailType = LifecyclePolicyAction
				env.Detail = Detail{Result: "SUCCESS", RepositoryName: e.Repository, ActionType: c.action, ImageCount: c.n}
				out = append(out, env)
			}
		}
		return out
	case registry.EventImageScanned:
		counts, tags := e.SeverityCounts, e.Tags
		if counts == nil {
			counts = map[string]int{}
		}
		if tags == nil {
			tags = []string{}
		}
		env := base
		env.DetailType = ImageScan
		env.Detail = Detail{ScanStatus: e.ScanStatus, RepositoryName: e.Repository, FindingSeverityCounts: &counts,
			ImageDigest: e.Digest.String(), ImageTags: &tags}
		return []Envelope{env}
	case registry.EventRepositoryCreated:
		return wharf(RepositoryAction, Detail{ActionType: "CREATE"})
	case registry.EventRepositoryDeleted:
		return wharf(RepositoryAction, Detail{ActionType: "DELETE"})
	case registry.EventPolicyChanged:
		action := "SET"
		if e.Change == registry.PolicyDeleted {
			action = "DELETE"
		}
		policy := map[string]string{registry.PolicyRepository: "REPOSITORY", registry.PolicyLifecycle: "LIFECYCLE",
			registry.PolicyRegistry: "REGISTRY", registry.PolicySigning: "SIGNING"}[e.Policy]
		return wharf(PolicyAction, Detail{ActionType: action, PolicyType: policy})
	case registry.EventImageStorageChanged:
		action := "RESTORE"
		if e.Status == string(registry.ImageArchived) {
			action = "ARCHIVE"
		}
		return wharf(ImageStorageAction, Detail{ActionType: action, ImageDigest: e.Digest.String(), ImageStatus: e.Status})
	}
	return nil
}

// Sign returns the X-Wharf-Signature header of a body: "sha256=" and the hex HMAC-SHA256 of the body
// keyed with the target's secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// newID returns a random UUID (version 4), as EventBridge's event ids are.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
