package ecrapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
	"github.com/wharf-dev/wharf/internal/vulndb"
)

type imageScanInput struct {
	repositoryRef
	ImageID    imageID `json:"imageId"`
	NextToken  *string `json:"nextToken"`
	MaxResults *int    `json:"maxResults"`
}

type scanStatusJSON struct {
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
}

type attributeJSON struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

type findingJSON struct {
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	URI         string          `json:"uri,omitempty"`
	Severity    string          `json:"severity"`
	Attributes  []attributeJSON `json:"attributes"`
}

type cvssJSON struct {
	BaseScore     float64 `json:"baseScore"`
	ScoringVector string  `json:"scoringVector"`
	Source        string  `json:"source"`
	Version       string  `json:"version"`
}

type vulnerablePackageJSON struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	FixedInVersion  string `json:"fixedInVersion,omitempty"`
	PackageManager  string `json:"packageManager,omitempty"`
	FilePath        string `json:"filePath,omitempty"`
	SourceLayerHash string `json:"sourceLayerHash,omitempty"`
}

type enhancedFindingJSON struct {
	AwsAccountID                string           `json:"awsAccountId"`
	Description                 string           `json:"description,omitempty"`
	FindingArn                  string           `json:"findingArn"`
	FirstObservedAt             float64          `json:"firstObservedAt"`
	LastObservedAt              float64          `json:"lastObservedAt"`
	UpdatedAt                   float64          `json:"updatedAt"`
	PackageVulnerabilityDetails map[string]any   `json:"packageVulnerabilityDetails"`
	Remediation                 map[string]any   `json:"remediation"`
	Resources                   []map[string]any `json:"resources"`
	Score                       float64          `json:"score,omitempty"`
	ScoreDetails                map[string]any   `json:"scoreDetails,omitempty"`
	Severity                    string           `json:"severity"`
	Status                      string           `json:"status"`
	Title                       string           `json:"title"`
	Type                        string           `json:"type"`
	FixAvailable                string           `json:"fixAvailable"`
}

type scanFindingsJSON struct {
	ImageScanCompletedAt         *float64              `json:"imageScanCompletedAt,omitempty"`
	VulnerabilitySourceUpdatedAt *float64              `json:"vulnerabilitySourceUpdatedAt,omitempty"`
	FindingSeverityCounts        map[string]int        `json:"findingSeverityCounts"`
	Findings                     []findingJSON         `json:"findings,omitempty"`
	EnhancedFindings             []enhancedFindingJSON `json:"enhancedFindings,omitempty"`
}

type scanningRuleJSON struct {
	ScanFrequency     string                      `json:"scanFrequency"`
	RepositoryFilters []registry.RepositoryFilter `json:"repositoryFilters"`
}

type registryScanningJSON struct {
	ScanType string             `json:"scanType"`
	Rules    []scanningRuleJSON `json:"rules"`
}

type putRegistryScanningInput struct {
	ScanType string             `json:"scanType"`
	Rules    []scanningRuleJSON `json:"rules"`
}

type batchScanningInput struct {
	RepositoryNames []string `json:"repositoryNames"`
}

func optionalEpoch(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	v := epoch(t)
	return &v
}

// imageRef checks an input's imageId, with ECR's messages.
func imageRef(id imageID) (registry.ImageRef, error) {
	r, code, reason := ref(id)
	if code != "" {
		return r, invalidParameter(reason)
	}
	return r, nil
}

// imageNotFound is ECR's ImageNotFoundException for an image id as the caller gave it.
func imageNotFound(err error, id imageID, name, registryID string) error {
	if errors.Is(err, registry.ErrManifestUnknown) {
		return &awsError{Code: "ImageNotFoundException", Status: http.StatusBadRequest, Message: fmt.Sprintf(
			"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", id, name, registryID)}
	}
	if registry.KindOf(err) == registry.KindScanNotFound {
		return &awsError{Code: "ScanNotFoundException", Status: http.StatusBadRequest, Message: fmt.Sprintf(
			"Image scan does not exist for the image with '%s' in the repository with name '%s' in the registry with id '%s'", id, name, registryID)}
	}
	return err
}

