package server

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/internal/audit"
	blobs3 "github.com/wharf-dev/wharf/internal/blob/s3"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/store"
)

// defaultAuditRetention is how long the audit trail keeps records unless told: CloudTrail's event history.
const defaultAuditRetention = 90 * 24 * time.Hour

// auditDelivery sets up the delivery of the trail's log files, nil when they go nowhere.
func auditDelivery(opts Options, meta store.Store) (*audit.Delivery, error) {
	if opts.AuditDelivery == "" {
		return nil, nil
	}
	var to audit.Destination = audit.Dir(opts.AuditDelivery)
	if rest, ok := strings.CutPrefix(opts.AuditDelivery, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		cfg := opts.AuditS3
		cfg.Bucket, cfg.Prefix = bucket, prefix
		client, err := blobs3.NewClient(context.Background(), cfg)
		if err != nil {
			return nil, err
		}
		to = audit.Bucket{Client: client, Name: bucket, Prefix: prefix}
	}
	return &audit.Delivery{Meta: meta, To: to, Region: opts.Region, Now: opts.Clock.Now, Holder: pipeline.NewRequestID()}, nil
}

func (a *App) deliveryInterval() time.Duration {
	switch {
	case a.delivery == nil:
		return 0
	case a.opts.AuditDeliveryInterval > 0:
		return a.opts.AuditDeliveryInterval
	}
	return 5 * time.Minute
}

// deliverTrail delivers the trail's records not delivered yet, the read records waiting in memory too.
func (a *App) deliverTrail(ctx context.Context) {
	var files int
	err := a.background(ctx, "audit", "wharf:DeliverTrail", func(ctx context.Context) (err error) {
		a.trail.Flush()
		files, err = a.delivery.Deliver(ctx)
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.log.Error("audit trail delivery failed", "err", err, "files", files)
	} else if files > 0 {
		a.log.Debug("audit trail delivered", "files", files)
	}
}

// pruneTrail deletes the records older than the retention period.
func (a *App) pruneTrail(ctx context.Context) {
	retention := a.opts.AuditRetention
	if retention <= 0 {
		retention = defaultAuditRetention
	}
	var n int
	err := a.background(ctx, "audit", "wharf:PruneTrail", func(ctx context.Context) (err error) {
		n, err = audit.Prune(ctx, a.stores.trail(), a.opts.Clock.Now(), retention)
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.log.Error("audit trail pruning failed", "err", err)
	} else if n > 0 {
		a.log.Info("audit trail pruned", "records", n, "retention", retention)
	}
}

// registerAuditMetrics exposes the trail's records written, delivered and waiting for delivery.
func (a *App) registerAuditMetrics(reg *prometheus.Registry) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wharf_audit_records_written_total",
		Help: "Audit trail records this node wrote (a call across accounts once for each account)."},
		func() float64 { return float64(a.trail.Written.Load()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wharf_audit_records_delivered_total",
		Help: "Audit trail records this node delivered in log files."},
		func() float64 {
			if a.delivery == nil {
				return 0
			}
			return float64(a.delivery.Delivered.Load())
		}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wharf_audit_records_pending",
		Help: "Audit trail records written and not delivered yet, by all nodes (0 when the trail is delivered nowhere)."},
		func() float64 {
			if a.delivery == nil {
				return 0
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var n int64
			if err := a.stores.trail().View(ctx, func(tx store.Tx) (err error) { n, err = tx.PendingAuditRecords(); return err }); err != nil {
				return math.NaN()
			}
			return float64(n)
		}))
}

// auditExpiries records what a lifecycle pass deleted, a record for each repository in its account's
// trail: the call ECR's lifecycle makes (PolicyExecutionEvent), by Wharf's service principal, with
// BatchDeleteImage's parameters and result, and the priority of the rule that expired each image
// (rulePriorities, by digest).
func (a *App) auditExpiries(results []registry.LifecycleResult) {
	a.auditTransitions(results)
	for _, res := range results {
		if len(res.Expired) == 0 {
			continue
		}
		ids := make([]map[string]string, 0, len(res.Expired))
		rules := make(map[string]int, len(res.Expired)) // which rule expired each image
		for _, e := range res.Expired {
			rules[e.Digest.String()] = e.Rule
			if len(e.Tags) == 0 {
				ids = append(ids, map[string]string{"imageDigest": e.Digest.String()})
			}
			for _, tag := range e.Tags {
				ids = append(ids, map[string]string{"imageDigest": e.Digest.String(), "imageTag": tag})
			}
		}
		a.trail.Record(&pipeline.Call{Protocol: "lifecycle", RegistryID: res.RegistryID, Action: "ecr:PolicyExecutionEvent",
			Caller: identity.ServiceIn(res.RegistryID), Start: a.opts.Clock.Now(),
			Input:   map[string]any{"registryId": res.RegistryID, "repositoryName": res.Repository, "imageIds": ids, "rulePriorities": rules},
			Output:  map[string]any{"imageIds": ids, "failures": []any{}},
			Targets: []pipeline.Target{pipeline.Repository("ecr:BatchDeleteImage", res.RegistryID, res.Repository)}}, nil, 0)
	}
}

