package main

import (
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/registry"
)

// scanSettings are the settings of image scanning.
type scanSettings struct {
	timeout time.Duration
	rescan  rescanDuration
}

// scanFlags adds the settings of image scanning.
func (c *common) scanFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.scan.timeout, "scan-timeout", 30*time.Minute, "longest one image scan runs before it is FAILED (a scan in progress whose job died is FAILED this long and 5 minutes after it started)")
	c.scan.rescan = rescanDuration(registry.DefaultRescanDuration)
	fs.Var(&c.scan.rescan, "rescan-duration", "how long an image scanned continuously is monitored (re-matched when the vulnerability database changes) after it was last pushed or pulled, a duration or \"lifetime\"; then its scan is SCAN_ELIGIBILITY_EXPIRED")
}

// apply sets the scanning settings of a core's configuration.
func (s scanSettings) apply(cfg *registry.Config) {
	cfg.ScanTimeout, cfg.RescanDuration = s.timeout, time.Duration(s.rescan)
}

// rescanDuration is a duration, or "lifetime" (negative).
type rescanDuration time.Duration

func (d *rescanDuration) String() string {
	if d == nil {
		return ""
	}
	if *d < 0 {
		return "lifetime"
	}
	return time.Duration(*d).String()
}

func (d *rescanDuration) Set(s string) error {
	if strings.EqualFold(s, "lifetime") {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return errors.New(`must be positive, or "lifetime"`)
	}
	*d = rescanDuration(v)
	return nil
}
