package registry

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/iam"
	"github.com/wharf-dev/wharf/internal/identity"
	"github.com/wharf-dev/wharf/internal/store"
)

// CreationTemplate is a repository creation template: what a registry gives the repositories it creates
// under a prefix (on push, by replication, through a pull through cache).
type CreationTemplate = store.RepositoryCreationTemplate

// What a template applies for (its appliedFor), and the prefix of the template for every repository.
const (
	ForReplication      = "REPLICATION"
	ForPullThroughCache = "PULL_THROUGH_CACHE"
	ForCreateOnPush     = "CREATE_ON_PUSH"
	RootPrefix          = "ROOT"
)

// Bounds of the model's template members.
const (
	maxPrefix          = 256
	maxDescription     = 256
	maxCustomRoleARN   = 2048
	prefixPattern      = `^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$`
	templateKMSPattern = `^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[a-z0-9-]+`
)

var (
	prefixRE      = regexp.MustCompile(prefixPattern)
	templateKMSRE = regexp.MustCompile(templateKMSPattern)
	appliedFor    = []string{ForReplication, ForPullThroughCache, ForCreateOnPush}
)

// validationf is a validation error in the words of AWS's model validation.
func validationf(value, member, constraint string) *Error {
	return errf(KindValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must %s", value, member, constraint)
}

// checkTemplatePrefix checks a prefix as the model constrains it and returns it as templates are kept:
// without a trailing '/', which ECR assumes after every prefix ("prod" is the namespace "prod/").
func checkTemplatePrefix(prefix string) (string, error) {
	switch {
	case prefix == "":
		return "", validationf(prefix, "prefix", "have length greater than or equal to 1")
	case len(prefix) > maxPrefix:
		return "", validationf(prefix, "prefix", "have length less than or equal to 256")
	case !prefixRE.MatchString(prefix):
		return "", validationf(prefix, "prefix", "satisfy regular expression pattern: "+prefixPattern)
	}
	return strings.TrimSuffix(prefix, "/"), nil
}

// checkTemplate checks a template's members as the operations they stand for check theirs (CreateRepository,
// TagResource, SetRepositoryPolicy, PutLifecyclePolicy), fills in ECR's defaults, and keeps the policies'
// texts as those operations keep them.
func checkTemplate(t *CreationTemplate) error {
	var err error
	if t.Prefix, err = checkTemplatePrefix(t.Prefix); err != nil {
		return err
	}
	if len(t.Description) > maxDescription {
		return validationf(t.Description, "description", "have length less than or equal to 256")
	}
	if len(t.AppliedFor) == 0 {
		return validationf("[]", "appliedFor", "have length greater than or equal to 1")
	}
	var purposes []string
	for _, p := range t.AppliedFor {
		if !slices.Contains(appliedFor, p) {
			return validationf(p, "appliedFor", "satisfy enum value set: [REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH]")
		}
		if !slices.Contains(purposes, p) {
			purposes = append(purposes, p)
		}
	}
	t.AppliedFor = purposes
	if len(t.CustomRoleARN) > maxCustomRoleARN {
		return validationf(t.CustomRoleARN, "customRoleArn", "have length less than or equal to 2048")
	}
	if t.CustomRoleARN != "" {
		acct, role, ok := strings.Cut(strings.TrimPrefix(t.CustomRoleARN, "arn:aws:iam::"), ":role/")
		if !strings.HasPrefix(t.CustomRoleARN, "arn:aws:iam::") || !ok || role == "" || !identity.ValidAccountID(acct) {
			return errf(KindInvalidParameter, "Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'Member must be the ARN of an IAM role'")
		}
		if acct != t.RegistryID {
			return errf(KindInvalidParameter, "Invalid parameter at 'customRoleArn' failed to satisfy constraint: 'The role must be in the account of the registry with id '%s''", t.RegistryID)
		}
	}

	// The settings, as CreateRepository checks them.
	r := store.Repository{TagMutability: t.TagMutability, TagMutabilityExclusions: t.TagMutabilityExclusions,
		EncryptionType: t.EncryptionType, KMSKey: t.KMSKey}
	if r.TagMutability == "" {
		r.TagMutability = Mutable
	}
	if err := validateMutability(&r); err != nil {
		return err
	}
	if !templateKMSRE.MatchString(r.KMSKey) {
		return validationf(r.KMSKey, "encryptionConfiguration.kmsKey", "satisfy regular expression pattern: "+templateKMSPattern)
	}
	if err := validateEncryption(&r); err != nil {
		return err
	}
	t.TagMutability, t.EncryptionType = r.TagMutability, r.EncryptionType
	if err := validateResourceTags(nil, t.ResourceTags); err != nil {
		return err
	}

	if t.RepositoryPolicy != "" {
		if _, err := checkPolicyText(t.RepositoryPolicy, "repository", iam.ResourcePolicy); err != nil {
			return err
		}
		t.RepositoryPolicy = FormatPolicyText(t.RepositoryPolicy)
	}
	if t.LifecyclePolicy != "" {
		if _, err := checkLifecycleText(t.LifecyclePolicy); err != nil {
			return err
		}
		t.LifecyclePolicy = CompactLifecycleText(t.LifecyclePolicy)
	}
	return nil
}

// checkTemplatePrincipals checks, as SetRepositoryPolicy does, that the principals the template's
// repository policy names exist.
func checkTemplatePrincipals(tx store.Tx, t *CreationTemplate) error {
	if t.RepositoryPolicy == "" {
		return nil
	}
	p, err := iam.Parse(t.RepositoryPolicy, iam.ResourcePolicy)
	if err != nil {
		return err
	}
	for _, principal := range p.AWSPrincipals() {
		if !principalExists(tx, principal) {
			return errf(KindInvalidParameter, "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'")
		}
	}
	return nil
}

func templateNotFound(registryID, prefix string) error {
	return errf(KindTemplateNotFound, "The repository creation template with prefix '%s' does not exist in the registry with id '%s'", prefix, registryID)
}

// CreateCreationTemplate adds a repository creation template to a registry, up to the registry's limit.
func (s *Service) CreateCreationTemplate(ctx context.Context, t CreationTemplate) (*CreationTemplate, error) {
	if err := checkTemplate(&t); err != nil {
		return nil, err
	}
	t.CreatedAt = s.clock.Now()
	t.UpdatedAt = t.CreatedAt
	err := s.meta.Update(ctx, func(tx store.Tx) error {
		if err := checkTemplatePrincipals(tx, &t); err != nil {
			return err
		}
		n, err := tx.CountCreationTemplates(t.RegistryID)
		if err != nil {
			return err
		}
		if max := s.cfg.Limits.CreationTemplatesPerRegistry; n >= max {
			return errf(KindLimitExceeded, "The maximum number of repository creation templates (%d) in the registry with id '%s' has been reached", max, t.RegistryID)
		}
		err = tx.CreateCreationTemplate(t)
		if errors.Is(err, store.ErrExists) {
			return errf(KindTemplateExists, "A repository creation template with prefix '%s' already exists in the registry with id '%s'", t.Prefix, t.RegistryID)
		}
		return err
	})
	if err != nil {
		return nil, internal(err)
	}
	return &t, nil
}

// UpdateCreationTemplate changes a registry's template of a prefix: fn edits it, and the result is checked
// and stored.
func (s *Service) UpdateCreationTemplate(ctx context.Context, registryID, prefix string, fn func(t *CreationTemplate)) (*CreationTemplate, error) {
	prefix, err := checkTemplatePrefix(prefix)
	if err != nil {
		return nil, err
	}
	var t *CreationTemplate
	err = s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if t, err = tx.GetCreationTemplate(registryID, prefix); errors.Is(err, store.ErrNotFound) {
			return templateNotFound(registryID, prefix)
		} else if err != nil {
			return err
		}
		fn(t)
		t.RegistryID, t.Prefix, t.UpdatedAt = registryID, prefix, s.clock.Now()
		if err := checkTemplate(t); err != nil {
			return err
		}
		if err := checkTemplatePrincipals(tx, t); err != nil {
			return err
		}
		return tx.UpdateCreationTemplate(*t)
	})
	if err != nil {
		return nil, internal(err)
	}
	return t, nil
}

