package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/inventory"
)

// The scan scenario: a Debian 12 image of about -scan-mib MiB compressed, in five layers as a Dockerfile
// makes them (a base system; apt-get install, which rewrites the dpkg status; a cleanup of apt's lists by
// whiteouts; a runtime; the application, a Go binary among its files) with some 12,000 files whose content
// compresses as real files do (a tar stream of about 2.2 times the compressed size; random content, which
// gzip stores and so costs almost nothing to decompress, would flatter the scan), executables starting as
// ELF files do. The same tar streams are compressed with gzip and with zstd. The dpkg status has 500 installed
// packages: this machine's own (up to 400, real names, versions and source packages) and generated ones
// built from the vulndb scenario's source packages. The vulndb scenario's 100,000 generated advisories
// are imported with `wharf scan-db import` into the server the bench started, with advisories for the real
// packages (a third of their source packages vulnerable) and for some Go modules of the application. Each
// image is scanned with StartImageScan and DescribeImageScanFindings polled until the scan is COMPLETE: the
// time between, the server's CPU time meanwhile (the steadier figure on a shared machine), the findings
// and the server's RSS before and at its peak during the scan. Variants: gzip
// layers, zstd layers, and the gzip image scanned ENHANCED (the Go binary's modules matched too).
var scanMiB = flag.Int("scan-mib", 200, "compressed size of the scan scenario's image in MiB")

const (
	scanPackages     = 500 // installed packages of the image's dpkg status
	scanRealPackages = 400 // of them at most this many from this machine's /var/lib/dpkg/status
)

func (b *bench) scanBench() {
	if served.bin == "" {
		fmt.Println("scan: skipped with -addr (the scenario imports advisories into the server's data directory)")
		return
	}
	ctx := context.Background()
	status := dpkgParagraphs()
	exe, err := os.Executable()
	check(err)
	app, err := os.ReadFile(exe) // the bench itself: a Go binary with build information
	check(err)

	dir, err := os.MkdirTemp("", "wharf-bench-scan")
	check(err)
	defer os.RemoveAll(dir)
	zipPath := filepath.Join(dir, "all.zip")
	check(writeAdvisoryZip(zipPath, scanAdvisories(status)))
	imp := exec.Command(served.bin, "scan-db", "import", "--data-dir", served.dataDir, "--log-level", "warn", zipPath)
	imp.Stderr = os.Stderr
	start := time.Now()
	out, err := imp.Output()
	check(err)
	fmt.Printf("%-34s %.1f s (wharf scan-db import, while the server runs: %s)\n", "scan: advisories imported",
		time.Since(start).Seconds(), strings.TrimSpace(string(out)))

	variants := []struct{ repo, tag, compression, scanType string }{
		{"bench/scan-gzip", "basic", "gzip", "BASIC"},
		{"bench/scan-zstd", "basic", "zstd", "BASIC"},
		{"bench/scan-gzip", "enhanced", "gzip", "ENHANCED"},
	}
	start = time.Now()
	tars := buildScanImage(int64(*scanMiB)<<20, status, app)
	built := time.Since(start)
	images := map[string][]scanLayer{} // by compression: the ENHANCED variant scans the gzip layers again
	for _, v := range variants {
		if v.scanType == "ENHANCED" {
			_, err := b.ecr.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeEnhanced,
				Rules: []types.RegistryScanningRule{{ScanFrequency: types.ScanFrequencyManual,
					RepositoryFilters: []types.ScanningRepositoryFilter{{Filter: aws.String("*"), FilterType: types.ScanningRepositoryFilterTypeWildcard}}}}})
			check(err)
		}
		layers, ok := images[v.compression]
		if !ok {
			start := time.Now()
			layers = compressLayers(tars, v.compression)
			compressed := time.Since(start)
			var size, tarSize int64
			files := 0
			for i, l := range layers {
				size += int64(len(l.blob))
				tarSize += int64(len(tars[i].tar))
				files += l.files
				b.putBlob(v.repo, digest.FromBytes(l.blob), l.blob)
			}
			start = time.Now()
			inv := readInventory(layers)
			fmt.Printf("%-34s %s (%s of tar) in %d layers, %d files; %s, %d dpkg packages, %d in all (built in %.1f s + %.1f s; inventory read in the bench in %.2f s)\n",
				"scan: image, "+v.compression, mib(int(size>>10)), mib(int(tarSize>>10)), len(layers), files, inv.OS.PrettyName, countDebs(inv),
				len(inv.Packages), built.Seconds(), compressed.Seconds(), time.Since(start).Seconds())
			images[v.compression] = layers
		}
		b.pushScanImage(v.repo, v.tag, layers)
		r := b.scanImage(v.repo, v.tag)
		fmt.Printf("%-34s %.2f s to COMPLETE (server CPU %.2f s), %d findings (%s), server RSS %s before, peak %s\n",
			fmt.Sprintf("scan, %s, %s", v.compression, v.scanType), r.took.Seconds(), r.cpu.Seconds(), r.findings, r.severities,
			mib(r.rssBefore), mib(r.rssPeak))
	}
	if *scanProfile != "" {
		_, err := b.ecr.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeBasic})
		check(err)
		b.profileScans("bench/scan-gzip", images["gzip"])
	}
}

