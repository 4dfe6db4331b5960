package registry

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store"
)

// PullThroughCacheRule maps the repositories under a prefix to an upstream registry.
type PullThroughCacheRule = store.PullThroughCacheRule

// ECR's names of the upstream registries it knows (upstreamRegistry). A rule whose URL is none of theirs
// is Wharf's own: any registry that speaks the OCI Distribution API.
const (
	UpstreamECR        = "ecr"
	UpstreamECRPublic  = "ecr-public"
	UpstreamQuay       = "quay"
	UpstreamK8s        = "k8s"
	UpstreamDockerHub  = "docker-hub"
	UpstreamGitHub     = "github-container-registry"
	UpstreamAzure      = "azure-container-registry"
	UpstreamGitLab     = "gitlab-container-registry"
	UpstreamChainguard = "chainguard"
)

// credentials says whether an upstream takes a credentialArn.
type credentials int

const (
	credentialsNone credentials = iota
	credentialsOptional
	credentialsRequired
)

// namedUpstream is one of ECR's upstream registries: the hosts of its URL and its credentials.
type namedUpstream struct {
	name        string
	host        func(host string) bool
	credentials credentials
}

var ecrHostRE = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com$`)

func hostIs(h string) func(string) bool { return func(host string) bool { return host == h } }

var namedUpstreams = []namedUpstream{
	{UpstreamDockerHub, hostIs("registry-1.docker.io"), credentialsRequired},
	{UpstreamQuay, hostIs("quay.io"), credentialsOptional},
	{UpstreamK8s, hostIs("registry.k8s.io"), credentialsNone},
	{UpstreamGitHub, hostIs("ghcr.io"), credentialsRequired},
	{UpstreamGitLab, hostIs("registry.gitlab.com"), credentialsRequired},
	{UpstreamAzure, func(h string) bool { return strings.HasSuffix(h, ".azurecr.io") && len(h) > len(".azurecr.io") }, credentialsRequired},
	{UpstreamECRPublic, hostIs("public.ecr.aws"), credentialsNone},
	{UpstreamChainguard, hostIs("cgr.dev"), credentialsRequired},
	{UpstreamECR, ecrHostRE.MatchString, credentialsNone}, // ECR reaches ECR with customRoleArn, not a secret
}

// Bounds of the model's rule members.
const (
	ptcPrefixPattern     = `^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$`
	credentialARNPattern = `^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$`
	maxUpstreamURL       = 2048
)

var (
	ptcPrefixRE     = regexp.MustCompile(ptcPrefixPattern)
	credentialARNRE = regexp.MustCompile(credentialARNPattern)
)

// checkPTCPrefix checks a prefix member (ecrRepositoryPrefix, upstreamRepositoryPrefix) as the model
// constrains it and returns it as rules keep it: without a trailing '/'.
func checkPTCPrefix(prefix, member string) (string, error) {
	switch {
	case len(prefix) < 2:
		return "", validationf(prefix, member, "have length greater than or equal to 2")
	case len(prefix) > 30:
		return "", validationf(prefix, member, "have length less than or equal to 30")
	case !ptcPrefixRE.MatchString(prefix):
		return "", validationf(prefix, member, "satisfy regular expression pattern: "+ptcPrefixPattern)
	}
	return strings.TrimSuffix(prefix, "/"), nil
}

// CheckCredentialARN checks a credentialArn as the model constrains it.
func CheckCredentialARN(arn string) error {
	switch {
	case len(arn) < 50:
		return validationf(arn, "credentialArn", "have length greater than or equal to 50")
	case len(arn) > 612:
		return validationf(arn, "credentialArn", "have length less than or equal to 612")
	case !credentialARNRE.MatchString(arn):
		return validationf(arn, "credentialArn", "satisfy regular expression pattern: "+credentialARNPattern)
	}
	return nil
}

func unsupportedUpstreamURL(u string) error {
	return errf(KindUnsupportedUpstream, "The upstream registry URL %s is invalid. Specify a valid upstream registry URL and try again", u)
}

// Upstream is where a rule's upstream registry is: the base URL of its registry API (scheme and host)
// and the path its URL names, which goes before every repository name there.
type Upstream struct {
	Base *url.URL
	Path string
}

// ParseUpstreamURL reads an upstreamRegistryUrl: host[:port][/path], or https:// or (when allowHTTP)
// http:// followed by that. It returns the upstream and ECR's name of it, "" for another registry.
func ParseUpstreamURL(raw string, allowHTTP bool) (Upstream, string, error) {
	if raw == "" || len(raw) > maxUpstreamURL {
		return Upstream{}, "", unsupportedUpstreamURL(raw)
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		u.Scheme != "https" && (u.Scheme != "http" || !allowHTTP) || strings.ContainsAny(u.Host, " \t") {
		return Upstream{}, "", unsupportedUpstreamURL(raw)
	}
	path := strings.Trim(u.Path, "/")
	if path != "" && ValidateRepositoryName(path) != nil {
		return Upstream{}, "", unsupportedUpstreamURL(raw)
	}
	name := ""
	if u.Scheme == "https" && path == "" && u.Port() == "" {
		for _, n := range namedUpstreams {
			if n.host(strings.ToLower(u.Hostname())) {
				name = n.name
				break
			}
		}
	}
	return Upstream{Base: &url.URL{Scheme: u.Scheme, Host: u.Host}, Path: path}, name, nil
}

func named(name string) namedUpstream {
	for _, n := range namedUpstreams {
		if n.name == name {
			return n
		}
	}
	return namedUpstream{name: "", credentials: credentialsOptional} // another OCI registry
}

func ptcInvalid(format string, args ...any) error {
	return errf(KindInvalidParameter, "Invalid parameter: "+format, args...)
}

// checkRule checks a rule's members against each other and fills in ECR's name of its upstream.
// given is the upstreamRegistry the caller named, "" for none.
func (s *Service) checkRule(r *PullThroughCacheRule, given string) error {
	var err error
	if r.Prefix, err = checkPTCPrefix(r.Prefix, "ecrRepositoryPrefix"); err != nil {
		return err
	}
	if r.UpstreamRepositoryPrefix != "" {
		if r.UpstreamRepositoryPrefix, err = checkPTCPrefix(r.UpstreamRepositoryPrefix, "upstreamRepositoryPrefix"); err != nil {
			return err
		}
	}
	_, name, err := ParseUpstreamURL(r.UpstreamURL, s.cfg.Upstreams.AllowHTTP)
	if err != nil {
		return err
	}
	if given != "" && given != name {
		if !slices.ContainsFunc(namedUpstreams, func(n namedUpstream) bool { return n.name == given }) {
			return validationf(given, "upstreamRegistry", "satisfy enum value set: [ecr, ecr-public, quay, k8s, docker-hub, github-container-registry, azure-container-registry, gitlab-container-registry, chainguard]")
		}
		return errf(KindUnsupportedUpstream, "The upstream registry URL %s is not a URL of the upstream registry %s. Specify a valid upstream registry URL and try again", r.UpstreamURL, given)
	}
	r.UpstreamRegistry = name
	up := named(name)
	switch {
	case r.CredentialARN == "" && up.credentials == credentialsRequired:
		return errf(KindUnsupportedUpstream, "The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN")
	case r.CredentialARN != "" && up.credentials == credentialsNone:
		return ptcInvalid("the upstream registry %s does not take credentials; leave out credentialArn", r.UpstreamURL)
	}
	if r.CredentialARN != "" {
		if err := CheckCredentialARN(r.CredentialARN); err != nil {
			return err
		}
	}
	if r.UpstreamRepositoryPrefix != "" && name != UpstreamECR && name != "" {
		return ptcInvalid("upstreamRepositoryPrefix is supported only with an Amazon ECR upstream registry")
	}
	if r.Prefix == RootPrefix && r.UpstreamRepositoryPrefix != "" && r.UpstreamRepositoryPrefix != RootPrefix {
		return ptcInvalid("an ecrRepositoryPrefix of ROOT takes no upstreamRepositoryPrefix but ROOT")
	}
	if r.Prefix == RootPrefix && name != UpstreamECR && name != "" {
		return ptcInvalid("an ecrRepositoryPrefix of ROOT is supported only with an Amazon ECR upstream registry")
	}
	if len(r.CustomRoleARN) > maxCustomRoleARN {
		return validationf(r.CustomRoleARN, "customRoleArn", "have length less than or equal to 2048")
	}
	if r.CustomRoleARN != "" {
		if name != UpstreamECR {
			return ptcInvalid("customRoleArn is supported only with an Amazon ECR upstream registry")
		}
		acct, role, ok := strings.Cut(strings.TrimPrefix(r.CustomRoleARN, "arn:aws:iam::"), ":role/")
		if !strings.HasPrefix(r.CustomRoleARN, "arn:aws:iam::") || !ok || role == "" || !identity.ValidAccountID(acct) {
			return errf(KindInvalidParameter, "Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'Member must be the ARN of an IAM role'")
		}
		if acct != r.RegistryID {
			return errf(KindInvalidParameter, "Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'The role must be in the account of the registry with id '%s''", r.RegistryID)
		}
	}
	if name == UpstreamECR && r.CustomRoleARN == "" {
		if m := ecrHostRE.FindStringSubmatch(strings.ToLower(strings.TrimPrefix(r.UpstreamURL, "https://"))); m != nil && m[1] != r.RegistryID {
			return ptcInvalid("customRoleArn is required for an Amazon ECR upstream registry in another account")
		}
	}
	return nil
}

// SecretValues gives the current value of an account's secret, by ARN or name. Its errors carry Secrets
// Manager's codes (ErrorCode): ResourceNotFoundException for a secret the account does not have,
// InvalidRequestException for one scheduled for deletion.
type SecretValues interface {
	Value(ctx context.Context, accountID, arnOrName string) ([]byte, error)
}

// secretValue reads the secret a rule names, with ECR's errors for one that cannot be used.
func (s *Service) secretValue(ctx context.Context, registryID, arn string) ([]byte, error) {
	notFound := errf(KindSecretNotFound, "The secret with ARN '%s' was not found. Specify a valid Secrets Manager ARN and try again", arn)
	// The secret must be in the registry's account (and this region): Wharf has no resource policies for
	// secrets that would let another account's registry read one.
	acct := strings.Split(arn, ":")
	if len(acct) < 5 || acct[4] != registryID {
		return nil, errf(KindSecretInaccessible, "The secret with ARN '%s' is unable to be accessed. The secret must be in the account of the registry with id '%s'", arn, registryID)
	}
	if s.cfg.Secrets == nil {
		return nil, notFound
	}
	v, err := s.cfg.Secrets.Value(ctx, registryID, arn)
	var coded interface{ ErrorCode() string }
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, err
	case errors.As(err, &coded) && coded.ErrorCode() == "ResourceNotFoundException":
		return nil, notFound
	case errors.As(err, &coded):
		return nil, errf(KindSecretInaccessible, "The secret with ARN '%s' is unable to be accessed: %s", arn, err)
	}
	s.log.Warn("pull through cache secret does not open", "secret", arn, "err", err)
	return nil, errf(KindSecretUndecryptable, "The secret with ARN '%s' is accessible but is unable to be decrypted", arn)
}

func ptcRuleNotFound(registryID, prefix string) error {
	return errf(KindPullThroughCacheRuleNotFound, "The pull through cache rule with prefix '%s' does not exist in the registry with id '%s'", prefix, registryID)
}

// CreatePullThroughCacheRule adds a pull through cache rule to a registry, up to the registry's limit.
// given is the upstreamRegistry the caller named ("" for none); the rule gets ECR's name of its upstream.
func (s *Service) CreatePullThroughCacheRule(ctx context.Context, r PullThroughCacheRule, given string) (*PullThroughCacheRule, error) {
	if err := s.checkRule(&r, given); err != nil {
		return nil, err
	}
	if r.CredentialARN != "" {
		if _, err := s.secretValue(ctx, r.RegistryID, r.CredentialARN); err != nil {
			return nil, internal(err)
		}
	}
	r.CreatedAt = s.clock.Now()
	r.UpdatedAt = r.CreatedAt
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		n, err := tx.CountPullThroughCacheRules(r.RegistryID)
		if err != nil {
			return err
		}
		if max := s.cfg.Limits.PullThroughCacheRulesPerRegistry; n >= max {
			return errf(KindLimitExceeded, "The maximum number of pull through cache rules (%d) in the registry with id '%s' has been reached", max, r.RegistryID)
		}
		err = tx.CreatePullThroughCacheRule(r)
		if errors.Is(err, store.ErrExists) {
			return errf(KindPullThroughCacheRuleExists, "A pull through cache rule with prefix '%s' already exists in the registry with id '%s'", r.Prefix, r.RegistryID)
		}
		return err
	})
	if err != nil {
		return nil, internal(err)
	}
	s.log.Info("pull through cache rule created", "registry", r.RegistryID, "prefix", r.Prefix, "upstream", r.UpstreamURL)
	return &r, nil
}

// UpdatePullThroughCacheRule changes the credentials of a registry's rule of a prefix: its credentialArn
// and customRoleArn, when given ("" leaves a member as it is).
func (s *Service) UpdatePullThroughCacheRule(ctx context.Context, registryID, prefix, credentialARN, customRoleARN string) (*PullThroughCacheRule, error) {
	prefix, err := checkPTCPrefix(prefix, "ecrRepositoryPrefix")
	if err != nil {
		return nil, err
	}
	if credentialARN != "" {
		if err := CheckCredentialARN(credentialARN); err != nil {
			return nil, err
		}
	}
	r, err := s.PullThroughCacheRule(ctx, registryID, prefix)
	if err != nil {
		return nil, err
	}
	if credentialARN != "" {
		r.CredentialARN = credentialARN
	}
	if customRoleARN != "" {
		r.CustomRoleARN = customRoleARN
	}
	if err := s.checkRule(r, ""); err != nil {
		return nil, err
	}
	if credentialARN != "" {
		if _, err := s.secretValue(ctx, registryID, credentialARN); err != nil {
			return nil, internal(err)
		}
	}
	r.UpdatedAt = s.clock.Now()
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		err := tx.UpdatePullThroughCacheRule(*r)
		if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
			return ptcRuleNotFound(registryID, prefix)
		}
		return err
	})
	if err != nil {
		return nil, internal(err)
	}
	return r, nil
}

// PullThroughCacheRule returns a registry's rule of a prefix.
func (s *Service) PullThroughCacheRule(ctx context.Context, registryID, prefix string) (*PullThroughCacheRule, error) {
	prefix, err := checkPTCPrefix(prefix, "ecrRepositoryPrefix")
	if err != nil {
		return nil, err
	}
	var r *PullThroughCacheRule
	err = s.meta.View(ctx, func(tx store.Tx) (err error) {
		if r, err = tx.GetPullThroughCacheRule(registryID, prefix); errors.Is(err, store.ErrNotFound) {
			return ptcRuleNotFound(registryID, prefix)
		}
		return err
	})
	if err != nil {
		return nil, internal(err)
	}
	return r, nil
}

// DeletePullThroughCacheRule removes a registry's rule of a prefix and returns it. The repositories it
// created stay, with their images.
func (s *Service) DeletePullThroughCacheRule(ctx context.Context, registryID, prefix string) (*PullThroughCacheRule, error) {
	prefix, err := checkPTCPrefix(prefix, "ecrRepositoryPrefix")
	if err != nil {
		return nil, err
	}
	var r *PullThroughCacheRule
	err = s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if r, err = tx.GetPullThroughCacheRule(registryID, prefix); errors.Is(err, store.ErrNotFound) {
			return ptcRuleNotFound(registryID, prefix)
		} else if err != nil {
			return err
		}
		return tx.DeletePullThroughCacheRule(registryID, prefix)
	})
	if err != nil {
		return nil, internal(err)
	}
	return r, nil
}

// PullThroughCacheRules lists a registry's rules by prefix after `after`, at most n; more tells whether
// others follow. With prefixes, it lists the rules of those prefixes instead, by prefix, and answers
// the rule not found error when one of them has none (as ECR does).
func (s *Service) PullThroughCacheRules(ctx context.Context, registryID string, prefixes []string, after string, n int) (rs []PullThroughCacheRule, more bool, err error) {
	prefixes = slices.Clone(prefixes)
	for i, p := range prefixes {
		if prefixes[i], err = checkPTCPrefix(p, "ecrRepositoryPrefixes"); err != nil {
			return nil, false, err
		}
	}
	err = s.meta.View(ctx, func(tx store.Tx) error {
		if len(prefixes) == 0 {
			if rs, err = tx.PullThroughCacheRules(registryID, after, n+1); err != nil {
				return err
			}
			if len(rs) > n {
				rs, more = rs[:n], true
			}
			return nil
		}
		slices.Sort(prefixes)
		for _, p := range slices.Compact(prefixes) {
			r, err := tx.GetPullThroughCacheRule(registryID, p)
			if errors.Is(err, store.ErrNotFound) {
				return ptcRuleNotFound(registryID, p)
			} else if err != nil {
				return err
			}
			rs = append(rs, *r)
		}
		return nil
	})
	return rs, more, internal(err)
}

// ValidatePullThroughCacheRule contacts a rule's upstream registry with the rule's credentials, as a
// pull would: isValid tells whether the upstream answered its registry API's base endpoint (GET /v2/)
// to them; failure says why not.
func (s *Service) ValidatePullThroughCacheRule(ctx context.Context, registryID, prefix string) (r *PullThroughCacheRule, valid bool, failure string, err error) {
	if r, err = s.PullThroughCacheRule(ctx, registryID, prefix); err != nil {
		return nil, false, "", err
	}
	c, err := s.upstreamClient(ctx, r)
	if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) && e.Kind != KindInternal {
			return r, false, e.Message, nil
		}
		return nil, false, "", internal(err)
	}
	if err := c.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, false, "", internal(ctx.Err())
		}
		return r, false, err.Error(), nil
	}
	return r, true, "", nil
}
