package audit

import (
	"fmt"
	"strconv"
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

// pullOf is a manifest GET of one of 1000 tags, by one of 32 clients: what the benchmark's GET scenario sends.
type pullOf struct{ tag string }

func (p pullOf) AuditKey() [4]string { return [4]string{"manifest", "app", p.tag} }
func (p pullOf) AuditSummary() any {
	return map[string]any{"repositoryName": "app", "imageIds": []map[string]string{{"imageTag": p.tag}}}
}

// BenchmarkPulls: the whole cost of recording pulls of many images by several clients, the writer's
// included (run with -cpu 1 for the CPU time per pull), beside making the calls alone.
func BenchmarkPulls(b *testing.B) {
	meta := openStore(&testing.T{})
	trail := NewTrail(meta, "us-east-1", nil)
	trail.Start()
	calls := make([]*pipeline.Call, 32*1000)
	for i := range calls {
		c := pullCall()
		c.Input = pullOf{fmt.Sprintf("tag-%d", i%1000)}
		c.Caller.AccessKeyID = fmt.Sprintf("AKIA%016d", i%32)
		c.UserAgent = "bench/1.0 (client " + strconv.Itoa(i%32) + ")"
		calls[i] = c
	}
	for _, record := range []bool{false, true} {
		b.Run(fmt.Sprint("recorded=", record), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c := *calls[i%len(calls)]
				c.RequestID = pipeline.NewRequestID()
				c.Targets = []pipeline.Target{pipeline.Repository("ecr:BatchGetImage", "123456789012", "app")}
				if record {
					trail.Record(&c, nil, 0)
				}
			}
			trail.Flush()
		})
	}
	trail.Close()
}