var scanProfile = flag.String("scan-profile", "", "after the scan scenario, write to this file a CPU profile of the server scanning the gzip image again and again (BASIC); needs WHARF_PPROF_ADDR=127.0.0.1:PORT in the environment")

// profileScans scans the image of layers (pushed already to repo) under new tags, one after the other,
// while the server profiles its CPU for 20 seconds.
func (b *bench) profileScans(repo string, layers []scanLayer) {
	addr := os.Getenv("WHARF_PPROF_ADDR")
	if addr == "" {
		check(fmt.Errorf("-scan-profile needs WHARF_PPROF_ADDR"))
	}
	done := make(chan error, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=20")
		if err != nil {
			done <- err
			return
		}
		defer res.Body.Close()
		f, err := os.Create(*scanProfile)
		if err == nil {
			_, err = io.Copy(f, res.Body)
			f.Close()
		}
		done <- err
	}()
	var took []time.Duration
	for i := 0; ; i++ {
		select {
		case err := <-done:
			check(err)
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			fmt.Printf("%-34s %d scans, median %.2f s, in %s (go tool pprof %s)\n", "scan: profiled", len(took),
				took[len(took)/2].Seconds(), *scanProfile, *scanProfile)
			return
		default:
		}
		tag := fmt.Sprintf("profile-%d", i)
		b.pushScanImage(repo, tag, layers)
		took = append(took, b.scanImage(repo, tag).took)
	}
}

// scanResult is what scanImage measured.
type scanResult struct {
	took               time.Duration
	cpu                time.Duration // the server's CPU time meanwhile
	findings           int
	severities         string // "critical 2, high 5"
	rssBefore, rssPeak int    // KiB
}

