package audit

import (
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/pipeline"
)

type pullSummary struct{}

func (pullSummary) AuditKey() [4]string { return [4]string{"app", "v1"} }

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

// BenchmarkRecordRead: what recording a pull costs the request.
func BenchmarkRecordRead(b *testing.B) {
	meta := openStore(&testing.T{})
	trail := NewTrail(meta, "us-east-1", nil)
	trail.FlushEvery, trail.BatchSize = time.Hour, 1<<30
	trail.MaxPending = trail.BatchSize
	c := pullCall()
	b.ReportAllocs()
	for b.Loop() {
		trail.Record(c, nil, 0)
	}
	b.StopTimer()
	trail.Close()
}

// BenchmarkRecordAndFlushReads: the whole cost of recording pulls, the writer's included.
func BenchmarkRecordAndFlushReads(b *testing.B) {
	meta := openStore(&testing.T{})
	trail := NewTrail(meta, "us-east-1", nil)
	trail.FlushEvery = time.Hour
	trail.Start()
	c := pullCall()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		trail.Record(c, nil, 0)
	}
	trail.Close()
}
