package server

import (
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
)

// BenchmarkRecord is the metrics' share of every call (a manifest GET's), from many goroutines.
func BenchmarkRecord(b *testing.B) {
	m := newMetrics()
	c := &pipeline.Call{Protocol: "oci", Action: "ecr:BatchGetImage"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Record(c, nil, time.Millisecond)
		}
	})
}
