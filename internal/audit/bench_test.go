package audit

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

type pullSummary struct{}

func (pullSummary) AuditSummary() any {
	return map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": "v1"}}}
}

func pullCall() *pipeline.Call {
	c := sampleCall()
	c.Protocol, c.Action = "oci", "ecr:BatchGetImage"
	c.Caller = identity.Principal{AccountID: "123456789012", UserName: "carol", UserID: "AIDACAROL", AccessKeyID: "AKIACAROL"}
	c.Input, c.Output = pullSummary{}, nil
	c.Targets = []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", "123456789012", "app")}
	return c
}

func BenchmarkEventsOfAPull(b *testing.B) {
	c := pullCall()
	b.ReportAllocs()
	for b.Loop() {
		Events(c, nil, "us-east-1")
	}
}

func BenchmarkWriteReads(b *testing.B) {
	meta := openStore(&testing.T{})
	trail := NewTrail(meta, "us-east-1", nil)
	c := pullCall()
	b.ReportAllocs()
	for b.Loop() {
		trail.Record(c, nil, 0)
	}
	trail.Close()
	_ = context.Background()
}

// BenchmarkRecordAndFlushReads: the whole cost of recording pulls, the writer's included.
func BenchmarkRecordAndFlushReads(b *testing.B) {
	meta := openStore(&testing.T{})
	trail := NewTrail(meta, "us-east-1", nil)
	trail.FlushEvery = time.Hour
	c := pullCall()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		trail.Record(c, nil, 0)
	}
	trail.Close()
}