// scanImage starts a scan of repo:tag, waits for it and returns how long it took, its findings and the
// server's memory.
func (b *bench) scanImage(repo, tag string) scanResult {
	ctx := context.Background()
	id := &types.ImageIdentifier{ImageTag: aws.String(tag)}
	resetHWM(b.pid)
	before := rssKiB(b.pid)
	cpu := cpuTime(b.pid)
	start := time.Now()
	_, err := b.ecr.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String(repo), ImageId: id})
	check(err)
	var res *ecr.DescribeImageScanFindingsOutput
	for {
		res, err = b.ecr.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo), ImageId: id, MaxResults: aws.Int32(1000)})
		check(err)
		if s := res.ImageScanStatus.Status; s != types.ScanStatusInProgress && s != types.ScanStatusPending {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	cpu = cpuTime(b.pid) - cpu
	peak := hwmKiB(b.pid)
	if res.ImageScanStatus.Status != types.ScanStatusComplete {
		check(fmt.Errorf("scan of %s:%s: %s: %s", repo, tag, res.ImageScanStatus.Status, aws.ToString(res.ImageScanStatus.Description)))
	}
	counts := res.ImageScanFindings.FindingSeverityCounts
	n := 0
	for {
		n += len(res.ImageScanFindings.Findings) + len(res.ImageScanFindings.EnhancedFindings)
		if res.NextToken == nil {
			break
		}
		res, err = b.ecr.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo), ImageId: id,
			MaxResults: aws.Int32(1000), NextToken: res.NextToken})
		check(err)
	}
	var sev []string
	for _, s := range []types.FindingSeverity{types.FindingSeverityCritical, types.FindingSeverityHigh, types.FindingSeverityMedium,
		types.FindingSeverityLow, types.FindingSeverityUndefined} {
		if counts[string(s)] > 0 {
			sev = append(sev, fmt.Sprintf("%s %d", strings.ToLower(string(s)), counts[string(s)]))
		}
	}
	return scanResult{took: took, cpu: cpu, findings: n, severities: strings.Join(sev, ", "), rssBefore: before, rssPeak: peak}
}

// cpuTime is the CPU time process pid has used (user and system), from /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's closing parenthesis; utime and stime are the 14th and 15th of all.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func rssKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int
			fmt.Sscan(strings.Fields(line)[1], &kb)
			return kb
		}
	}
	return 0
}

