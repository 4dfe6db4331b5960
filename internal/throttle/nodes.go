package throttle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/store"
)

// Heartbeats: each node writes the time to its row of the metadata store every HeartbeatInterval (by
// default), and counts the nodes whose row is younger than LiveWindow (10/3 of the interval); the limiter
// shares each limit among them. A node that stops is no longer counted after LiveWindow (at once when it
// stops cleanly), and the others take over its share; rows of nodes gone for an hour are deleted.
const (
	HeartbeatInterval = 3 * time.Second
	LiveWindow        = 10 * time.Second
	forgetAfter       = time.Hour
)

// Nodes keeps a node's heartbeat and tells the limiter how many nodes are live.
type Nodes struct {
	Store   store.Store
	Limiter *Limiter
	Clock   clock.Clock
	Log     *slog.Logger
	ID      string // this node's; a random one when empty
	// Interval is the time between beats, HeartbeatInterval when 0. Every node of an installation must
	// use the same: a node is live while its last beat is younger than 10/3 of it.
	Interval time.Duration
}

func (n *Nodes) interval() time.Duration {
	if n.Interval > 0 {
		return n.Interval
	}
	return HeartbeatInterval
}

// Beat writes this node's heartbeat and sets the limiter's node count from the live ones.
func (n *Nodes) Beat(ctx context.Context) error {
	if n.ID == "" {
		n.ID = newNodeID()
	}
	now := n.Clock.Now()
	var live int
	err := n.Store.Update(ctx, func(tx store.Tx) (err error) {
		if err = tx.Heartbeat(n.ID, now); err != nil {
			return err
		}
		if err = tx.PruneNodes(now.Add(-forgetAfter)); err != nil {
			return err
		}
		live, err = tx.LiveNodes(now.Add(-n.interval() * 10 / 3)) // LiveWindow by default
		return err
	})
	if err != nil {
		return err
	}
	if prev := n.Limiter.NodeCount(); prev != live {
		n.Log.Info("throttle limits shared by live nodes", "nodes", live, "was", prev)
	}
	n.Limiter.SetNodes(live)
	return nil
}

// Run beats every interval until ctx ends, then removes this node's row so that the others take over its
// share at once. A failed beat keeps the last count.
func (n *Nodes) Run(ctx context.Context) {
	for {
		if err := n.Beat(ctx); err != nil && ctx.Err() == nil {
			n.Log.Warn("node heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.Store.Update(stop, func(tx store.Tx) error { return tx.DeleteNode(n.ID) })
			cancel()
			return
		case <-n.Clock.After(n.interval()):
		}
	}
}

func newNodeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
