// Package secrets keeps the secrets of AWS Secrets Manager's API that Wharf serves: the credentials a pull
// through cache rule names (credentialArn), and any other an account stores. It owns the rules: names and
// ARNs, versions and their staging labels (AWSCURRENT, AWSPREVIOUS), deletion after a recovery window.
// Values are sealed with the server secret, bound to their secret's ARN and version, and never leave this
// package in clear but to the caller that asked for them.
package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/internal/clock"
	"github.com/wharf-dev/wharf/internal/store"
)

// The staging labels Secrets Manager manages itself.
const (
	Current  = "AWSCURRENT"
	Previous = "AWSPREVIOUS"
)

// Recovery windows of DeleteSecret, in days.
const (
	MinRecoveryDays     = 7
	MaxRecoveryDays     = 30
	DefaultRecoveryDays = 30
)

// Error codes, as Secrets Manager answers them.
const (
	CodeNotFound         = "ResourceNotFoundException"
	CodeExists           = "ResourceExistsException"
	CodeInvalidParameter = "InvalidParameterException"
	CodeInvalidRequest   = "InvalidRequestException"
)

// Error is a refusal of the rules, with Secrets Manager's code and message.
type Error struct{ Code, Message string }

func (e *Error) Error() string     { return e.Code + ": " + e.Message }
func (e *Error) ErrorCode() string { return e.Code }

func invalidParameter(msg string) error { return &Error{CodeInvalidParameter, msg} }

// ErrNotFound is the answer for a secret that does not exist, or is another account's.
var ErrNotFound error = &Error{CodeNotFound, "Secrets Manager can't find the specified secret."}

var errMarkedForDeletion error = &Error{CodeInvalidRequest, "You can't perform this operation on the secret because it was marked for deletion."}

// Sealer seals values at rest with the server secret (identity.Keyring).
type Sealer interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

// Service applies the rules over the metadata store.
type Service struct {
	meta   store.Store
	sealer Sealer
	clock  clock.Clock
	region string
}

// New returns the service over meta, sealing values with sealer; ARNs name region.
func New(meta store.Store, sealer Sealer, clk clock.Clock, region string) *Service {
	return &Service{meta: meta, sealer: sealer, clock: clk, region: region}
}

// Value is a secret's value: a string (SecretString) or bytes (SecretBinary).
type Value struct {
	String *string
	Binary []byte
}

// Bytes is the value's bytes, whichever kind it is.
func (v Value) Bytes() []byte {
	if v.String != nil {
		return []byte(*v.String)
	}
	return v.Binary
}

// check checks a value given to CreateSecret or PutSecretValue; none tells whether none was given.
func (v Value) check() (none bool, err error) {
	switch {
	case v.String != nil && v.Binary != nil:
		return false, invalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.")
	case v.String == nil && v.Binary == nil:
		return true, nil
	case v.String != nil && (len(*v.String) < 1 || len(*v.String) > 65536),
		v.Binary != nil && (len(v.Binary) < 1 || len(v.Binary) > 65536):
		return false, invalidParameter("The secret value must be from 1 to 65536 bytes long.")
	}
	return false, nil
}

// Version is a version of a secret, opened.
type Version struct {
	ID        string
	Stages    []string
	Value     Value
	CreatedAt time.Time
}

// ARNPrefix is the start of the ARNs of an account's secrets.
func (s *Service) ARNPrefix(accountID string) string {
	return "arn:aws:secretsmanager:" + s.region + ":" + accountID + ":secret:"
}

// NewARN returns an ARN for a new secret: the name and six random characters, as AWS makes them.
func (s *Service) NewARN(accountID, name string) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return s.ARNPrefix(accountID) + name + "-" + string(b)
}

// ValidateName checks a secret's name as Secrets Manager does.
func ValidateName(name string) error {
	if name == "" || len(name) > 512 {
		return invalidParameter("Invalid name. The name must be from 1 to 512 characters long.")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+=.@-", c)) {
			return invalidParameter("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
		}
	}
	return nil
}

// ResourceARN is the ARN a call naming secret id (a name, or a full or partial ARN) is authorized on:
// the secret's, when the account has it; else the ARN as given, or the name's partial ARN (without the
// random suffix), so that a caller not allowed to learn whether a secret exists is refused first.
func (s *Service) ResourceARN(ctx context.Context, accountID, id string) (arn string, found bool, err error) {
	sec, err := s.Lookup(ctx, accountID, id)
	switch {
	case err == nil:
		return sec.ARN, true, nil
	case !errors.Is(err, ErrNotFound):
		return "", false, err
	case strings.HasPrefix(id, "arn:"):
		return id, false, nil
	}
	return s.ARNPrefix(accountID) + id, false, nil
}