// dpkgParagraphs returns the image's dpkg status entries: this machine's installed packages (at most
// scanRealPackages), then generated ones up to scanPackages.
func dpkgParagraphs() []string {
	var out []string
	data, _ := os.ReadFile("/var/lib/dpkg/status")
	for _, para := range strings.Split(string(data), "\n\n") {
		para = strings.TrimSpace(para)
		if len(out) < scanRealPackages && strings.HasPrefix(para, "Package: ") && strings.Contains(para, "\nStatus: install ok installed") {
			out = append(out, para)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := len(out); i < scanPackages; i++ {
		minor, patch, rev := benchVersion(rng)
		src := fmt.Sprintf("src-%04d", rng.IntN(benchDebianPkgs))
		v := fmt.Sprintf("1.%d.%d-%d", minor, patch, rev)
		out = append(out, fmt.Sprintf(`Package: lib%s-%d
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: %d
Maintainer: Debian Bench Maintainers <bench@example.org>
Architecture: amd64
Multi-Arch: same
Source: %s (%s)
Version: %s
Depends: libc6 (>= 2.34)
Description: generated library %d of the scan benchmark
 A library the benchmark's image installs, built from one of the source
 packages the generated advisories name.`, src, i, 100+rng.IntN(5000), src, v, v, i))
	}
	return out
}

// scanAdvisories are the advisories written for the image's real packages and for the Go modules of its
// application: for every source package, one fixed in the installed version (no finding) and for a third
// of them one fixed in a later version; for every fourth module of the application, one fixed later.
func scanAdvisories(status []string) map[string][]byte {
	pkgs := inventory.ParseDpkgStatus([]byte(strings.Join(status, "\n\n")))
	seen := map[string]bool{}
	out := map[string][]byte{}
	vectors := []string{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", // critical
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", // high
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", // medium
		"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", // low
	}
	advisory := func(id, cve, vector, affected string) []byte {
		return []byte(fmt.Sprintf(`{"id":%q,"modified":"2026-01-01T00:00:00Z","published":"2025-06-01T00:00:00Z","upstream":[%q],`+
			`"details":"A flaw in the package allows a remote attacker to crash it.","severity":[{"type":"CVSS_V3","score":%q}],`+
			`"affected":[%s],"references":[{"type":"ADVISORY","url":"https://security-tracker.example/%s"}]}`, id, cve, vector, affected, id))
	}
	n := 0
	for _, p := range pkgs {
		src := p.AdvisoryName()
		if seen[src] || strings.HasPrefix(src, "src-") {
			continue
		}
		seen[src] = true
		fixed := []string{p.AdvisoryVersion()}
		if n%3 == 0 {
			fixed = append(fixed, "999:1.0-1")
		}
		for j, f := range fixed {
			id := fmt.Sprintf("DEBIAN-CVE-2026-9%04d%d", n, j)
			affected := fmt.Sprintf(`{"package":{"ecosystem":"Debian:12","name":%q,"purl":"pkg:deb/debian/%s?arch=source"},`+
				`"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}`, src, src, f)
			out[id] = advisory(id, fmt.Sprintf("CVE-2026-9%04d%d", n, j), vectors[n%len(vectors)], affected)
		}
		n++
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for i, m := range bi.Deps {
			if i%4 != 0 {
				continue
			}
			id := fmt.Sprintf("GO-2026-9%04d", i)
			affected := fmt.Sprintf(`{"package":{"ecosystem":"Go","name":%q},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"999.0.0"}]}]}`, m.Path)
			out[id] = advisory(id, fmt.Sprintf("CVE-2026-8%04d", i), vectors[i%len(vectors)], affected)
		}
	}
	return out
}

// scanLayer is a layer blob of the scan scenario's image.
type scanLayer struct {
	mediaType string
	blob      []byte
	diffID    digest.Digest // the digest of its tar stream
	files     int
	history   string
}

// tarLayer is a layer's tar stream, before compression.
type tarLayer struct {
	tar     []byte
	files   int
	history string
}

func layerMediaType(compression string) string {
	if compression == "zstd" {
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayerGzip
}

// compressLayers compresses tar streams with gzip (the default level, as docker push does) or zstd (the
// default level, as buildx's compression=zstd does).
func compressLayers(tars []tarLayer, compression string) []scanLayer {
	out := make([]scanLayer, len(tars))
	var wg sync.WaitGroup
	for i, t := range tars {
		wg.Go(func() {
			var buf bytes.Buffer
			var zw io.WriteCloser
			var err error
			if compression == "zstd" {
				zw, err = zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
			} else {
				zw, err = gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
			}
			check(err)
			_, err = zw.Write(t.tar)
			check(err)
			check(zw.Close())
			out[i] = scanLayer{mediaType: layerMediaType(compression), blob: buf.Bytes(), diffID: digest.FromBytes(t.tar),
				files: t.files, history: t.history}
		})
	}
	wg.Wait()
	return out
}

// scanCompression is how much the generated files compress with gzip (of the bytes of files, the part
// left), measured: the tar streams are made this much larger than the image is to be.
const scanCompression = 0.45

// buildScanImage builds the tar streams of the image's layers, which compress to about size bytes in all.
func buildScanImage(size int64, status []string, app []byte) []tarLayer {
	rng := rand.New(rand.NewPCG(11, 12))
	ratio := scanCompression
	if *scanIncompressible {
		ratio = 1
	}
	part := func(percent int64) int64 { return int64(float64(size*percent/100) / ratio) }
	var layers []tarLayer

	base := newLayerBuilder(rng, "debian:12 base system")
	base.text("etc/os-release", `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`)
	base.text("var/lib/dpkg/status", strings.Join(status[:len(status)*9/10], "\n\n")+"\n")
	base.fill(part(35), 5000, "usr/bin", "usr/sbin", "usr/lib/x86_64-linux-gnu", "usr/share/doc", "usr/share/locale", "usr/share/zoneinfo", "etc")
	layers = append(layers, base.finish())

	apt := newLayerBuilder(rng, "RUN apt-get update && apt-get install -y ...")
	apt.text("var/lib/dpkg/status", strings.Join(status, "\n\n")+"\n")
	for i := range 8 {
		apt.generated(fmt.Sprintf("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_%d_Packages", i), 0o644, 4<<20)
	}
	apt.fill(part(25)-32<<20, 3000, "usr/bin", "usr/lib/x86_64-linux-gnu", "usr/share/doc", "usr/lib/python3/dist-packages")
	layers = append(layers, apt.finish())

	clean := newLayerBuilder(rng, "RUN rm -rf /var/lib/apt/lists/*")
	for i := range 8 {
		clean.whiteout(fmt.Sprintf("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_%d_Packages", i))
	}
	clean.text("etc/apt/apt.conf.d/docker-clean", "APT::Keep-Downloaded-Packages \"false\";\n")
	layers = append(layers, clean.finish())

	runtime := newLayerBuilder(rng, "COPY runtime /opt/runtime")
	runtime.fill(part(25), 3000, "opt/runtime/bin", "opt/runtime/lib", "opt/runtime/lib/modules", "opt/runtime/share")
	layers = append(layers, runtime.finish())

	app0 := newLayerBuilder(rng, "COPY app /app")
	app0.file("usr/local/bin/app", 0o755, app) // a Go binary compresses about as the generated files do
	app0.fill(max(part(15)-int64(float64(len(app))*scanCompression/ratio), 1<<20), 1000, "app/static", "app/lib", "app/bin")
	layers = append(layers, app0.finish())
	return layers
}

var scanIncompressible = flag.Bool("scan-incompressible", false, "the scan scenario's files are random bytes (gzip stores them: it then costs little to decompress)")

// layerBuilder writes one layer's tar stream.
type layerBuilder struct {
	out     bytes.Buffer
	tw      *tar.Writer
	rng     *rand.Rand    // sizes, names and the structure of content
	content *rand.ChaCha8 // the bytes of content
	dirs    map[string]bool
	files   int
	history string
	buf     []byte
	symbols [256]byte
}

func newLayerBuilder(rng *rand.Rand, history string) *layerBuilder {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], rng.Uint64())
	l := &layerBuilder{rng: rng, content: rand.NewChaCha8(seed), dirs: map[string]bool{}, history: history}
	l.tw = tar.NewWriter(&l.out)
	// Literals: 48 symbols, some much more frequent than others, as in code and text.
	for i := range l.symbols {
		l.symbols[i] = byte(rng.IntN(1 + i*48/256))
	}
	return l
}

func (l *layerBuilder) dir(name string) {
	if name == "." || name == "" || l.dirs[name] {
		return
	}
	l.dir(path.Dir(name))
	l.dirs[name] = true
	check(l.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: time.Unix(1700000000, 0)}))
}

