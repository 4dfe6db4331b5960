package e2e

import (
	"archive/tar"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// buildVulnerableGoProgram builds a small Go program whose module requires golang.org/x/text v0.3.7 and
// imports its language package, so that the binary's build information lists the module at that version.
// The module comes from the Go module proxy the environment names.
func buildVulnerableGoProgram(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/greeter\n\ngo 1.21\n\nrequire golang.org/x/text v0.3.7\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse(os.Getenv("LANG"))
	fmt.Println(tag, err)
}
`), 0o644)
	bin := filepath.Join(dir, "greeter")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	// -mod=mod writes the module's go.sum; the module is outside any repository, so no VCS stamp.
	build.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod -buildvcs=false"),
		"GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err != nil || !strings.Contains(string(out), "golang.org/x/text\tv0.3.7") {
		t.Fatalf("the program's build information: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScanGoBinaryEnhanced scans an image holding a Go program built in the test with a vulnerable
// golang.org/x/text, against a Go advisory imported with wharf scan-db. Under a BASIC registry scanning
// configuration, language packages are not scanned: the image alone is UNSUPPORTED_IMAGE, and with a
// Debian os-release beside it the scan completes without findings. Under ENHANCED, the same image scanned
// on request (waited for with the Go SDK's ImageScanComplete waiter) has the advisory in enhancedFindings,
// through the aws CLI and the Go SDK; an advisory fixed at the module's version finds nothing.
func TestScanGoBinaryEnhanced(t *testing.T) {
	crane := tool(t, "crane")
	program := buildVulnerableGoProgram(t)
	s := startServer(t, t.TempDir())
	work := t.TempDir()
	for id, doc := range map[string]string{
		"GO-2099-0001": `{"id": "GO-2099-0001", "aliases": ["CVE-2099-32149", "GHSA-2099-wxyz-0001"],
  "summary": "Denial of service via crafted Accept-Language header in golang.org/x/text/language",
  "details": "An attacker may cause a denial of service by crafting an Accept-Language header which ParseAcceptLanguage takes significant time to parse.",
  "published": "2026-10-11T00:00:00Z", "modified": "2026-11-01T00:00:00Z",
  "severity": [{"type": "CVSS_V3", "score": "` + cvssHigh + `"}],
  "affected": [{"package": {"ecosystem": "Go", "name": "golang.org/x/text"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.3.8"}]}],
    "ecosystem_specific": {"imports": [{"path": "golang.org/x/text/language", "symbols": ["Parse", "ParseAcceptLanguage"]}]}}],
  "references": [{"type": "REPORT", "url": "https://go.dev/issue/99999"}, {"type": "FIX", "url": "https://go.dev/cl/99999"}]}`,
		// Fixed at the version the program has: nothing to find.
		"GO-2099-0002": `{"id": "GO-2099-0002", "aliases": ["CVE-2099-32150"], "modified": "2026-11-01T00:00:00Z",
  "summary": "Out-of-bounds read in golang.org/x/text/language",
  "affected": [{"package": {"ecosystem": "Go", "name": "golang.org/x/text"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.3.0"}, {"fixed": "0.3.7"}]}]}]}`,
	} {
		os.WriteFile(filepath.Join(work, id+".json"), []byte(doc), 0o644)
	}
	if got := s.wharf("scan-db", "import", work); !strings.HasPrefix(got, "read 2 advisories, 2 new or updated") {
		t.Fatalf("scan-db import: %s", got)
	}

	s.aws("ecr", "put-registry-scanning-configuration", "--scan-type", "BASIC", "--rules",
		`[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"go/*","filterType":"WILDCARD"}]}]`)
	s.aws("ecr", "create-repository", "--repository-name", "go/greeter")
	s.login()
	ref := s.addr + "/go/greeter"
	binary := filepath.Join(work, "binary.tar")
	writeLayerModes(t, binary, map[string]layerFile{"usr/local/bin/greeter": {program, 0o755}})
	run(t, crane, "append", "--insecure", "-f", binary, "-t", ref+":v1")
	debian := filepath.Join(work, "debian.tar")
	writeLayerModes(t, debian, map[string]layerFile{"etc/os-release": {[]byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644}})
	run(t, crane, "append", "--insecure", "-b", ref+":v1", "-f", debian, "-t", ref+":on-debian")
	digest := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":v1"))

	// BASIC, on push: operating-system packages only.
	if got := scanEnded(t, s, "go/greeter", "v1"); got != "UNSUPPORTED_IMAGE UnsupportedImageError: The operating system and/or package manager are not supported." {
		t.Fatalf("BASIC scan of the program alone: %q", got)
	}
	if got := scanEnded(t, s, "go/greeter", "on-debian"); got != "COMPLETE The scan was completed successfully." {
		t.Fatalf("BASIC scan of the program on Debian: %q", got)
	}
	var basic scanResult
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "go/greeter", "--image-id", "imageTag=on-debian"), &basic)
	if len(basic.ImageScanFindings.Findings) != 0 || len(basic.ImageScanFindings.FindingSeverityCounts) != 0 {
		t.Fatalf("BASIC scan of the program on Debian: %+v", basic)
	}

	// ENHANCED, on request; the Go SDK's waiter waits for it.
	s.aws("ecr", "put-registry-scanning-configuration", "--scan-type", "ENHANCED", "--rules",
		`[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"go/*","filterType":"WILDCARD"}]}]`)
	s.aws("ecr", "start-image-scan", "--repository-name", "go/greeter", "--image-id", "imageTag=v1")
	ctx := context.Background()
	client := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.addr),
		Credentials: credentials.NewStaticCredentialsProvider(adminKeyID, adminSecret, "")})
	v1 := &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("go/greeter"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}}
	waiter := ecr.NewImageScanCompleteWaiter(client, func(o *ecr.ImageScanCompleteWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := waiter.Wait(ctx, v1, time.Minute); err != nil {
		t.Fatalf("ImageScanComplete waiter: %v", err)
	}

	var res struct {
		ImageScanStatus   struct{ Status string }
		ImageScanFindings struct {
			FindingSeverityCounts map[string]int
			Findings              []any
			EnhancedFindings      []struct {
				AwsAccountID, FindingArn, Severity, Status, Type, Title, FixAvailable, Description string
				Score                                                                              float64
				PackageVulnerabilityDetails                                                        struct {
					VulnerabilityID, Source, SourceURL, VendorSeverity string
					ReferenceUrls, RelatedVulnerabilities              []string
					VulnerablePackages                                 []struct{ Name, Version, FixedInVersion, PackageManager, FilePath string }
					Cvss                                               []struct {
						BaseScore                      float64
						ScoringVector, Source, Version string
					}
				}
				Remediation struct{ Recommendation struct{ Text string } }
				Resources   []struct {
					ID, Type string
					Details  struct {
						AwsEcrContainerImage struct {
							ImageHash, RepositoryName, Registry string
							ImageTags                           []string
						}
					}
				}
			}
		}
	}
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "go/greeter", "--image-id", "imageTag=v1"), &res)
	ef := res.ImageScanFindings.EnhancedFindings
	if res.ImageScanStatus.Status != "COMPLETE" || len(ef) != 1 || len(res.ImageScanFindings.Findings) != 0 ||
		!slices.Equal([]int{res.ImageScanFindings.FindingSeverityCounts["HIGH"], len(res.ImageScanFindings.FindingSeverityCounts)}, []int{1, 1}) {
		t.Fatalf("describe-image-scan-findings: %+v", res)
	}
	f, d := ef[0], ef[0].PackageVulnerabilityDetails
	if f.AwsAccountID != "000000000000" || !strings.HasPrefix(f.FindingArn, "arn:aws:ecr:us-east-1:000000000000:finding/") ||
		f.Severity != "HIGH" || f.Status != "ACTIVE" || f.Type != "PACKAGE_VULNERABILITY" || f.FixAvailable != "YES" || f.Score != 7.5 ||
		f.Title != "CVE-2099-32149 - golang.org/x/text" || !strings.Contains(f.Description, "Accept-Language") ||
		f.Remediation.Recommendation.Text != "Upgrade golang.org/x/text to version 0.3.8 or later." {
		t.Errorf("enhanced finding: %+v", f)
	}
	if d.VulnerabilityID != "CVE-2099-32149" || d.Source != "GO-2099-0001" || d.VendorSeverity != "HIGH" ||
		!slices.Equal(d.ReferenceUrls, []string{"https://go.dev/issue/99999", "https://go.dev/cl/99999"}) ||
		!slices.Contains(d.RelatedVulnerabilities, "GHSA-2099-wxyz-0001") {
		t.Errorf("packageVulnerabilityDetails: %+v", d)
	}
	if p := d.VulnerablePackages; len(p) != 1 || p[0].Name != "golang.org/x/text" || p[0].Version != "v0.3.7" || p[0].FixedInVersion != "0.3.8" ||
		p[0].PackageManager != "GOBINARY" || p[0].FilePath != "usr/local/bin/greeter" {
		t.Errorf("vulnerablePackages: %+v", p)
	}
	if c := d.Cvss; len(c) != 1 || c[0].BaseScore != 7.5 || c[0].ScoringVector != cvssHigh || c[0].Version != "3.1" {
		t.Errorf("cvss: %+v", c)
	}
	if r := f.Resources; len(r) != 1 || r[0].Type != "AWS_ECR_CONTAINER_IMAGE" || r[0].Details.AwsEcrContainerImage.ImageHash != digest ||
		r[0].Details.AwsEcrContainerImage.RepositoryName != "go/greeter" || !slices.Equal(r[0].Details.AwsEcrContainerImage.ImageTags, []string{"v1"}) {
		t.Errorf("resources: %+v", r)
	}

	// The Go SDK reads the same finding into its types.
	out, err := client.DescribeImageScanFindings(ctx, v1)
	if err != nil || len(out.ImageScanFindings.EnhancedFindings) != 1 {
		t.Fatalf("Go SDK: %+v, %v", out, err)
	}
	sdk := out.ImageScanFindings.EnhancedFindings[0]
	pkg := sdk.PackageVulnerabilityDetails.VulnerablePackages[0]
	if aws.ToString(pkg.Name) != "golang.org/x/text" || aws.ToString(pkg.Version) != "v0.3.7" || aws.ToString(pkg.FixedInVersion) != "0.3.8" ||
		sdk.PackageVulnerabilityDetails.Cvss[0].BaseScore != 7.5 || sdk.FirstObservedAt == nil || sdk.ScoreDetails.Cvss.Score != 7.5 ||
		aws.ToString(sdk.Resources[0].Details.AwsEcrContainerImage.ImageHash) != digest {
		t.Fatalf("Go SDK enhanced finding: %+v", sdk)
	}
}

// layerFile is a file of a layer, with its mode.
type layerFile struct {
	data []byte
	mode int64
}

// writeLayerModes writes an uncompressed layer holding files with their modes at path.
func writeLayerModes(t *testing.T, path string, files map[string]layerFile) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		lf := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: lf.mode, Size: int64(len(lf.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(lf.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
