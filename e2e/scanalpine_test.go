package e2e

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// apkInstalled is an Alpine package database (/lib/apk/db/installed) of a minimal image, with the
// packages and versions of the release's own, given the release's openssl and busybox versions.
func apkInstalled(openssl, busybox string) []byte {
	var b strings.Builder
	for _, p := range []struct{ name, version, origin, desc string }{
		{"musl", "1.2.4_git20230717-r4", "musl", "the musl c library (libc) implementation"},
		{"busybox", busybox, "busybox", "Size optimized toolbox of many common UNIX utilities"},
		{"busybox-binsh", busybox, "busybox", "busybox ash /bin/sh"},
		{"alpine-baselayout", "3.4.3-r2", "alpine-baselayout", "Alpine base dir structure and init scripts"},
		{"libcrypto3", openssl, "openssl", "Crypto library from openssl"},
		{"libssl3", openssl, "openssl", "SSL shared libraries"},
		{"zlib", "1.3.1-r0", "zlib", "A compression/decompression Library"},
		{"apk-tools", "2.14.0-r5", "apk-tools", "Alpine Package Keeper - package manager for alpine"},
	} {
		sum := sha1.Sum([]byte(p.name + p.version))
		fmt.Fprintf(&b, "C:Q1%s\nP:%s\nV:%s\nA:x86_64\nS:4096\nI:8192\nT:%s\nU:https://alpinelinux.org\nL:MIT\no:%s\nm:Natanael Copa <ncopa@alpinelinux.org>\nt:1700000000\nc:0000000000000000000000000000000000000000\n\n",
			base64.StdEncoding.EncodeToString(sum[:]), p.name, p.version, p.desc, p.origin)
	}
	return []byte(b.String())
}

// alpineAdvisory is an OSV advisory of Alpine's security database for one package (a source package:
// an origin) in the given releases, each with the version that fixes it there.
func alpineAdvisory(id, pkg, vector string, fixed map[string]string) string {
	var affected []string
	for release, version := range fixed {
		affected = append(affected, fmt.Sprintf(`{"package": {"ecosystem": %q, "name": %q, "purl": "pkg:apk/alpine/%s?arch=source"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": %q}]}]}`, release, pkg, pkg, version))
	}
	slices.Sort(affected)
	cve := strings.TrimPrefix(id, "ALPINE-")
	return fmt.Sprintf(`{"id": %q, "upstream": [%q], "modified": "2026-11-01T00:00:00Z", "published": "2026-10-01T00:00:00Z",
  "details": "A flaw in %s.", "severity": [{"type": "CVSS_V3", "score": %q}],
  "affected": [%s],
  "references": [{"type": "ADVISORY", "url": "https://security.alpinelinux.org/vuln/%s"}]}`, id, cve, pkg, vector, strings.Join(affected, ", "), cve)
}

const (
	cvssCritical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	cvssHigh     = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" // 7.5
	cvssMedium   = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N" // 5.4
	cvssLow      = "CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:U/C:L/I:N/A:N" // 1.9
)

