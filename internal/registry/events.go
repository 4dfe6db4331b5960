package registry

import (
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// Event types the core records, in the transaction of the change they describe (the store's outbox).
const (
	EventImagePushed       = "ImagePushed"
	EventImageDeleted      = "ImageDeleted"
	EventTagMoved          = "TagMoved"
	EventRepositoryCreated = "RepositoryCreated"
	EventRepositoryDeleted = "RepositoryDeleted"
)

// Causes of a deletion.
const (
	CauseAPI       = "api"
	CauseLifecycle = "lifecycle"
	CauseGC        = "gc"
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
	Tags       []string      `json:"tags,omitempty"`     // an image's tags when it was deleted
	Previous   digest.Digest `json:"previous,omitempty"` // the image a moved tag named before
	Cause      string        `json:"cause,omitempty"`    // what deleted: CauseAPI, CauseLifecycle or CauseGC
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