func cvssMajor(f vulndb.Finding) string {
	v := f.CVSSVersion
	if v == "" {
		if rest, ok := strings.CutPrefix(f.CVSSVector, "CVSS:"); ok {
			v, _, _ = strings.Cut(rest, "/")
		} else if f.CVSSVector != "" {
			v = "2"
		}
	}
	major, _, _ := strings.Cut(v, ".")
	return major
}

// basicFinding renders a finding as basic scanning reports it.
func basicFinding(f vulndb.Finding) findingJSON {
	desc := f.Description
	if desc == "" {
		desc = f.Summary
	}
	out := findingJSON{Name: f.Name, Description: desc, URI: f.URI, Severity: f.Severity, Attributes: []attributeJSON{
		{Key: "package_version", Value: f.Package.Version},
		{Key: "package_name", Value: f.Package.Name},
	}}
	if f.CVSSVector != "" {
		major := cvssMajor(f)
		out.Attributes = append(out.Attributes, attributeJSON{Key: "CVSS" + major + "_VECTOR", Value: f.CVSSVector})
		if f.CVSSScore > 0 {
			out.Attributes = append(out.Attributes, attributeJSON{Key: "CVSS" + major + "_SCORE", Value: strconv.FormatFloat(f.CVSSScore, 'f', -1, 64)})
		}
	}
	return out
}

// packageManager names a package's ecosystem as enhanced scanning does.
func packageManager(ecosystem string) string {
	name, _, _ := strings.Cut(ecosystem, ":")
	switch name {
	case "Go":
		return "GOBINARY"
	case "npm":
		return "NPM"
	case "PyPI":
		return "PYTHONPKG"
	case "Maven":
		return "JAR"
	case "":
		return ""
	}
	return "OS"
}

// enhancedFinding renders a finding as enhanced scanning reports it.
func (h *Handler) enhancedFinding(c *pipeline.Call, name string, img *registry.ImageDetail, scan *registry.ImageScan, f vulndb.Finding) enhancedFindingJSON {
	id := sha256.Sum256([]byte(img.Digest.String() + "\x00" + f.AdvisoryID + "\x00" + f.Package.Name + "\x00" + f.Package.Version))
	desc := f.Description
	if desc == "" {
		desc = f.Summary
	}
	fixed := "NO"
	pkg := vulnerablePackageJSON{Name: f.Package.Name, Version: f.Package.Version, PackageManager: packageManager(f.Package.Ecosystem), FilePath: f.Package.Path}
	if len(f.FixedVersions) > 0 {
		fixed, pkg.FixedInVersion = "YES", f.FixedVersions[0]
	}
	details := map[string]any{
		"vulnerabilityId":        f.Name,
		"source":                 f.AdvisoryID,
		"sourceUrl":              f.URI,
		"vendorSeverity":         f.Severity,
		"referenceUrls":          nonNil(f.References),
		"relatedVulnerabilities": nonNil(f.Aliases),
		"vulnerablePackages":     []vulnerablePackageJSON{pkg},
		"cvss":                   []cvssJSON{},
	}
	if !f.Published.IsZero() {
		details["vendorCreatedAt"] = epoch(f.Published)
	}
	if !f.Modified.IsZero() {
		details["vendorUpdatedAt"] = epoch(f.Modified)
	}
	out := enhancedFindingJSON{
		AwsAccountID: c.RegistryID, Description: desc,
		FindingArn:      fmt.Sprintf("arn:aws:ecr:%s:%s:finding/%s", h.Region, c.RegistryID, hex.EncodeToString(id[:16])),
		FirstObservedAt: epoch(scan.CompletedAt), LastObservedAt: epoch(scan.CompletedAt), UpdatedAt: epoch(scan.CompletedAt),
		PackageVulnerabilityDetails: details,
		Remediation:                 map[string]any{"recommendation": map[string]any{"text": remediation(f)}},
		Resources: []map[string]any{{
			"id":   fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s/%s", h.Region, c.RegistryID, name, img.Digest),
			"type": "AWS_ECR_CONTAINER_IMAGE",
			"details": map[string]any{"awsEcrContainerImage": map[string]any{
				"imageHash": img.Digest.String(), "imageTags": nonNil(img.Tags), "registry": c.RegistryID,
				"repositoryName": name, "pushedAt": seconds(img.PushedAt)}},
		}},
		Severity: f.Severity, Status: "ACTIVE", Title: f.Name + " - " + f.Package.Name, Type: "PACKAGE_VULNERABILITY", FixAvailable: fixed,
	}
	if f.CVSSVector != "" {
		v := f.CVSSVersion
		if v == "" {
			v = cvssMajor(f)
		}
		details["cvss"] = []cvssJSON{{BaseScore: f.CVSSScore, ScoringVector: f.CVSSVector, Source: f.AdvisoryID, Version: v}}
		out.Score = f.CVSSScore
		out.ScoreDetails = map[string]any{"cvss": map[string]any{"score": f.CVSSScore, "scoringVector": f.CVSSVector, "scoreSource": f.AdvisoryID, "version": v, "adjustments": []any{}}}
	}
	return out
}

