package registry

import (
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// Event types the core records, in the transaction of the change they describe (the store's outbox).
const (
	EventImagePushed = "ImagePushed"
	// EventImageDeleted: an image is gone, with the tags it had (a tag deleted with it included).
	EventImageDeleted = "ImageDeleted"
	// EventTagDeleted: a tag was removed from an image that stays.
	EventTagDeleted        = "TagDeleted"
	EventTagMoved          = "TagMoved"
	EventRepositoryCreated = "RepositoryCreated"
	EventRepositoryDeleted = "RepositoryDeleted"
	// EventPolicyChanged: a repository, lifecycle or registry policy was set or deleted.
	EventPolicyChanged = "PolicyChanged"
	// EventLifecyclePass: a repository's lifecycle policy was applied, with how many images it evaluated
	// and expired (each expired image also has its EventImageDeleted).
	EventLifecyclePass = "LifecyclePass"
	// EventImageScanned: a scan of an image ended (ScanStatus, SeverityCounts, the image's Tags).
	EventImageScanned = "ImageScanned"
	// EventImageStorageChanged: an image was archived, or its restore started or (a push) completed at once;
	// Status is its status after the change.
	EventImageStorageChanged = "ImageStorageChanged"
)

// Causes of a deletion. Garbage collection deletes no images (only blobs no image references, and
// idle uploads), so no image deletion has the cause "gc".
const (
	CauseAPI       = "api"
	CauseLifecycle = "lifecycle"
	CausePush      = "push" // an archived image pushed again is restored at once
)

// Kinds of policy, and what happened to one.
const (
	PolicyRepository = "repository"
	PolicyLifecycle  = "lifecycle"
	PolicyRegistry   = "registry"
	PolicySet        = "set"
	PolicyDeleted    = "deleted"
)

// Event is what happened in the registry, free of any protocol: consumers (notifications, audit) read it
// from the outbox and render it as they need.
type Event struct {
	Type       string        `json:"type"`
	At         time.Time     `json:"at"`
	RegistryID string        `json:"registryId"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest,omitempty"`
	MediaType  string        `json:"mediaType,omitempty"`
	Tag        string        `json:"tag,omitempty"`
	Tags       []string      `json:"tags,omitempty"`      // an image's tags when it was deleted
	Previous   digest.Digest `json:"previous,omitempty"`  // the image a moved tag named before
	Cause      string        `json:"cause,omitempty"`     // what deleted: CauseAPI or CauseLifecycle
	Policy     string        `json:"policy,omitempty"`    // PolicyRepository, PolicyLifecycle or PolicyRegistry
	Change     string        `json:"change,omitempty"`    // PolicySet or PolicyDeleted
	Evaluated  int           `json:"evaluated,omitempty"` // images a lifecycle pass evaluated
	Expired    int           `json:"expired,omitempty"`   // images it expired
	ScanStatus string        `json:"scanStatus,omitempty"`
	// SeverityCounts counts a scan's findings by severity.
	SeverityCounts map[string]int `json:"severityCounts,omitempty"`
	// Status is an image's status after an EventImageStorageChanged.
	Status string `json:"status,omitempty"`
	// Transitioned counts the images a lifecycle pass archived (each also has its EventImageStorageChanged).
	Transitioned int `json:"transitioned,omitempty"`
}

// emit records e in tx.
func (s *Service) emit(tx store.Tx, e Event) error {
	if e.At.IsZero() {
		e.At = s.clock.Now()
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.AddEvent(&store.Event{Type: e.Type, At: e.At, RegistryID: e.RegistryID, Repository: e.Repository, Data: data})
}

// DecodeEvent returns the core's event an outbox row holds.
func DecodeEvent(se store.Event) (Event, error) {
	var e Event
	err := json.Unmarshal(se.Data, &e)
	return e, err
}