// DeleteCreationTemplate removes a registry's template of a prefix and returns it.
func (s *Service) DeleteCreationTemplate(ctx context.Context, registryID, prefix string) (*CreationTemplate, error) {
	prefix, err := checkTemplatePrefix(prefix)
	if err != nil {
		return nil, err
	}
	var t *CreationTemplate
	err = s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if t, err = tx.GetCreationTemplate(registryID, prefix); errors.Is(err, store.ErrNotFound) {
			return templateNotFound(registryID, prefix)
		} else if err != nil {
			return err
		}
		return tx.DeleteCreationTemplate(registryID, prefix)
	})
	if err != nil {
		return nil, internal(err)
	}
	return t, nil
}

// CreationTemplates lists a registry's templates by prefix after `after`, at most n; more tells whether
// others follow. With prefixes, it lists the templates of those prefixes that exist, by prefix, instead.
func (s *Service) CreationTemplates(ctx context.Context, registryID string, prefixes []string, after string, n int) (ts []CreationTemplate, more bool, err error) {
	prefixes = slices.Clone(prefixes)
	for i, p := range prefixes {
		if prefixes[i], err = checkTemplatePrefix(p); err != nil {
			return nil, false, err
		}
	}
	err = s.meta.View(ctx, func(tx store.Tx) error {
		if len(prefixes) == 0 {
			if ts, err = tx.CreationTemplates(registryID, after, n+1); err != nil {
				return err
			}
			if len(ts) > n {
				ts, more = ts[:n], true
			}
			return nil
		}
		slices.Sort(prefixes)
		for _, p := range slices.Compact(prefixes) {
			t, err := tx.GetCreationTemplate(registryID, p)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			ts = append(ts, *t)
		}
		return nil
	})
	return ts, more, internal(err)
}