func remediation(f vulndb.Finding) string {
	if len(f.FixedVersions) == 0 {
		return "None Provided"
	}
	return fmt.Sprintf("Upgrade %s to version %s or later.", f.Package.Name, f.FixedVersions[0])
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scanSummary is an image's imageScanStatus and imageScanFindingsSummary, as DescribeImages shows them.
func scanSummary(scan *registry.ImageScan) (*scanStatusJSON, *scanFindingsJSON) {
	if scan == nil {
		return nil, nil
	}
	status := &scanStatusJSON{Status: scan.Status, Description: scan.Description}
	if scan.Status != registry.ScanComplete {
		return status, nil
	}
	counts := scan.SeverityCounts
	if counts == nil {
		counts = map[string]int{}
	}
	return status, &scanFindingsJSON{ImageScanCompletedAt: optionalEpoch(scan.CompletedAt),
		VulnerabilitySourceUpdatedAt: optionalEpoch(scan.SourceUpdatedAt), FindingSeverityCounts: counts}
}

func init() {
	register("StartImageScan", func(h *Handler, ctx context.Context, c *pipeline.Call, in *imageScanInput) (any, error) {
		name := c.Target().Repository
		r, err := imageRef(in.ImageID)
		if err != nil {
			return nil, err
		}
		img, scan, err := h.Service.StartImageScan(ctx, c.RegistryID, name, r)
		if err != nil {
			return nil, imageNotFound(err, in.ImageID, name, c.RegistryID)
		}
		return map[string]any{"registryId": c.RegistryID, "repositoryName": name,
			"imageId":         imageID{ImageDigest: img.Digest.String(), ImageTag: in.ImageID.ImageTag},
			"imageScanStatus": scanStatusJSON{Status: scan.Status, Description: scan.Description}}, nil
	})

	register("DescribeImageScanFindings", func(h *Handler, ctx context.Context, c *pipeline.Call, in *imageScanInput) (any, error) {
		name := c.Target().Repository
		r, err := imageRef(in.ImageID)
		if err != nil {
			return nil, err
		}
		// A token names the image and the scan it pages: one of another image, or of an older scan, is refused.
		scope := "DescribeImageScanFindings/" + c.RegistryID + "/" + name
		n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
		if err != nil {
			return nil, err
		}
		var bound string
		if after != "" {
			var ok bool
			if bound, after, ok = strings.Cut(after, "#"); !ok {
				return nil, invalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
			}
		}
		res, err := h.Service.ImageScanFindings(ctx, c.RegistryID, name, r, after, n)
		if err != nil {
			return nil, imageNotFound(err, in.ImageID, name, c.RegistryID)
		}
		scanKey := fmt.Sprintf("%s@%d", res.Image.Digest, res.Scan.StartedAt.UnixNano())
		if bound != "" && bound != scanKey {
			return nil, invalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
		}
		next := h.Paging.next(scope, res.Next != "", scanKey+"#"+res.Next)
		out := map[string]any{"registryId": c.RegistryID, "repositoryName": name,
			"imageId":         imageID{ImageDigest: res.Image.Digest.String(), ImageTag: in.ImageID.ImageTag},
			"imageScanStatus": scanStatusJSON{Status: res.Scan.Status, Description: res.Scan.Description}}
		if next != nil {
			out["nextToken"] = *next
		}
		if _, summary := scanSummary(res.Scan); summary != nil {
			for _, f := range res.Findings {
				if res.Scan.ScanType == registry.ScanTypeEnhanced {
					summary.EnhancedFindings = append(summary.EnhancedFindings, h.enhancedFinding(c, name, res.Image, res.Scan, f))
				} else {
					summary.Findings = append(summary.Findings, basicFinding(f))
				}
			}
			if summary.Findings == nil && res.Scan.ScanType != registry.ScanTypeEnhanced {
				summary.Findings = []findingJSON{}
			}
			out["imageScanFindings"] = summary
		} else {
			// Until a scan completes ECR answers an empty list (the aws CLI's pagination needs the member).
			out["imageScanFindings"] = map[string]any{"findings": []any{}}
		}
		return out, nil
	})

	register("PutRegistryScanningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *putRegistryScanningInput) (any, error) {
		cfg := registry.ScanningConfiguration{ScanType: in.ScanType}
		if cfg.ScanType == "" {
			cfg.ScanType = registry.ScanTypeBasic
		}
		for _, r := range in.Rules {
			cfg.Rules = append(cfg.Rules, registry.ScanningRule{ScanFrequency: r.ScanFrequency, RepositoryFilters: r.RepositoryFilters})
		}
		if err := h.Service.PutScanningConfiguration(ctx, c.RegistryID, cfg); err != nil {
			return nil, err
		}
		return map[string]any{"registryScanningConfiguration": scanningConfigurationJSON(cfg)}, nil
	})

	register("GetRegistryScanningConfiguration", func(h *Handler, ctx context.Context, c *pipeline.Call, in *struct{}) (any, error) {
		cfg, _, err := h.Service.ScanningConfiguration(ctx, c.RegistryID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"registryId": c.RegistryID, "scanningConfiguration": scanningConfigurationJSON(cfg)}, nil
	})

	registerWith("BatchGetRepositoryScanningConfiguration", func(h *Handler, c *pipeline.Call, in *batchScanningInput) ([]pipeline.Target, error) {
		const action = "ecr:BatchGetRepositoryScanningConfiguration"
		switch n := len(in.RepositoryNames); {
		case n == 0:
			return nil, invalidParameter("Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have length greater than or equal to 1'")
		case n > 25:
			return nil, invalidParameter("Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have length less than or equal to 25'")
		}
		ts := make([]pipeline.Target, len(in.RepositoryNames))
		for i, n := range in.RepositoryNames {
			if err := registry.ValidateRepositoryName(n); err != nil {
				return nil, err
			}
			ts[i] = pipeline.Repository(action, c.RegistryID, n)
		}
		return ts, nil
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *batchScanningInput) (any, error) {
		found, missing, err := h.Service.RepositoriesScanning(ctx, c.RegistryID, in.RepositoryNames)
		if err != nil {
			return nil, err
		}
		configs := []map[string]any{}
		for _, rs := range found {
			configs = append(configs, map[string]any{
				"repositoryArn":      "arn:aws:ecr:" + h.Region + ":" + rs.Repository.RegistryID + ":repository/" + rs.Repository.Name,
				"repositoryName":     rs.Repository.Name,
				"scanOnPush":         rs.ScanOnPush,
				"scanFrequency":      rs.ScanFrequency,
				"appliedScanFilters": rs.AppliedFilters,
			})
		}
		failures := []map[string]any{}
		for _, n := range missing {
			failures = append(failures, map[string]any{"repositoryName": n, "failureCode": "REPOSITORY_NOT_FOUND",
				"failureReason": fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", n, c.RegistryID)})
		}
		return map[string]any{"scanningConfigurations": configs, "failures": failures}, nil
	})
}

func scanningConfigurationJSON(c registry.ScanningConfiguration) registryScanningJSON {
	out := registryScanningJSON{ScanType: c.ScanType, Rules: []scanningRuleJSON{}}
	for _, r := range c.Rules {
		filters := r.RepositoryFilters
		if filters == nil {
			filters = []registry.RepositoryFilter{}
		}
		out.Rules = append(out.Rules, scanningRuleJSON{ScanFrequency: r.ScanFrequency, RepositoryFilters: filters})
	}
	return out
}