// TestScanAlpineImage pushes with crane Alpine 3.19 and 3.20 images built from an apk installed database
// and imports OSV advisories of Alpine's ecosystems for their origins (source packages). On demand, with
// the aws CLI: the 3.19 image's libcrypto3 and libssl3 (origin openssl) have the advisory's CVE, named by
// their own package name and version, with its severity from the CVSS vector; an advisory of musl fixed
// before its version and advisories of another release find nothing. boto3's paginator, in pages smaller
// than the findings, returns each finding once. On push: the 3.20 image matches its release's advisory
// only. The scan's ECR Image Scan event reaches a webhook with the counts, and `aws cloudtrail
// lookup-events` shows the StartImageScan call.
func TestScanAlpineImage(t *testing.T) {
	crane := tool(t, "crane")
	rcv := newHookReceiver(t)
	s := startServer(t, t.TempDir(), "--webhooks", hookTarget(rcv))
	work := t.TempDir()

	// CVE-2099-40001 in openssl, fixed in 3.19 by 3.1.4-r5 and in 3.20 before its 3.3.0-r2; six more of
	// openssl in 3.19 (for pages); one of musl fixed before the 3.19 image's version; one of busybox in
	// 3.20 only (the 3.19 image's busybox is older than its fix, but another release's).
	advisories := filepath.Join(work, "alpine")
	os.MkdirAll(advisories, 0o755)
	write := func(id, doc string) { os.WriteFile(filepath.Join(advisories, id+".json"), []byte(doc), 0o644) }
	write("ALPINE-CVE-2099-40001", alpineAdvisory("ALPINE-CVE-2099-40001", "openssl", cvssCritical,
		map[string]string{"Alpine:v3.19": "3.1.4-r5", "Alpine:v3.20": "3.3.0-r0"}))
	for i := range 6 {
		id := fmt.Sprintf("ALPINE-CVE-2099-4011%d", i)
		write(id, alpineAdvisory(id, "openssl", cvssMedium, map[string]string{"Alpine:v3.19": "3.1.4-r2"}))
	}
	write("ALPINE-CVE-2099-40002", alpineAdvisory("ALPINE-CVE-2099-40002", "musl", cvssCritical, map[string]string{"Alpine:v3.19": "1.2.3-r0"}))
	write("ALPINE-CVE-2099-40003", alpineAdvisory("ALPINE-CVE-2099-40003", "busybox", cvssLow, map[string]string{"Alpine:v3.20": "1.36.1-r30"}))
	if got := s.wharf("scan-db", "import", advisories); !strings.HasPrefix(got, "read 9 advisories, 9 new or updated") {
		t.Fatalf("scan-db import: %s", got)
	}

	s.aws("ecr", "create-repository", "--repository-name", "scan/alpine")
	s.login()
	ref := s.addr + "/scan/alpine"
	run(t, crane, "append", "--insecure", "-t", ref+":3.19", "-f", writeLayer(t, work, "alpine319", map[string][]byte{
		"etc/os-release":       []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.0\nPRETTY_NAME=\"Alpine Linux v3.19\"\n"),
		"lib/apk/db/installed": apkInstalled("3.1.4-r1", "1.36.1-r15"),
	}))
	d319 := strings.TrimSpace(run(t, crane, "digest", "--insecure", ref+":3.19"))

	s.aws("ecr", "start-image-scan", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.19")
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.19")
	var res scanResult
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.19"), &res)
	if res.ImageScanStatus.Status != "COMPLETE" || len(res.ImageScanFindings.Findings) != 14 ||
		!maps.Equal(res.ImageScanFindings.FindingSeverityCounts, map[string]int{"CRITICAL": 2, "MEDIUM": 12}) {
		t.Fatalf("describe-image-scan-findings: %+v", res)
	}
	var withCVE []string
	for _, f := range res.ImageScanFindings.Findings {
		attrs := f.attributes()
		if f.Name != "CVE-2099-40001" && !strings.HasPrefix(f.Name, "CVE-2099-4011") ||
			attrs["package_version"] != "3.1.4-r1" || attrs["package_name"] != "libcrypto3" && attrs["package_name"] != "libssl3" {
			t.Errorf("finding: %+v", f)
		}
		if f.Name != "CVE-2099-40001" {
			continue
		}
		withCVE = append(withCVE, attrs["package_name"])
		if f.Severity != "CRITICAL" || f.URI != "https://security.alpinelinux.org/vuln/CVE-2099-40001" ||
			attrs["CVSS3_VECTOR"] != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" || attrs["CVSS3_SCORE"] != "9.8" {
			t.Errorf("finding: %+v", f)
		}
	}
	slices.Sort(withCVE)
	if !slices.Equal(withCVE, []string{"libcrypto3", "libssl3"}) {
		t.Fatalf("CVE-2099-40001 found in %q, want libcrypto3 and libssl3", withCVE)
	}

	// boto3's paginator, four findings a page. (The aws CLI's --page-size is no test of paging here: it
	// merges the pages with botocore's build_full_result, where imageScanFindings is also a non-aggregate
	// key, and so answers the first page's findings, against ECR too.)
	script := filepath.Join(work, "pages.py")
	os.WriteFile(script, []byte(boto3ScanPages), 0o644)
	if out, err := runEnv(t, s.awsEnv(), nil, tool(t, "python3"), script, "scan/alpine", "3.19", "4", "14"); err != nil || !strings.Contains(out, "4 pages, 14 findings") {
		t.Fatalf("boto3 paginator: %v\n%s", err, out)
	}

	// On push: Alpine 3.20, whose openssl has CVE-2099-40001 fixed and whose busybox has CVE-2099-40003.
	s.aws("ecr", "put-image-scanning-configuration", "--repository-name", "scan/alpine", "--image-scanning-configuration", "scanOnPush=true")
	run(t, crane, "append", "--insecure", "-t", ref+":3.20", "-f", writeLayer(t, work, "alpine320", map[string][]byte{
		"etc/os-release":       []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.0\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"),
		"lib/apk/db/installed": apkInstalled("3.3.0-r2", "1.36.1-r29"),
	}))
	s.aws("ecr", "wait", "image-scan-complete", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.20")
	res = scanResult{}
	jsonOf(t, s.aws("ecr", "describe-image-scan-findings", "--repository-name", "scan/alpine", "--image-id", "imageTag=3.20"), &res)
	var found []string
	for _, f := range res.ImageScanFindings.Findings {
		a := f.attributes()
		found = append(found, f.Name+" "+f.Severity+" "+a["package_name"]+" "+a["package_version"]+" "+a["CVSS3_SCORE"])
	}
	slices.Sort(found)
	if want := []string{"CVE-2099-40003 LOW busybox 1.36.1-r29 1.9", "CVE-2099-40003 LOW busybox-binsh 1.36.1-r29 1.9"}; res.ImageScanStatus.Status != "COMPLETE" || !slices.Equal(found, want) {
		t.Fatalf("3.20: %s %q, want %q", res.ImageScanStatus.Status, found, want)
	}

	// The scan's event, as EventBridge delivers ECR's.
	ev := rcv.waitForScan(d319, 20*time.Second)
	d := detail(ev)
	if ev["detail-type"] != "ECR Image Scan" || ev["source"] != "aws.ecr" || d["scan-status"] != "COMPLETE" || d["repository-name"] != "scan/alpine" ||
		fmt.Sprint(d["finding-severity-counts"]) != "map[CRITICAL:2 MEDIUM:12]" || fmt.Sprint(d["image-tags"]) != "[3.19]" ||
		fmt.Sprint(ev["resources"]) != "[arn:aws:ecr:us-east-1:000000000000:repository/scan/alpine]" {
		t.Errorf("scan event %v", ev)
	}

	// The audit trail has the request for the scan.
	started := lookup(t, s.awsEnv(), "http://"+s.addr, "EventName", "StartImageScan")
	if len(started) != 1 || started[0].Username != "admin" || started[0].ReadOnly != "false" ||
		len(started[0].Resources) != 1 || started[0].Resources[0].ResourceName != "scan/alpine" {
		t.Fatalf("StartImageScan events: %+v", started)
	}
	checkRecord(t, started[0], map[string]any{"eventSource": "ecr.amazonaws.com", "eventType": "AwsApiCall",
		"requestParameters.repositoryName": "scan/alpine", "requestParameters.imageId.imageTag": "3.19",
		"responseElements.imageId.imageDigest": d319, "responseElements.imageScanStatus.status": "IN_PROGRESS"})

	// And the results of both scans, the one on request and the one on push, by ECR's service principal.
	var scans []trailEvent
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if scans = lookup(t, s.awsEnv(), "http://"+s.addr, "EventName", "ImageScan"); len(scans) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(scans) != 2 {
		t.Fatalf("ImageScan events: %+v", scans)
	}
	results := map[string]trailEvent{}
	for _, ev := range scans {
		results[fmt.Sprint(member(ev.record, "responseElements.imageId.imageDigest"))] = ev
	}
	rec, ok := results[d319]
	if !ok {
		t.Fatalf("no ImageScan record of %s: %+v", d319, scans)
	}
	checkRecord(t, rec, map[string]any{"userIdentity.type": "AWSService", "userIdentity.invokedBy": "ecr.amazonaws.com",
		"requestParameters.repositoryName": "scan/alpine", "responseElements.imageScanStatus.status": "COMPLETE",
		"responseElements.imageScanFindingsSummary.findingSeverityCounts.CRITICAL": float64(2),
		"responseElements.imageScanFindingsSummary.findingSeverityCounts.MEDIUM":   float64(12)})
}

