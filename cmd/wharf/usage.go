package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/wharf-dev/wharf/internal/ecrapi"
	"github.com/wharf-dev/wharf/internal/pipeline"
	"github.com/wharf-dev/wharf/internal/registry"
)

// priceFlags adds the price table of the estimated costs usage reports.
func (c *common) priceFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.prices.StorageGBMonth, "price-storage-gb-month", registry.DefaultPrices.StorageGBMonth,
		"US dollars per GB (2^30 bytes) stored for a month, for usage's estimated costs (default: ECR's us-east-1 list price; no free tier, no tiers)")
	fs.Float64Var(&c.prices.TransferOutGB, "price-transfer-out-gb", registry.DefaultPrices.TransferOutGB,
		"US dollars per GB (2^30 bytes) pulled, for usage's estimated costs (default: ECR's us-east-1 data transfer out list price; no free tier, no tiers)")
}

// usageCmd prints storage, pulls and estimated monthly costs, as the ECR API's DescribeUsage reports them
// and authorized as it is.
func usageCmd(args []string) error {
	fs, c := commonFlags("usage")
	c.priceFlags(fs)
	account := fs.String("account", "", "the account (registry) to report (default: --account-id)")
	repos := fs.String("repository", "", "only these repositories, comma-separated (default: all, with the account's totals)")
	days := fs.Int("days", 30, "days of pulls to report, today (UTC) included, 1 to 366")
	format := fs.String("format", "table", "output format: table, json or csv")
	daily := fs.Bool("daily", false, "csv: one row per repository and day with pulls instead of one per repository")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return usageError(fs, "--format: %q is not table, json or csv", *format)
	}
	if *days < 1 || *days > 366 {
		return usageError(fs, "--days: %d is not from 1 to 366", *days)
	}
	acct := c.accountID
	if *account != "" {
		acct = *account
	}
	opt := registry.UsageOptions{Days: *days, Max: 1000}
	targets := []pipeline.Target{pipeline.Repository("ecr:DescribeUsage", acct, "")}
	if *repos != "" {
		opt.Repositories, targets = strings.Split(*repos, ","), nil
		for _, r := range opt.Repositories {
			targets = append(targets, pipeline.Repository("ecr:DescribeUsage", acct, r))
		}
	} else {
		opt.Totals = true
	}
	app, err := c.open()
	if err != nil {
		return err
	}
	defer app.Close()
	var u *registry.Usage
	err = do(app, acct, "ecr:DescribeUsage", targets, func(ctx context.Context) error {
		for {
			page, err := app.Service.Usage(ctx, acct, opt)
			if err != nil {
				return err
			}
			if u == nil {
				u = page
			} else {
				u.Repositories = append(u.Repositories, page.Repositories...)
			}
			if !page.More {
				return nil
			}
			opt.After, opt.Totals = page.Repositories[len(page.Repositories)-1].Name, false
		}
	})
	if err != nil {
		return err
	}
	prices := app.Service.Prices()
	switch *format {
	case "json":
		e := json.NewEncoder(os.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(ecrapi.UsageJSON(u, prices, nil))
	case "csv":
		return usageCSV(u, *daily)
	}
	return usageTable(u, prices)
}

// totalName names the account's totals in the table and CSV: no repository name has capitals.
const totalName = "TOTAL"

func usageCSV(u *registry.Usage, daily bool) error {
	w := csv.NewWriter(os.Stdout)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	usd := func(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }
	if daily {
		w.Write([]string{"repository", "day", "pulls", "bytes_pulled"})
		row := func(name string, f registry.UsageFigures) {
			for _, d := range f.Daily {
				w.Write([]string{name, d.Day.Format("2006-01-02"), i64(d.Pulls), i64(d.BytesPulled)})
			}
		}
		for _, r := range u.Repositories {
			row(r.Name, r.UsageFigures)
		}
		if u.Totals != nil {
			row(totalName, *u.Totals)
		}
	} else {
		w.Write([]string{"repository", "images", "tags", "storage_bytes", "storage_share_bytes", "shared_bytes", "pulls", "bytes_pulled",
			"storage_cost_usd", "transfer_cost_usd", "total_cost_usd"})
		for _, r := range u.Repositories {
			w.Write([]string{r.Name, strconv.Itoa(r.Images), strconv.Itoa(r.Tags), i64(r.StorageBytes), i64(int64(r.ShareBytes + 0.5)),
				i64(r.SharedBytes), i64(r.Pulls), i64(r.BytesPulled), usd(r.Cost.Storage), usd(r.Cost.Transfer), usd(r.Cost.Total)})
		}
		if t := u.Totals; t != nil {
			w.Write([]string{totalName, "", "", i64(t.StorageBytes), i64(t.StorageBytes), "", i64(t.Pulls), i64(t.BytesPulled),
				usd(t.Cost.Storage), usd(t.Cost.Transfer), usd(t.Cost.Total)})
		}
	}
	w.Flush()
	return w.Error()
}

func usageTable(u *registry.Usage, p registry.Prices) error {
	fmt.Printf("Account %s, pulls of the %d days since %s (UTC); prices $%g per GB-month stored, $%g per GB pulled\n\n",
		u.RegistryID, u.Days, u.Since.Format("2006-01-02"), p.StorageGBMonth, p.TransferOutGB)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "REPOSITORY\tIMAGES\tTAGS\tSTORAGE\tSHARE\tSHARED\tPULLS\tPULLED\tUSD/MONTH\t")
	for _, r := range u.Repositories {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%.2f\t\n", r.Name, r.Images, r.Tags, bytesText(float64(r.StorageBytes)),
			bytesText(r.ShareBytes), bytesText(float64(r.SharedBytes)), r.Pulls, bytesText(float64(r.BytesPulled)), r.Cost.Total)
	}
	if t := u.Totals; t != nil {
		fmt.Fprintf(w, "%s (%d repositories)\t\t\t%s\t%s\t\t%d\t%s\t%.2f\t\n", totalName, u.RepositoryCount, bytesText(float64(t.StorageBytes)),
			bytesText(float64(t.StorageBytes)), t.Pulls, bytesText(float64(t.BytesPulled)), t.Cost.Total)
	}
	return w.Flush()
}

// bytesText is a byte count in binary units: 512 B, 1.5 KiB, 20.0 MiB.
func bytesText(n float64) string {
	if n < 1024 {
		return fmt.Sprintf("%.0f B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