// templateFor picks the template a new repository of the name gets for a purpose: of the templates that
// apply for it, the one with the longest prefix the name is under (a prefix "a/b" takes the names
// "a/b/…"), else the ROOT template. It returns store.ErrNotFound when none applies.
func templateFor(tx store.Tx, registryID, name, purpose string) (*CreationTemplate, error) {
	candidates := []string{}
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '/' {
			candidates = append(candidates, name[:i])
		}
	}
	for _, p := range append(candidates, RootPrefix) {
		t, err := tx.GetCreationTemplate(registryID, p)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		if slices.Contains(t.AppliedFor, purpose) {
			return t, nil
		}
	}
	return nil, store.ErrNotFound
}

// TemplateFor returns the template a new repository of the name would get for a purpose (ForReplication,
// ForPullThroughCache, ForCreateOnPush), or nil when none applies.
func (s *Service) TemplateFor(ctx context.Context, registryID, name, purpose string) (*CreationTemplate, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	var t *CreationTemplate
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		t, err = templateFor(tx, registryID, name, purpose)
		if errors.Is(err, store.ErrNotFound) {
			t, err = nil, nil
		}
		return err
	})
	return t, internal(err)
}

// CreateRepositoryFromTemplate creates a repository for a purpose with the settings, resource tags,
// repository policy and lifecycle policy of the template that applies (TemplateFor), in one transaction.
// It returns the repository not found error when no template applies, and the repository when it exists
// already (created meanwhile).
func (s *Service) CreateRepositoryFromTemplate(ctx context.Context, registryID, name, purpose string) (*Repository, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	var r *Repository
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if r, err = tx.GetRepository(registryID, name); err == nil {
			return nil
		}
		t, err := templateFor(tx, registryID, name, purpose)
		if errors.Is(err, store.ErrNotFound) {
			return repoNotFound(registryID, name)
		} else if err != nil {
			return err
		}
		r, err = s.createFromTemplate(tx, registryID, name, t)
		return err
	})
	if err != nil {
		return nil, internal(err)
	}
	return r, nil
}