// scanResult is what describe-image-scan-findings answers for a basic scan.
type scanResult struct {
	ImageScanStatus   struct{ Status, Description string }
	ImageScanFindings struct {
		ImageScanCompletedAt, VulnerabilitySourceUpdatedAt any
		FindingSeverityCounts                              map[string]int
		Findings                                           []scanFinding
	}
}

type scanFinding struct {
	Name, URI, Severity string
	Attributes          []struct{ Key, Value string }
}

func (f scanFinding) attributes() map[string]string {
	m := map[string]string{}
	for _, a := range f.Attributes {
		m[a.Key] = a.Value
	}
	return m
}

// waitForScan waits until an ECR Image Scan event of the image arrived and returns it.
func (r *hookReceiver) waitForScan(digest string, within time.Duration) map[string]any {
	r.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.mu.Lock()
		for _, ev := range r.events {
			if ev["detail-type"] == "ECR Image Scan" && detail(ev)["image-digest"] == digest {
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
	}
	r.t.Fatalf("no scan event for %s within %s; got %v", digest, within, r.events)
	return nil
}

// boto3ScanPages pages through an image's findings with boto3's paginator (repository, tag, page size,
// the number of findings expected): every finding once, every page but the last full.
const boto3ScanPages = `
import sys
import boto3
repo, tag, size, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ecr = boto3.client("ecr")
pages = list(ecr.get_paginator("describe_image_scan_findings").paginate(
    repositoryName=repo, imageId={"imageTag": tag}, PaginationConfig={"PageSize": size}))
seen = []
for i, p in enumerate(pages):
    assert p["imageScanStatus"]["status"] == "COMPLETE", p
    findings = p["imageScanFindings"]["findings"]
    assert len(findings) == size or i == len(pages) - 1, (i, len(findings))
    assert sum(p["imageScanFindings"]["findingSeverityCounts"].values()) == want, p["imageScanFindings"]
    for f in findings:
        attrs = {a["key"]: a["value"] for a in f["attributes"]}
        seen.append((f["name"], attrs["package_name"], attrs["package_version"]))
assert len(seen) == want and len(set(seen)) == want, seen
assert len(pages) == -(-want // size), len(pages)
print("%d pages, %d findings" % (len(pages), len(seen)))
`