func (l *layerBuilder) file(name string, mode int64, content []byte) {
	l.dir(path.Dir(name))
	check(l.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(content)), ModTime: time.Unix(1700000000, 0)}))
	_, err := l.tw.Write(content)
	check(err)
	l.files++
}

func (l *layerBuilder) text(name, content string) { l.file(name, 0o644, []byte(content)) }

// generated writes a file of generated content; an executable starts as an ELF file does. Content
// compresses as real files do (gzip leaves about scanCompression of it): runs of skewed literals and
// repeats of what came shortly before, as LZ77 sees them. One file in eight is random, as compressed
// files (.gz, .png, .jar) are; with -scan-incompressible all are.
func (l *layerBuilder) generated(name string, mode int64, size int) {
	if cap(l.buf) < size {
		l.buf = make([]byte, size)
	}
	b := l.buf[:size]
	l.content.Read(b)
	if !*scanIncompressible && l.rng.IntN(8) != 0 {
		for i, c := range b {
			b[i] = l.symbols[c]
		}
		for i := 64; i < len(b); {
			n := 8 + l.rng.IntN(56)
			if l.rng.IntN(2) == 0 {
				from := i - 1 - l.rng.IntN(min(i, 32<<10)-1)
				for j := 0; j < n && i+j < len(b); j++ {
					b[i+j] = b[from+j]
				}
			}
			i += n
		}
	}
	if mode&0o111 != 0 && size >= 4 {
		copy(b, "\x7fELF")
	}
	l.file(name, mode, b)
}