// auditTransitions records what a lifecycle pass archived, a record for each image as ECR's lifecycle
// calls UpdateImageStorageClass: a PolicyExecutionEvent by Wharf's service principal with that call's
// parameters and result.
func (a *App) auditTransitions(results []registry.LifecycleResult) {
	for _, res := range results {
		for _, e := range res.Transitioned {
			id := map[string]string{"imageDigest": e.Digest.String()}
			a.trail.Record(&pipeline.Call{Protocol: "lifecycle", RegistryID: res.RegistryID, Action: "ecr:PolicyExecutionEvent",
				Caller: identity.ServiceIn(res.RegistryID), Start: a.opts.Clock.Now(),
				Input: map[string]any{"registryId": res.RegistryID, "repositoryName": res.Repository, "imageId": id, "targetStorageClass": "ARCHIVE",
					"rulePriorities": map[string]int{e.Digest.String(): e.Rule}},
				Output: map[string]any{"registryId": res.RegistryID, "repositoryName": res.Repository, "imageId": id,
					"imageStatus": string(registry.ImageArchived)},
				Targets: []pipeline.Target{pipeline.Repository("ecr:UpdateImageStorageClass", res.RegistryID, res.Repository)}}, nil, 0)
		}
	}
}

// DeliverTrail delivers the audit trail's records now (the command line, tests).
func (a *App) DeliverTrail(ctx context.Context) { a.deliverTrail(ctx) }

// scanAuditConsumer is the outbox consumer that records scan results in the audit trail.
const scanAuditConsumer = "audit-scans"

// auditScans records in the audit trail each scan result the outbox holds past its cursor — scans on push,
// on request, re-matches and expiries alike, from whichever node ran them: an ImageScan record by Wharf's
// service principal in the repository's account, the result as its response. It runs on one node at a time
// (a periodic job) and moves its cursor in the transaction that read the events.
func (a *App) auditScans(ctx context.Context) error {
	for {
		var pending bool // looked at first without the writer: most passes find nothing
		if err := a.stores.Meta.View(ctx, func(tx store.Tx) error {
			pos, err := tx.EventCursor(scanAuditConsumer)
			if err != nil {
				return err
			}
			events, err := tx.EventsAfter(pos, 1)
			pending = len(events) > 0
			return err
		}); err != nil || !pending {
			return err
		}
		var n int
		err := a.stores.Meta.Update(ctx, func(tx store.Tx) error {
			pos, err := tx.EventCursor(scanAuditConsumer)
			if err != nil {
				return err
			}
			events, err := tx.EventsAfter(pos, 500)
			if err != nil || len(events) == 0 {
				n = 0
				return err
			}
			n = len(events)
			for _, se := range events {
				if se.Type != registry.EventImageScanned {
					continue
				}
				e, err := registry.DecodeEvent(se)
				if err != nil {
					continue // the webhooks' dispatch logs it
				}
				a.auditScan(se.At, e)
			}
			return tx.SetEventCursor(scanAuditConsumer, events[len(events)-1].Position)
		})
		if err != nil || n < 500 {
			return err
		}
	}
}

func (a *App) auditScan(at time.Time, e registry.Event) {
	id := map[string]string{"imageDigest": e.Digest.String()}
	counts := e.SeverityCounts
	if counts == nil {
		counts = map[string]int{}
	}
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	a.trail.Record(&pipeline.Call{Protocol: "scan", RegistryID: e.RegistryID, Action: "ecr:ImageScan",
		Caller: identity.ServiceIn(e.RegistryID), Start: at,
		Input: map[string]any{"registryId": e.RegistryID, "repositoryName": e.Repository, "imageId": id},
		Output: map[string]any{"imageId": id, "imageTags": tags, "imageScanStatus": map[string]any{"status": e.ScanStatus},
			"imageScanFindingsSummary": map[string]any{"findingSeverityCounts": counts}},
		Targets: []pipeline.Target{pipeline.Repository("ecr:DescribeImageScanFindings", e.RegistryID, e.Repository)}}, nil, 0)
}
