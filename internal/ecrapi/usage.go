package ecrapi

import (
	"context"

	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// DescribeUsage is Wharf's extension of the ECR API that reports storage, pulls and estimated monthly costs
// (registry.Service.Usage). It is authorized as DescribeRepositories is: without repositoryNames, on all
// the registry's repositories (ecr:DescribeUsage on repository/*), paged; with repositoryNames (at most
// 100, no paging), on each repository named. The registry's totals, a pass over all its images, come only
// when asked for (includeTotals) and without repositoryNames: a page of repositories stays cheap.

type describeUsageInput struct {
	RegistryID      string   `json:"registryId"`
	RepositoryNames []string `json:"repositoryNames"`
	Days            *int     `json:"days"`
	IncludeTotals   bool     `json:"includeTotals"`
	NextToken       *string  `json:"nextToken"`
	MaxResults      *int     `json:"maxResults"`
}

type costJSON struct {
	Storage  float64 `json:"storage"`
	Transfer float64 `json:"transfer"`
	Total    float64 `json:"total"`
	Currency string  `json:"currency"`
}

type dayJSON struct {
	Day         string `json:"day"` // 2006-01-02, UTC
	Pulls       int64  `json:"pulls"`
	BytesPulled int64  `json:"bytesPulled"`
}

type figuresJSON struct {
	StorageBytes         int64     `json:"storageBytes"`
	Pulls                int64     `json:"pulls"`
	BytesPulled          int64     `json:"bytesPulled"`
	Daily                []dayJSON `json:"daily"`
	EstimatedMonthlyCost costJSON  `json:"estimatedMonthlyCost"`
}

type repositoryUsageJSON struct {
	RepositoryName    string `json:"repositoryName"`
	ImageCount        int    `json:"imageCount"`
	TagCount          int    `json:"tagCount"`
	SharedBytes       int64  `json:"sharedBytes"`
	StorageShareBytes int64  `json:"storageShareBytes"`
	figuresJSON
}

type totalsJSON struct {
	RepositoryCount int `json:"repositoryCount"`
	figuresJSON
}

func figures(f registry.UsageFigures) figuresJSON {
	out := figuresJSON{StorageBytes: f.StorageBytes, Pulls: f.Pulls, BytesPulled: f.BytesPulled, Daily: make([]dayJSON, len(f.Daily)),
		EstimatedMonthlyCost: costJSON{f.Cost.Storage, f.Cost.Transfer, f.Cost.Total, "USD"}}
	for i, d := range f.Daily {
		out.Daily[i] = dayJSON{d.Day.Format("2006-01-02"), d.Pulls, d.BytesPulled}
	}
	return out
}

// UsageJSON is DescribeUsage's answer to u; the CLI prints the same.
func UsageJSON(u *registry.Usage, p registry.Prices, next *string) map[string]any {
	repos := make([]repositoryUsageJSON, len(u.Repositories))
	for i, r := range u.Repositories {
		repos[i] = repositoryUsageJSON{RepositoryName: r.Name, ImageCount: r.Images, TagCount: r.Tags, SharedBytes: r.SharedBytes,
			StorageShareBytes: int64(r.ShareBytes + 0.5), figuresJSON: figures(r.UsageFigures)}
	}
	out := map[string]any{"registryId": u.RegistryID, "days": u.Days, "since": u.Since.Format("2006-01-02"),
		"prices":       map[string]any{"storagePerGBMonth": p.StorageGBMonth, "transferOutPerGB": p.TransferOutGB, "currency": "USD"},
		"repositories": repos}
	if u.Totals != nil {
		out["totals"] = totalsJSON{u.RepositoryCount, figures(*u.Totals)}
	}
	if next != nil {
		out["nextToken"] = *next
	}
	return out
}

func init() {
	registerWith("DescribeUsage", func(h *Handler, c *pipeline.Call, in *describeUsageInput) ([]pipeline.Target, error) {
		if err := useRegistry(c, in.RegistryID); err != nil {
			return nil, err
		}
		if in.IncludeTotals && len(in.RepositoryNames) > 0 {
			return nil, invalidParameter("Invalid parameter: includeTotals cannot be combined with repositoryNames")
		}
		if in.Days != nil && (*in.Days < 1 || *in.Days > 366) {
			return nil, invalidParameter("Invalid parameter at 'days' failed to satisfy constraint: 'Member must have value less than or equal to 366 and greater than or equal to 1'")
		}
		return namedRepositories(c, "ecr:DescribeUsage", in.RepositoryNames, in.NextToken != nil || in.MaxResults != nil)
	}, func(h *Handler, ctx context.Context, c *pipeline.Call, in *describeUsageInput) (any, error) {
		opt := registry.UsageOptions{Repositories: in.RepositoryNames}
		if in.Days != nil {
			opt.Days = *in.Days
		}
		scope := "DescribeUsage/" + c.RegistryID
		if len(opt.Repositories) == 0 {
			n, after, err := h.Paging.page(scope, in.MaxResults, in.NextToken)
			if err != nil {
				return nil, err
			}
			opt.Max, opt.After, opt.Totals = n, after, in.IncludeTotals
		}
		u, err := h.Service.Usage(ctx, c.RegistryID, opt)
		if err != nil {
			return nil, err
		}
		var last string
		if n := len(u.Repositories); n > 0 {
			last = u.Repositories[n-1].Name
		}
		return UsageJSON(u, h.Service.Prices(), h.Paging.next(scope, u.More, last)), nil
	})
}