func (l *layerBuilder) whiteout(name string) {
	l.dir(path.Dir(name))
	check(l.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(path.Dir(name), ".wh."+path.Base(name)), Mode: 0o644, ModTime: time.Unix(1700000000, 0)}))
}

// fill writes small files (a log-uniform size of 128 B to 16 KiB), then large ones (64 KiB to 8 MiB) until
// budget bytes are written, spread over dirs; files in a bin directory are executables.
func (l *layerBuilder) fill(budget int64, small int, dirs ...string) {
	logUniform := func(lo, hi float64) int {
		return int(math.Exp(math.Log(lo) + l.rng.Float64()*(math.Log(hi)-math.Log(lo))))
	}
	write := func(i, size int) {
		d := dirs[l.rng.IntN(len(dirs))]
		mode := int64(0o644)
		name := fmt.Sprintf("%s/f%05d.dat", d, i)
		if strings.HasSuffix(d, "bin") {
			mode, name = 0o755, fmt.Sprintf("%s/prog%05d", d, i)
		}
		l.generated(name, mode, size)
		budget -= int64(size)
	}
	for i := 0; i < small && budget > 0; i++ {
		write(i, logUniform(128, 16<<10))
	}
	for i := small; budget > 0; i++ {
		write(i, int(min(int64(logUniform(64<<10, 8<<20)), budget)))
	}
}

func (l *layerBuilder) finish() tarLayer {
	check(l.tw.Close())
	return tarLayer{tar: l.out.Bytes(), files: l.files, history: l.history}
}

// pushScanImage pushes the config and manifest of an image of layers (pushed already) to repo:tag; the
// config names the tag, so that each tag is an image of its own.
func (b *bench) pushScanImage(repo, tag string, layers []scanLayer) {
	type history struct {
		CreatedBy string `json:"created_by"`
	}
	cfg := map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Entrypoint": []string{"/usr/local/bin/app"}, "Labels": map[string]string{"bench.tag": tag}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{}}}
	var hist []history
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest}
	m.SchemaVersion = 2
	for _, l := range layers {
		cfg["rootfs"].(map[string]any)["diff_ids"] = append(cfg["rootfs"].(map[string]any)["diff_ids"].([]digest.Digest), l.diffID)
		hist = append(hist, history{l.history})
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: l.mediaType, Digest: digest.FromBytes(l.blob), Size: int64(len(l.blob))})
	}
	cfg["history"] = hist
	c, err := json.Marshal(cfg)
	check(err)
	b.putBlob(repo, digest.FromBytes(c), c)
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(c), Size: int64(len(c))}
	body, err := json.Marshal(m)
	check(err)
	do("PUT", b.base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(body), int64(len(body)), "Content-Type", ocispec.MediaTypeImageManifest)
}

// readInventory reads the inventory of the layers in the bench, to check that the image is what the
// scenario says it is.
func readInventory(layers []scanLayer) *inventory.Inventory {
	byDigest := map[digest.Digest][]byte{}
	var descs []ocispec.Descriptor
	for _, l := range layers {
		d := digest.FromBytes(l.blob)
		byDigest[d] = l.blob
		descs = append(descs, ocispec.Descriptor{MediaType: l.mediaType, Digest: d, Size: int64(len(l.blob))})
	}
	inv, err := inventory.Read(context.Background(), func(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(byDigest[d])), nil
	}, descs)
	check(err)
	if countDebs(inv) != scanPackages || len(inv.Packages) == 0 {
		check(fmt.Errorf("the scan image has %d dpkg packages, not %d", countDebs(inv), scanPackages))
	}
	return inv
}

func countDebs(inv *inventory.Inventory) int {
	n := 0
	for _, p := range inv.Packages {
		if strings.HasPrefix(p.PURL, "pkg:deb/") {
			n++
		}
	}
	return n
}
