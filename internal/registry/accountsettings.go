package registry

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/wharf-dev/wharf/internal/store"
)

// The account settings of ECR's PutAccountSetting.
const (
	// SettingBasicScanTypeVersion is the basic scanning engine: AWS_NATIVE, ECR's current one (Wharf's
	// scanner stands for it).
	SettingBasicScanTypeVersion = "BASIC_SCAN_TYPE_VERSION"
	// SettingRegistryPolicyScope is what the registry policy governs: V2 every ECR action on the registry's
	// repositories; V1 only replication and pull through cache (ecr:ReplicateImage,
	// ecr:BatchImportUpstreamImage, ecr:CreateRepository).
	SettingRegistryPolicyScope = "REGISTRY_POLICY_SCOPE"
	// SettingBlobMounting is whether a push may mount a layer another repository of the registry holds.
	SettingBlobMounting = "BLOB_MOUNTING"
)

// accountSettings are each setting's values, the first its default: ECR's for a new registry, except
// blob mounting, which Wharf has always done (ECR's is off until enabled).
var accountSettings = map[string][]string{
	SettingBasicScanTypeVersion: {"AWS_NATIVE"},
	SettingRegistryPolicyScope:  {"V2", "V1"},
	SettingBlobMounting:         {"ENABLED", "DISABLED"},
}

// V1PolicyActions are the actions a registry policy governs under scope V1.
var V1PolicyActions = []string{"ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}

func checkAccountSetting(name string) error {
	if _, ok := accountSettings[name]; !ok {
		return errf(KindInvalidParameter, "Invalid parameter at 'name' failed to satisfy constraint: 'Member must satisfy enum value set: [%s, %s, %s]'",
			SettingBasicScanTypeVersion, SettingRegistryPolicyScope, SettingBlobMounting)
	}
	return nil
}

// AccountSettingIn returns a registry's setting in tx: the value set, else the default.
func AccountSettingIn(tx store.Tx, registryID, name string) (string, error) {
	v, err := tx.AccountSetting(registryID, name)
	if errors.Is(err, store.ErrNotFound) {
		return accountSettings[name][0], nil
	}
	return v, err
}

// AccountSetting returns a registry's setting.
func (s *Service) AccountSetting(ctx context.Context, registryID, name string) (string, error) {
	if err := checkAccountSetting(name); err != nil {
		return "", err
	}
	var v string
	err := s.meta.View(ctx, func(tx store.Tx) (err error) {
		v, err = AccountSettingIn(tx, registryID, name)
		return err
	})
	return v, internal(err)
}

// PutAccountSetting changes a registry's setting.
func (s *Service) PutAccountSetting(ctx context.Context, registryID, name, value string) error {
	if err := checkAccountSetting(name); err != nil {
		return err
	}
	if values := accountSettings[name]; !slices.Contains(values, value) {
		return errf(KindInvalidParameter, "Invalid parameter at 'value' failed to satisfy constraint: 'Member must satisfy enum value set: [%s]' for %s",
			strings.Join(values, ", "), name)
	}
	return internal(s.meta.Update(ctx, func(tx store.Tx) error {
		return tx.SetAccountSetting(registryID, name, value)
	}))
}

// blobMounting says whether the registry lets pushes mount layers across its repositories.
func blobMounting(tx store.Tx, registryID string) (bool, error) {
	v, err := AccountSettingIn(tx, registryID, SettingBlobMounting)
	return v == "ENABLED", err
}
