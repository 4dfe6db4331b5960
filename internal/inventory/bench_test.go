package inventory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/inventory"
	lt "github.com/wharf-dev/wharf/internal/inventory/imagefs/layertest"
)

// BenchmarkRead reads the inventory of an image of about 200 MiB (uncompressed) with 500 dpkg packages,
// a Go binary and 20,000 other files over four layers (gzip, then zstd), the top one upgrading a package and deleting
// files. It reports the peak of the Go heap while reading, besides time.
//
//	go test -run '^$' -bench BenchmarkRead -benchtime 5x ./internal/inventory
func BenchmarkRead(b *testing.B) {
	for _, compression := range []string{lt.Gzip, lt.Zstd} {
		b.Run(compression, func(b *testing.B) { benchmarkRead(b, compression) })
	}
}

func benchmarkRead(b *testing.B, compression string) {
	im, size := benchImage(b, compression)
	b.SetBytes(size)
	b.ReportAllocs()
	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go sampleHeap(&peak, stop)
	b.ResetTimer()
	for b.Loop() {
		inv, err := inventory.Read(context.Background(), im.Open, im.Layers)
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Packages) < 500 {
			b.Fatalf("%d packages", len(inv.Packages))
		}
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "peak-heap-MiB")
}

func benchImage(b *testing.B, compression string) (*lt.Image, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	self, err := os.ReadFile(os.Args[0]) // this test binary: a Go binary with build information
	if err != nil {
		b.Fatal(err)
	}
	var status strings.Builder
	for i := range 500 {
		fmt.Fprintf(&status, "Package: pkg%d\nStatus: install ok installed\nPriority: optional\nSection: libs\n"+
			"Installed-Size: %d\nMaintainer: Someone <someone@example.org>\nArchitecture: amd64\nMulti-Arch: same\n"+
			"Source: src%d (1.%d-1)\nVersion: 1.%d-1+b1\nDepends: libc6 (>= 2.34), pkg%d\n"+
			"Description: package number %d\n a longer description of the package\n on two lines\n\n",
			i, 100+i, i/3, i, i, (i+1)%500, i)
	}
	im := lt.New(b)
	var size int64
	// Files of 10 KiB on average, half random (incompressible), half text.
	layer := func(n int, extra ...lt.Entry) {
		entries := extra
		for i := range n {
			body := make([]byte, rng.IntN(20<<10))
			if i%2 == 0 {
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
			} else {
				for j := range body {
					body[j] = "abcdefghij klmnop\n"[rng.IntN(18)]
				}
			}
			name := fmt.Sprintf("usr/share/app%d/dir%d/file%d", len(im.Layers), i/100, i)
			if i%50 == 0 {
				entries = append(entries, lt.Executable(name, body))
			} else {
				entries = append(entries, lt.File(name, body))
			}
		}
		for _, e := range entries {
			size += int64(len(e.Body))
		}
		im.Add(b, compression, entries...)
	}
	layer(8000, lt.File("etc/os-release", []byte(debian12)), lt.File("var/lib/dpkg/status", []byte(status.String())))
	layer(6000, lt.Executable("usr/local/bin/app", self))
	layer(6000)
	upgraded := strings.Replace(status.String(), "Version: 1.7-1+b1\n", "Version: 1.7-2\n", 1)
	layer(100, lt.File("var/lib/dpkg/status", []byte(upgraded)), lt.Whiteout("usr/share/app1"))
	b.Logf("image: %d layers, %.0f MiB uncompressed", len(im.Layers), float64(size)/(1<<20))
	return im, size
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func sampleHeap(peak *atomic.Uint64, stop <-chan struct{}) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
		}
	}
}
