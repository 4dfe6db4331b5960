package store

import "time"

// Secret is a Secrets Manager secret of an account (the credentials of a pull through cache's upstream
// registry, say). Its values are versions of their own (SecretVersion).
type Secret struct {
	AccountID   string
	Name        string
	ARN         string // unique: arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>
	Description string
	Tags        []ResourceTag
	CreatedAt   time.Time
	ChangedAt   time.Time
	// DeletedAt is when DeleteSecret scheduled it for deletion, PurgeAt when it is to be deleted for good;
	// both zero unless it is scheduled.
	DeletedAt time.Time
	PurgeAt   time.Time
}

// SecretVersion is one value of a secret: sealed with the server secret by the caller (the store never
// sees it in clear), with the staging labels it carries (AWSCURRENT, AWSPREVIOUS …).
type SecretVersion struct {
	SecretARN string
	VersionID string
	Stages    []string
	Sealed    []byte
	Binary    bool // SecretBinary rather than SecretString
	CreatedAt time.Time
}

// SecretTx keeps secrets and their versions. Deleting a secret deletes its versions.
type SecretTx interface {
	// CreateSecret stores a new secret; ErrExists when the account has a secret of that name.
	CreateSecret(s Secret) error
	// Secret returns an account's secret by name; SecretByARN by ARN. ErrNotFound when there is none.
	Secret(accountID, name string) (*Secret, error)
	SecretByARN(arn string) (*Secret, error)
	// UpdateSecret replaces a secret's description, tags, times; ErrNotFound when there is none.
	UpdateSecret(s Secret) error
	// DeleteSecret removes a secret and its versions; ErrNotFound when there is none.
	DeleteSecret(arn string) error
	// Secrets lists an account's secrets with names after after, in order, at most limit.
	Secrets(accountID, after string, limit int) ([]Secret, error)
	// SecretsDue lists the secrets, of any account, scheduled to be deleted at or before t, at most limit.
	SecretsDue(t time.Time, limit int) ([]Secret, error)

	// PutSecretVersion stores a new version; ErrExists when the secret has one with that id, ErrNotFound
	// when there is no such secret.
	PutSecretVersion(v SecretVersion) error
	// SetSecretVersionStages replaces a version's staging labels; ErrNotFound when there is no such version.
	SetSecretVersionStages(arn, versionID string, stages []string) error
	// DeleteSecretVersion removes a version; ErrNotFound when there is none.
	DeleteSecretVersion(arn, versionID string) error
	// SecretVersions lists a secret's versions, oldest first.
	SecretVersions(arn string) ([]SecretVersion, error)
}
