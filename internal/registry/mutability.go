package registry

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/wharf-dev/wharf/internal/lifecycle"
	"github.com/wharf-dev/wharf/internal/store"
)

// Tag mutability settings. The *_WITH_EXCLUSION settings except the tags that match one of the
// repository's exclusion filters: with IMMUTABLE_WITH_EXCLUSION those tags stay mutable and the others
// are immutable; with MUTABLE_WITH_EXCLUSION those tags are immutable and the others mutable.
const (
	Mutable                = "MUTABLE"
	Immutable              = "IMMUTABLE"
	ImmutableWithExclusion = "IMMUTABLE_WITH_EXCLUSION"
	MutableWithExclusion   = "MUTABLE_WITH_EXCLUSION"
)

// Bounds of the exclusion filters (the model's ImageTagMutabilityExclusionFilters and its filter).
const (
	maxExclusionFilters = 5
	maxExclusionFilter  = 128
)

// validateMutability checks a repository's tag mutability and its exclusion filters, as ECR does: the
// *_WITH_EXCLUSION settings need filters and the others take none.
func validateMutability(r *store.Repository) error {
	switch r.TagMutability {
	case Mutable, Immutable:
		if len(r.TagMutabilityExclusions) > 0 {
			return errf(KindInvalidParameter, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters must be null when imageTagMutability is set as %s'", r.TagMutability)
		}
		return nil
	case ImmutableWithExclusion, MutableWithExclusion:
	default:
		return errf(KindInvalidParameter, "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]'")
	}
	if len(r.TagMutabilityExclusions) == 0 {
		return errf(KindInvalidParameter, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'ImageTagMutabilityExclusionFilters can't be null when imageTagMutability is set as %s'", r.TagMutability)
	}
	if len(r.TagMutabilityExclusions) > maxExclusionFilters {
		return errf(KindInvalidParameter, "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'Member must have length less than or equal to %d'", maxExclusionFilters)
	}
	for _, f := range r.TagMutabilityExclusions {
		if !validExclusionFilter(f) {
			return errf(KindInvalidParameter, "Invalid parameter at 'imageTagMutabilityExclusionFilters.filter' failed to satisfy constraint: 'must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}$''")
		}
	}
	return nil
}

// validExclusionFilter matches ^[0-9a-zA-Z._*-]{1,128}$.
func validExclusionFilter(f string) bool {
	if f == "" || len(f) > maxExclusionFilter {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '*' || c == '-') {
			return false
		}
	}
	return true
}

// tagImmutable tells whether an existing tag of the repository may not be moved to another image. A
// filter matches a whole tag, '*' standing for any run of characters (also none), as in a lifecycle
// policy's tagPatternList.
func tagImmutable(r *store.Repository, tag string) bool {
	switch r.TagMutability {
	case Immutable:
		return true
	case ImmutableWithExclusion:
		return !matchesAny(tag, r.TagMutabilityExclusions)
	case MutableWithExclusion:
		return matchesAny(tag, r.TagMutabilityExclusions)
	}
	return false
}

func matchesAny(tag string, filters []string) bool {
	for _, f := range filters {
		if lifecycle.MatchPattern(tag, f) {
			return true
		}
	}
	return false
}

// Encryption types, and the bound of a KMS key's identifier.
const (
	AES256    = "AES256"
	KMS       = "KMS"
	KMSDSSE   = "KMS_DSSE"
	maxKMSKey = 2048
)

// validateEncryption checks a new repository's encryption settings (empty type: AES256). The key names
// a KMS key, so it goes only with the KMS types.
func validateEncryption(r *store.Repository) error {
	switch r.EncryptionType {
	case "":
		r.EncryptionType = AES256
	case AES256, KMS, KMSDSSE:
	default:
		return errf(KindInvalidParameter, "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]'")
	}
	switch {
	case len(r.KMSKey) > maxKMSKey:
		return errf(KindInvalidParameter, "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'Member must have length less than or equal to %d'", maxKMSKey)
	case r.KMSKey != "" && r.EncryptionType == AES256:
		return errf(KindInvalidParameter, "Invalid parameter at 'encryptionConfiguration.kmsKey' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'")
	}
	return nil
}

// KMSKeyARN is the key ARN a repository of the KMS types reports for the key it was given in region and
// account: the ARN as given; a key id or alias as the ARN it names; none (or the alias aws/ecr) as the
// ARN of the account's AWS managed key for ECR. Wharf asks no KMS service: the managed key's id is derived
// from the region and account, the same on every node and in every run.
func KMSKeyARN(region, account, key string) string {
	prefix := "arn:aws:kms:" + region + ":" + account + ":"
	switch {
	case key == "" || key == "alias/aws/ecr" || key == prefix+"alias/aws/ecr":
		h := sha256.Sum256([]byte("aws/ecr\x00" + region + "\x00" + account))
		h[6] = h[6]&0x0f | 0x40 // a version 4 UUID's form
		h[8] = h[8]&0x3f | 0x80
		return prefix + fmt.Sprintf("key/%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	case strings.HasPrefix(key, "arn:"):
		return key
	case strings.HasPrefix(key, "alias/"):
		return prefix + key
	}
	return prefix + "key/" + key
}