// Lookup finds an account's secret by its name, its ARN, or its partial ARN (without the random suffix).
func (s *Service) Lookup(ctx context.Context, accountID, id string) (*store.Secret, error) {
	var sec *store.Secret
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		sec, err = s.lookup(tx, accountID, id)
		return err
	})
	return sec, err
}

func (s *Service) lookup(tx store.Tx, accountID, id string) (*store.Secret, error) {
	name := id
	if strings.HasPrefix(id, "arn:") {
		rest, ok := strings.CutPrefix(id, s.ARNPrefix(accountID))
		if !ok || rest == "" {
			return nil, ErrNotFound // another account's, region's or service's
		}
		sec, err := tx.SecretByARN(id)
		if err == nil {
			return sec, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		name = rest // a partial ARN
	}
	sec, err := tx.Secret(accountID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return sec, err
}

// byARN returns the account's secret of an ARN Resolve found: the one that was authorized.
func (s *Service) byARN(tx store.Tx, accountID, arn string) (*store.Secret, error) {
	sec, err := tx.SecretByARN(arn)
	if errors.Is(err, store.ErrNotFound) || err == nil && sec.AccountID != accountID {
		return nil, ErrNotFound
	}
	return sec, err
}

// CreateInput is what CreateSecret is given.
type CreateInput struct {
	ARN         string // made by NewARN for Name: the one CreateSecret was authorized on
	Name        string
	Description string
	Tags        []store.ResourceTag
	Value       Value
	// VersionID is the client request token, the first version's id; "" makes one.
	VersionID string
}

// Create creates a secret, with a first version (AWSCURRENT) when a value is given. It returns the
// secret and the version's id ("" when none). The same request again (the same client request token and
// value) returns the secret it created.
func (s *Service) Create(ctx context.Context, accountID string, in CreateInput) (*store.Secret, string, error) {
	if err := ValidateName(in.Name); err != nil {
		return nil, "", err
	}
	if !strings.HasPrefix(in.ARN, s.ARNPrefix(accountID)+in.Name+"-") {
		return nil, "", fmt.Errorf("secret ARN %q is not one of %s's", in.ARN, in.Name)
	}
	if len(in.Description) > 2048 {
		return nil, "", invalidParameter("The description must be at most 2048 characters long.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, "", err
	}
	none, err := in.Value.check()
	if err != nil {
		return nil, "", err
	}
	versionID := ""
	if !none {
		if versionID, err = checkToken(in.VersionID); err != nil {
			return nil, "", err
		}
	}
	now := s.clock.Now()
	sec := store.Secret{AccountID: accountID, Name: in.Name, ARN: in.ARN, Description: in.Description, Tags: in.Tags,
		CreatedAt: now, ChangedAt: now}
	err = s.meta.Update(ctx, func(tx store.Tx) error {
		old, err := tx.Secret(accountID, in.Name)
		switch {
		case err == nil:
			return s.existing(tx, old, in, versionID, &sec)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := tx.CreateSecret(sec); errors.Is(err, store.ErrExists) { // created meanwhile
			return &Error{CodeExists, "The operation failed because the secret " + in.Name + " already exists."}
		} else if err != nil {
			return err
		}
		if none {
			return nil
		}
		return tx.PutSecretVersion(s.seal(sec.ARN, versionID, in.Value, []string{Current}, now))
	})
	if err != nil {
		return nil, "", err
	}
	return &sec, versionID, nil
}

// existing answers a CreateSecret for a name the account has: the same request again, or a refusal.
func (s *Service) existing(tx store.Tx, old *store.Secret, in CreateInput, versionID string, out *store.Secret) error {
	if !old.DeletedAt.IsZero() {
		return &Error{CodeInvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion."}
	}
	exists := &Error{CodeExists, "The operation failed because the secret " + in.Name + " already exists."}
	if in.VersionID == "" || versionID == "" {
		return exists
	}
	v, err := s.version(tx, old.ARN, versionID)
	if errors.Is(err, ErrNotFound) {
		return exists
	} else if err != nil {
		return err
	}
	if !sameValue(v.Value, in.Value) {
		return &Error{CodeExists, "You can't modify an existing version, you can only create a new version."}
	}
	*out = *old
	return nil
}

func sameValue(a, b Value) bool {
	return (a.String != nil) == (b.String != nil) && bytes.Equal(a.Bytes(), b.Bytes())
}

func checkTags(tags []store.ResourceTag) error {
	if len(tags) > 50 {
		return invalidParameter("Number of tags exceeds Secrets Manager limit of 50.")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return invalidParameter("Tag keys must be from 1 to 128 characters long, values at most 256.")
		}
		if seen[t.Key] {
			return invalidParameter("Duplicate tag key: " + t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// checkToken checks a client request token, or makes one: a version's id.
func checkToken(token string) (string, error) {
	if token == "" {
		return newUUID(), nil
	}
	if len(token) < 32 || len(token) > 64 {
		return "", invalidParameter("ClientRequestToken must be from 32 to 64 characters long.")
	}
	return token, nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// sealContext binds a sealed value to its secret, version and kind: a sealed value moved to another row
// does not open.
func sealContext(arn, versionID string, binary bool) string {
	kind := "string"
	if binary {
		kind = "binary"
	}
	return "wharf secret value " + kind + " " + arn + " " + versionID
}

func (s *Service) seal(arn, versionID string, v Value, stages []string, now time.Time) store.SecretVersion {
	binary := v.String == nil
	return store.SecretVersion{SecretARN: arn, VersionID: versionID, Stages: stages, Binary: binary, CreatedAt: now,
		Sealed: s.sealer.Seal(v.Bytes(), sealContext(arn, versionID, binary))}
}

func (s *Service) open(v store.SecretVersion) (Version, error) {
	plain, err := s.sealer.Open(v.Sealed, sealContext(v.SecretARN, v.VersionID, v.Binary))
	if err != nil {
		return Version{}, fmt.Errorf("secret %s version %s: %w", v.SecretARN, v.VersionID, err)
	}
	out := Version{ID: v.VersionID, Stages: v.Stages, CreatedAt: v.CreatedAt}
	if v.Binary {
		out.Value.Binary = plain
	} else {
		str := string(plain)
		out.Value.String = &str
	}
	return out, nil
}

// version opens a secret's version by id.
func (s *Service) version(tx store.Tx, arn, versionID string) (Version, error) {
	vs, err := tx.SecretVersions(arn)
	if err != nil {
		return Version{}, err
	}
	for _, v := range vs {
		if v.VersionID == versionID {
			return s.open(v)
		}
	}
	return Version{}, ErrNotFound
}

// Get returns a version of the secret with the ARN Resolve found: by id, by staging label, or both (the
// version must carry the label); AWSCURRENT when neither is given. A secret scheduled for deletion has
// no value to give.
func (s *Service) Get(ctx context.Context, accountID, arn, versionID, stage string) (*store.Secret, *Version, error) {
	if versionID == "" && stage == "" {
		stage = Current
	}
	var sec *store.Secret
	var out Version
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		if sec, err = s.byARN(tx, accountID, arn); err != nil {
			return err
		}
		if !sec.DeletedAt.IsZero() {
			return errMarkedForDeletion
		}
		vs, err := tx.SecretVersions(arn)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if (versionID == "" || v.VersionID == versionID) && (stage == "" || slices.Contains(v.Stages, stage)) {
				out, err = s.open(v)
				return err
			}
		}
		if versionID != "" {
			return &Error{CodeNotFound, "Secrets Manager can't find the specified secret value for VersionId: " + versionID}
		}
		return &Error{CodeNotFound, "Secrets Manager can't find the specified secret value for staging label: " + stage}
	})
	if err != nil {
		return nil, nil, err
	}
	return sec, &out, nil
}

// Value returns the current value of an account's secret, named by name or ARN: what the pull through
// cache logs in to its upstream registry with.
func (s *Service) Value(ctx context.Context, accountID, arnOrName string) ([]byte, error) {
	sec, err := s.Lookup(ctx, accountID, arnOrName)
	if err != nil {
		return nil, err
	}
	_, v, err := s.Get(ctx, accountID, sec.ARN, "", Current)
	if err != nil {
		return nil, err
	}
	return v.Value.Bytes(), nil
}

// Put adds a version to the secret with the ARN Resolve found, with the staging labels given (AWSCURRENT
// when none). The labels move to it from the versions that had them; the version that was AWSCURRENT
// becomes AWSPREVIOUS. Versions left without labels are removed. The same request again (the same
// client request token and value) changes nothing. It returns the version's id and labels.
func (s *Service) Put(ctx context.Context, accountID, arn, token string, value Value, stages []string) (*store.Secret, string, []string, error) {
	none, err := value.check()
	if err != nil {
		return nil, "", nil, err
	}
	if none {
		return nil, "", nil, invalidParameter("You must provide either SecretString or SecretBinary.")
	}
	versionID, err := checkToken(token)
	if err != nil {
		return nil, "", nil, err
	}
	if len(stages) == 0 {
		stages = []string{Current}
	}
	if len(stages) > 20 {
		return nil, "", nil, invalidParameter("A version can have at most 20 staging labels.")
	}
	for _, l := range stages {
		if l == "" || len(l) > 256 {
			return nil, "", nil, invalidParameter("Staging labels must be from 1 to 256 characters long.")
		}
	}
	stages = slices.Compact(slices.Sorted(slices.Values(stages)))
	var sec *store.Secret
	err = s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if sec, err = s.byARN(tx, accountID, arn); err != nil {
			return err
		}
		if !sec.DeletedAt.IsZero() {
			return errMarkedForDeletion
		}
		vs, err := tx.SecretVersions(arn)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if v.VersionID != versionID {
				continue
			}
			old, err := s.open(v)
			if err != nil {
				return err
			}
			if !sameValue(old.Value, value) {
				return &Error{CodeExists, "You can't modify an existing version, you can only create a new version."}
			}
			stages = v.Stages
			return errSame
		}
		now := s.clock.Now()
		labels := relabel(vs, stages)
		for _, v := range vs {
			switch l := labels[v.VersionID]; {
			case len(l) == 0:
				err = tx.DeleteSecretVersion(arn, v.VersionID)
			case !slices.Equal(l, v.Stages):
				err = tx.SetSecretVersionStages(arn, v.VersionID, l)
			}
			if err != nil {
				return err
			}
		}
		if err := tx.PutSecretVersion(s.seal(arn, versionID, value, stages, now)); errors.Is(err, store.ErrExists) { // put meanwhile
			return &Error{CodeExists, "You can't modify an existing version, you can only create a new version."}
		} else if err != nil {
			return err
		}
		sec.ChangedAt = now
		return tx.UpdateSecret(*sec)
	})
	if errors.Is(err, errSame) {
		err = nil
	}
	if err != nil {
		return nil, "", nil, err
	}
	return sec, versionID, stages, nil
}

// errSame ends a transaction that has nothing to change.
var errSame = errors.New("the same request again")

// relabel returns the labels each existing version keeps when a new version takes stages.
func relabel(vs []store.SecretVersion, stages []string) map[string][]string {
	out := map[string][]string{}
	current := ""
	for _, v := range vs {
		if slices.Contains(v.Stages, Current) {
			current = v.VersionID
		}
	}
	takesCurrent := slices.Contains(stages, Current)
	for _, v := range vs {
		var keep []string
		for _, l := range v.Stages {
			if slices.Contains(stages, l) || takesCurrent && current != "" && l == Previous {
				continue
			}
			keep = append(keep, l)
		}
		if takesCurrent && v.VersionID == current {
			keep = append(keep, Previous)
		}
		slices.Sort(keep)
		out[v.VersionID] = keep
	}
	return out
}

// Description is a secret and the staging labels of its versions, by version id.
type Description struct {
	store.Secret
	Versions map[string][]string
}

// Describe describes the secret with the ARN Resolve found, scheduled for deletion or not.
func (s *Service) Describe(ctx context.Context, accountID, arn string) (*Description, error) {
	var d *Description
	err := s.meta.View(ctx, func(tx store.Tx) error {
		sec, err := s.byARN(tx, accountID, arn)
		if err != nil {
			return err
		}
		d, err = describe(tx, sec)
		return err
	})
	return d, err
}

func describe(tx store.Tx, sec *store.Secret) (*Description, error) {
	vs, err := tx.SecretVersions(sec.ARN)
	if err != nil {
		return nil, err
	}
	d := &Description{Secret: *sec, Versions: map[string][]string{}}
	for _, v := range vs {
		d.Versions[v.VersionID] = v.Stages
	}
	return d, nil
}

// Delete schedules the secret with the ARN Resolve found for deletion after a recovery window of days
// (0: 30), or deletes it at once (force). It returns the secret and when it is, or will be, deleted.
func (s *Service) Delete(ctx context.Context, accountID, arn string, days int64, force bool) (*store.Secret, time.Time, error) {
	switch {
	case force && days != 0:
		return nil, time.Time{}, invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	case days == 0:
		days = DefaultRecoveryDays
	case days < MinRecoveryDays || days > MaxRecoveryDays:
		return nil, time.Time{}, invalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	now := s.clock.Now()
	var sec *store.Secret
	var at time.Time
	err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
		if sec, err = s.byARN(tx, accountID, arn); err != nil {
			return err
		}
		if force {
			at = now
			return tx.DeleteSecret(arn)
		}
		if !sec.DeletedAt.IsZero() {
			return errMarkedForDeletion
		}
		at = now.Add(time.Duration(days) * 24 * time.Hour)
		sec.DeletedAt, sec.PurgeAt, sec.ChangedAt = now, at, now
		return tx.UpdateSecret(*sec)
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return sec, at, nil
}

// Purge deletes the secrets whose recovery window has passed, and returns how many.
func (s *Service) Purge(ctx context.Context) (int, error) {
	n := 0
	for {
		var due []store.Secret
		err := s.meta.Update(ctx, func(tx store.Tx) (err error) {
			if due, err = tx.SecretsDue(s.clock.Now(), 100); err != nil {
				return err
			}
			for _, sec := range due {
				if err := tx.DeleteSecret(sec.ARN); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(due)
		if len(due) < 100 {
			return n, nil
		}
	}
}

// Filter is a ListSecrets filter: a key and the values any of which it matches (by prefix; a value
// starting with ! matches what does not start with the rest).
type Filter struct {
	Key    string
	Values []string
}

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

// ListInput says which secrets List lists.
type ListInput struct {
	Filters                []Filter
	IncludePlannedDeletion bool
	After                  string // the name the previous page ended at
	Limit                  int
}

// List lists an account's secrets by name, those the filters match (all of them), at most Limit; more
// tells whether others follow the last.
func (s *Service) List(ctx context.Context, accountID string, in ListInput) (page []Description, more bool, err error) {
	if len(in.Filters) > 10 {
		return nil, false, invalidParameter("You can specify at most 10 filters.")
	}
	for _, f := range in.Filters {
		if !slices.Contains(filterKeys, f.Key) {
			return nil, false, invalidParameter("Invalid filter key: " + f.Key)
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			return nil, false, invalidParameter("A filter must have from 1 to 10 values.")
		}
	}
	after := in.After
	err = s.meta.View(ctx, func(tx store.Tx) error {
		for {
			batch, err := tx.Secrets(accountID, after, 100)
			if err != nil {
				return err
			}
			for i := range batch {
				sec := &batch[i]
				if !sec.DeletedAt.IsZero() && !in.IncludePlannedDeletion || !matchesAll(sec, in.Filters) {
					continue
				}
				if len(page) == in.Limit {
					more = true
					return nil
				}
				d, err := describe(tx, sec)
				if err != nil {
					return err
				}
				page = append(page, *d)
			}
			if len(batch) < 100 {
				return nil
			}
			after = batch[len(batch)-1].Name
		}
	})
	return page, more, err
}

func matchesAll(sec *store.Secret, filters []Filter) bool {
	for _, f := range filters {
		if !matches(sec, f) {
			return false
		}
	}
	return true
}

// matches tells whether any of a filter's values matches the secret.
func matches(sec *store.Secret, f Filter) bool {
	var fields []string
	switch f.Key {
	case "name":
		fields = []string{sec.Name}
	case "description":
		fields = []string{sec.Description}
	case "tag-key", "tag-value", "all":
		for _, t := range sec.Tags {
			if f.Key != "tag-value" {
				fields = append(fields, t.Key)
			}
			if f.Key != "tag-key" {
				fields = append(fields, t.Value)
			}
		}
		if f.Key == "all" {
			fields = append(fields, sec.Name, sec.Description)
		}
	}
	for _, v := range f.Values {
		want, negated := strings.CutPrefix(v, "!")
		found := slices.ContainsFunc(fields, func(s string) bool { return strings.HasPrefix(s, want) })
		if found != negated {
			return true
		}
	}
	return false
}
