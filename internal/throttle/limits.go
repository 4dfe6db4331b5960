package throttle

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Limit is a bucket's sustained rate, in calls per second, and its burst, the calls it holds when full.
// A rate of 0 is no limit.
type Limit struct {
	Rate  float64 `json:"rate"`
	Burst float64 `json:"burst"`
}

// Defaults are ECR's current default rate quotas, per account and region (the Service Quotas console's
// "Rate of … requests"). ECR states no burst for them today; a bucket holds one second of its rate, and
// PutImage the 40 its older quota table gave pushes. Actions ECR publishes no quota for get Wharf's own
// ("ecr:*"); IAM publishes none either. STS allows 600 requests per second per account and region.
// CloudTrail's LookupEvents 2, here with a burst of 10: the pages of a listing come one after another.
var Defaults = map[string]Limit{
	"ecr:GetAuthorizationToken":       {500, 500},
	"ecr:BatchCheckLayerAvailability": {1000, 1000},
	"ecr:BatchGetImage":               {2000, 2000},
	"ecr:GetDownloadUrlForLayer":      {3000, 3000},
	"ecr:InitiateLayerUpload":         {100, 100},
	"ecr:UploadLayerPart":             {500, 500},
	"ecr:CompleteLayerUpload":         {100, 100},
	"ecr:PutImage":                    {10, 40},
	"ecr:*":                           {100, 200},
	"iam:*":                           {50, 100},
	"sts:*":                           {600, 600},
	"cloudtrail:LookupEvents":         {2, 10},
}

// Limits are the limits of every account: Defaults, under the settings' defaults for every account,
// under the settings of each account.
type Limits struct {
	// Default applies to every account; Accounts to one each. Keys are actions ("ecr:PutImage"), a
	// service's actions ("ecr:*") or every action ("*").
	Default  map[string]Limit
	Accounts map[string]map[string]Limit
}

// For is the limit of an account's action: the most specific setting of the account, else of every
// account, else ECR's default.
func (ls *Limits) For(account, action string) Limit {
	keys := [3]string{action, service(action) + ":*", "*"}
	for _, m := range []map[string]Limit{ls.Accounts[account], ls.Default, Defaults} {
		for _, k := range keys {
			if l, ok := m[k]; ok {
				return l
			}
		}
	}
	return Limit{}
}

// ParseLimits reads the throttle setting: a JSON object whose keys are "default" (every account) or an
// account id, each an object of actions to limits, as
//
//	{"default": {"ecr:GetAuthorizationToken": {"rate": 20, "burst": 200}},
//	 "111122223333": {"ecr:*": {"rate": 0}}}
//
// A burst left out is the rate (at least 1); a rate of 0 lifts the limit. "" is ECR's defaults.
func ParseLimits(s string) (*Limits, error) {
	ls := &Limits{Accounts: map[string]map[string]Limit{}}
	if strings.TrimSpace(s) == "" {
		return ls, nil
	}
	var raw map[string]map[string]Limit
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("throttle limits: %w", err)
	}
	for owner, m := range raw {
		if owner != "default" && !isAccountID(owner) {
			return nil, fmt.Errorf("throttle limits: %q is neither \"default\" nor a 12-digit account id", owner)
		}
		for action, l := range m {
			if action != "*" && (!strings.Contains(action, ":") || strings.HasSuffix(action, ":")) {
				return nil, fmt.Errorf("throttle limits of %s: %q is not an action (ecr:PutImage), a service's actions (ecr:*) or *", owner, action)
			}
			if l.Rate < 0 || l.Burst < 0 {
				return nil, fmt.Errorf("throttle limits of %s: %s has a negative rate or burst", owner, action)
			}
			if l.Burst == 0 {
				l.Burst = max(l.Rate, 1)
			}
			m[action] = l
		}
		if owner == "default" {
			ls.Default = m
		} else {
			ls.Accounts[owner] = m
		}
	}
	return ls, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