// createFromTemplate creates a repository with a template's settings, tags and policies, inside tx.
func (s *Service) createFromTemplate(tx store.Tx, registryID, name string, t *CreationTemplate) (*Repository, error) {
	now := s.clock.Now()
	r := &store.Repository{RegistryID: registryID, Name: name, CreatedAt: now, TagMutability: t.TagMutability,
		TagMutabilityExclusions: t.TagMutabilityExclusions, EncryptionType: t.EncryptionType, KMSKey: t.KMSKey}
	if r.TagMutability == "" {
		r.TagMutability = Mutable
	}
	if r.EncryptionType == "" {
		r.EncryptionType = AES256
	}
	if err := s.createRepository(tx, r); err != nil {
		return nil, err
	}
	if len(t.ResourceTags) > 0 {
		if err := tx.PutRepositoryTags(r.ID, t.ResourceTags); err != nil {
			return nil, err
		}
	}
	if t.RepositoryPolicy != "" {
		if err := tx.SetRepositoryPolicy(r.ID, t.RepositoryPolicy); err != nil {
			return nil, err
		}
		if err := s.emit(tx, Event{Type: EventPolicyChanged, At: now, RegistryID: registryID, Repository: name, Policy: PolicyRepository, Change: PolicySet}); err != nil {
			return nil, err
		}
	}
	if t.LifecyclePolicy != "" {
		if err := tx.SetLifecyclePolicy(store.LifecyclePolicy{RepositoryID: r.ID, Text: t.LifecyclePolicy, UpdatedAt: now}); err != nil {
			return nil, err
		}
		if err := s.emit(tx, Event{Type: EventPolicyChanged, At: now, RegistryID: registryID, Repository: name, Policy: PolicyLifecycle, Change: PolicySet}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Authorizer tells whether the caller of the call in progress may perform an action on a repository of
// the registry the call addresses: the error to answer when it may not. The pipeline puts one in the
// context of every call it runs (WithAuthorizer), for the dependent actions the core decides on (the
// ecr:CreateRepository of a push that creates its repository).
type Authorizer func(action, repository string) error

type authorizerKey struct{}

// WithAuthorizer returns a context whose calls into the core authorize dependent actions with a.
func WithAuthorizer(ctx context.Context, a Authorizer) context.Context {
	return context.WithValue(ctx, authorizerKey{}, a)
}

// authorize asks the context's authorizer; without one (the core used directly, not through the
// pipeline) everything is allowed.
func authorize(ctx context.Context, action, repository string) error {
	if a, ok := ctx.Value(authorizerKey{}).(Authorizer); ok && a != nil {
		return a(action, repository)
	}
	return nil
}

// implicitRoot is the template --create-on-push stands for: ROOT, with ECR's defaults.
var implicitRoot = CreationTemplate{Prefix: RootPrefix, TagMutability: Mutable, EncryptionType: AES256, AppliedFor: []string{ForCreateOnPush}}

// createOnPush creates the repository a push goes to, which did not exist, when a CREATE_ON_PUSH template
// applies to its name and the caller may ecr:CreateRepository it, or when create-on-push is on (an
// implicit ROOT template with ECR's defaults, which needs no more than the push's own permissions).
// Another region's replication creates it for REPLICATION instead (replica, createForReplication).
func (s *Service) createOnPush(ctx context.Context, registryID, name string) (*store.Repository, error) {
	if replica(ctx, name) {
		return s.createForReplication(ctx, registryID, name)
	}
	t, err := s.TemplateFor(ctx, registryID, name, ForCreateOnPush)
	if err != nil {
		return nil, err
	}
	if t == nil && !s.cfg.CreateOnPush {
		return nil, repoNotFound(registryID, name)
	}
	authorized := t != nil
	if authorized {
		if err := authorize(ctx, "ecr:CreateRepository", name); err != nil {
			return nil, err
		}
	}
	var r *store.Repository
	var created *CreationTemplate
	err = s.meta.Update(ctx, func(tx store.Tx) (err error) {
		created = nil
		if r, err = tx.GetRepository(registryID, name); err == nil {
			return nil // created meanwhile
		}
		t, err := templateFor(tx, registryID, name, ForCreateOnPush) // as it is now
		switch {
		case (errors.Is(err, store.ErrNotFound) || err == nil && !authorized) && s.cfg.CreateOnPush:
			t = &implicitRoot // (a template added since the caller was authorized applies to the next push)
		case errors.Is(err, store.ErrNotFound):
			return repoNotFound(registryID, name)
		case err != nil:
			return err
		}
		created = t
		r, err = s.createFromTemplate(tx, registryID, name, t)
		return err
	})
	if KindOf(err) == KindRepositoryExists { // created meanwhile by a concurrent push (another node's)
		return s.Repository(ctx, registryID, name)
	}
	if err != nil {
		return nil, internal(err)
	}
	if created != nil {
		s.log.Info("repository created on push", "registry", registryID, "repository", name, "template", created.Prefix)
	}
	return r, nil
}

// createForReplication creates the repository a replication from another region pushes to, which did not
// exist, as ECR creates a replication's destination: from the template that applies for REPLICATION, else
// with ECR's defaults. The caller must be allowed ecr:CreateRepository on it.
func (s *Service) createForReplication(ctx context.Context, registryID, name string) (*store.Repository, error) {
	if err := authorize(ctx, "ecr:CreateRepository", name); err != nil {
		return nil, err
	}
	var r *store.Repository
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if r, err = tx.GetRepository(registryID, name); err == nil {
			return nil // created meanwhile
		}
		t, err := templateFor(tx, registryID, name, ForReplication)
		if errors.Is(err, store.ErrNotFound) {
			t = &CreationTemplate{} // ECR's defaults
		} else if err != nil {
			return err
		}
		r, err = s.createFromTemplate(tx, registryID, name, t)
		return err
	})
	if KindOf(err) == KindRepositoryExists {
		return s.Repository(ctx, registryID, name)
	}
	if err != nil {
		return nil, internal(err)
	}
	s.log.Info("repository created by a replication", "registry", registryID, "repository", name, "source", ReplicationSource(ctx))
	return r, nil
}
