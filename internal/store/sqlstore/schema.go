package sqlstore

import (
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

// migrations are applied in order, each once; a database records the highest it has seen.
// Never edit a released migration: append a new one.
var migrations = []string{
	// 1: repositories, blobs, links, images, tags, uploads.
	`
CREATE TABLE repositories (
	id              INTEGER PRIMARY KEY,
	registry_id     TEXT    NOT NULL,
	name            TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	tag_mutability  TEXT    NOT NULL,
	scan_on_push    INTEGER NOT NULL,
	encryption_type TEXT    NOT NULL,
	kms_key         TEXT    NOT NULL DEFAULT '',
	UNIQUE (registry_id, name)
);
CREATE TABLE blobs (
	digest     TEXT    PRIMARY KEY,
	size       INTEGER NOT NULL,
	status     INTEGER NOT NULL,
	touched_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE repository_blobs (
	repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest        TEXT    NOT NULL REFERENCES blobs(digest),
	linked_at     INTEGER NOT NULL,
	PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
CREATE TABLE images (
	repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	digest         TEXT    NOT NULL,
	media_type     TEXT    NOT NULL,
	artifact_type  TEXT    NOT NULL,
	subject        TEXT    NOT NULL,
	size           INTEGER NOT NULL,
	pushed_at      INTEGER NOT NULL,
	last_pulled_at INTEGER NOT NULL DEFAULT 0,
	annotations    TEXT    NOT NULL,
	content        BLOB    NOT NULL,
	PRIMARY KEY (repository_id, digest)
);
CREATE INDEX images_subject ON images(repository_id, subject) WHERE subject <> '';
CREATE TABLE image_refs (
	repository_id INTEGER NOT NULL,
	image_digest  TEXT    NOT NULL,
	kind          INTEGER NOT NULL,
	digest        TEXT    NOT NULL,
	PRIMARY KEY (repository_id, image_digest, kind, digest),
	FOREIGN KEY (repository_id, image_digest) REFERENCES images(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX image_refs_target ON image_refs(repository_id, digest, kind);
CREATE TABLE tags (
	repository_id INTEGER NOT NULL,
	name          TEXT    NOT NULL,
	digest        TEXT    NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (repository_id, name),
	FOREIGN KEY (repository_id, digest) REFERENCES images(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX tags_digest ON tags(repository_id, digest);
CREATE TABLE uploads (
	id            TEXT    PRIMARY KEY,
	repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	size          INTEGER NOT NULL,
	algorithm     TEXT    NOT NULL,
	hash_state    BLOB    NOT NULL,
	started_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 2: accounts, IAM users, access keys (secrets sealed by the caller), repository resource tags.
	`
CREATE TABLE accounts (
	id         TEXT    PRIMARY KEY,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE users (
	account_id TEXT    NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT    NOT NULL,
	user_id    TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
CREATE TABLE access_keys (
	id         TEXT    PRIMARY KEY,
	account_id TEXT    NOT NULL,
	user_name  TEXT    NOT NULL,
	secret     BLOB    NOT NULL,
	status     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX access_keys_user ON access_keys(account_id, user_name);
CREATE TABLE repository_tags (
	repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	key           TEXT    NOT NULL,
	value         TEXT    NOT NULL,
	PRIMARY KEY (repository_id, key)
) WITHOUT ROWID;
`,
	// 3: ECR's layer-part rules need each upload's part count and last part size.
	`
ALTER TABLE uploads ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN last_part INTEGER NOT NULL DEFAULT 0;
`,
	// 4: IAM policies: users' inline and attached policies, repository and registry policies.
	`
CREATE TABLE user_policies (
	account_id TEXT NOT NULL,
	user_name  TEXT NOT NULL,
	name       TEXT NOT NULL,
	document   TEXT NOT NULL,
	PRIMARY KEY (account_id, user_name, name),
	FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE user_attached_policies (
	account_id TEXT NOT NULL,
	user_name  TEXT NOT NULL,
	policy_arn TEXT NOT NULL,
	PRIMARY KEY (account_id, user_name, policy_arn),
	FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE repository_policies (
	repository_id INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
	document      TEXT NOT NULL
);
CREATE TABLE registry_policies (
	registry_id TEXT PRIMARY KEY,
	document    TEXT NOT NULL
) WITHOUT ROWID;
`,
	// 5: IAM groups and roles, and the inline and attached policies of both.
	`
CREATE TABLE iam_groups (
	account_id TEXT    NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT    NOT NULL,
	group_id   TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
CREATE TABLE iam_group_members (
	account_id TEXT NOT NULL,
	group_name TEXT NOT NULL,
	user_name  TEXT NOT NULL,
	PRIMARY KEY (account_id, group_name, user_name),
	FOREIGN KEY (account_id, group_name) REFERENCES iam_groups(account_id, name) ON DELETE CASCADE,
	FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX iam_group_members_user ON iam_group_members(account_id, user_name);
CREATE TABLE iam_roles (
	account_id   TEXT    NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name         TEXT    NOT NULL,
	role_id      TEXT    NOT NULL UNIQUE,
	trust_policy TEXT    NOT NULL,
	max_session  INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
CREATE TABLE iam_owner_policies (
	account_id TEXT NOT NULL,
	kind       TEXT NOT NULL,
	owner      TEXT NOT NULL,
	name       TEXT NOT NULL,
	document   TEXT NOT NULL,
	PRIMARY KEY (account_id, kind, owner, name)
) WITHOUT ROWID;
CREATE TABLE iam_owner_attached (
	account_id TEXT NOT NULL,
	kind       TEXT NOT NULL,
	owner      TEXT NOT NULL,
	policy_arn TEXT NOT NULL,
	PRIMARY KEY (account_id, kind, owner, policy_arn)
) WITHOUT ROWID;
`,
	// 6: lifecycle policies, their events and previews; leases for work one node does at a time.
	`
CREATE TABLE lifecycle_policies (
	repository_id     INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
	document          TEXT    NOT NULL,
	updated_at        INTEGER NOT NULL,
	last_evaluated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE lifecycle_events (
	id            INTEGER PRIMARY KEY,
	repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
	at            INTEGER NOT NULL,
	digest        TEXT    NOT NULL,
	tags          TEXT    NOT NULL,
	pushed_at     INTEGER NOT NULL,
	rule_priority INTEGER NOT NULL
);
CREATE INDEX lifecycle_events_repository ON lifecycle_events(repository_id, at);
CREATE INDEX lifecycle_events_at ON lifecycle_events(at);
CREATE TABLE lifecycle_previews (
	repository_id INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
	document      TEXT    NOT NULL,
	status        TEXT    NOT NULL,
	started_at    INTEGER NOT NULL,
	results       TEXT    NOT NULL
);
CREATE TABLE leases (
	name       TEXT    PRIMARY KEY,
	holder     TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 7: each repository counts its images, so the image limit is checked without counting rows (a scan that,
	// in a serializable PostgreSQL transaction, conflicts with every concurrent push).
	`
ALTER TABLE repositories ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;
UPDATE repositories SET image_count = (SELECT COUNT(*) FROM images WHERE images.repository_id = repositories.id);
`,
	// 8: durable jobs and their periodic schedules; the outbox of events and its consumers' cursors. Events
	// are ordered by (tx, id): on SQLite, whose single writer commits in id order, tx stays the same; on
	// PostgreSQL it is the writing transaction's id, read only once no older transaction is running.
	`
CREATE TABLE jobs (
	id           INTEGER PRIMARY KEY,
	kind         TEXT    NOT NULL,
	unique_key   TEXT    NOT NULL,
	payload      BLOB    NOT NULL,
	state        INTEGER NOT NULL,
	attempts     INTEGER NOT NULL,
	max_attempts INTEGER NOT NULL,
	run_at       INTEGER NOT NULL,
	holder       TEXT    NOT NULL,
	lease_until  INTEGER NOT NULL,
	last_error   TEXT    NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(kind, state, run_at);
CREATE UNIQUE INDEX jobs_unique ON jobs(unique_key) WHERE unique_key <> '' AND state = 0;
CREATE TABLE job_schedules (
	name     TEXT    PRIMARY KEY,
	next_run INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	tx          INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	at          INTEGER NOT NULL,
	registry_id TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	data        TEXT    NOT NULL
);
CREATE INDEX events_position ON events(tx, id);
CREATE INDEX events_at ON events(at);
CREATE TABLE event_cursors (
	consumer TEXT    PRIMARY KEY,
	tx       INTEGER NOT NULL,
	id       INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 9: the nodes of an installation, by their last heartbeat: throttling shares each limit among the live ones.
	`
CREATE TABLE nodes (
	id      TEXT    PRIMARY KEY,
	seen_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 10: the audit trail: chunks of CloudTrail records (package audit encodes them), each one account's,
	// with the columns LookupEvents narrows by, and the trail log file each is delivered in. Reads are
	// written a chunk per batch, a mutating call a chunk of its own.
	`
CREATE TABLE audit_chunks (
	id         INTEGER PRIMARY KEY,
	account    TEXT    NOT NULL,
	node       TEXT    NOT NULL,
	start_time INTEGER NOT NULL,
	end_time   INTEGER NOT NULL,
	records    INTEGER NOT NULL,
	names      TEXT    NOT NULL,
	read_only  INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	log_file   TEXT    NOT NULL DEFAULT '',
	delivered  INTEGER NOT NULL
);
CREATE INDEX audit_chunks_time ON audit_chunks(account, end_time, id);
CREATE INDEX audit_chunks_pending ON audit_chunks(log_file, id) WHERE delivered = 0;
`,
	// 11: cheaper events. They are pruned along their positions (events_position), so the index by time
	// goes; on SQLite the table is rebuilt without AUTOINCREMENT, whose sqlite_sequence row every event
	// wrote (new events follow the highest position there is; see txOrder for an empty outbox).
	`
DROP INDEX events_at;
` + sqliteOnly + `
CREATE TABLE events_new (
	id          INTEGER PRIMARY KEY,
	tx          INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	at          INTEGER NOT NULL,
	registry_id TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	data        TEXT    NOT NULL
);
` + sqliteOnly + `
INSERT INTO events_new (id, tx, type, at, registry_id, repository, data)
	SELECT id, tx, type, at, registry_id, repository, data FROM events;
` + sqliteOnly + `
DROP TABLE events;
` + sqliteOnly + `
ALTER TABLE events_new RENAME TO events;
` + sqliteOnly + `
CREATE INDEX events_position ON events(tx, id);
`,
	// 12: image scans: each image's latest scan, its findings (paged in order) and the inventory it was
	// matched from; each registry's scanning configuration.
	`
CREATE TABLE image_scans (
	repository_id     INTEGER NOT NULL,
	digest            TEXT    NOT NULL,
	scan_type         TEXT    NOT NULL,
	status            TEXT    NOT NULL,
	description       TEXT    NOT NULL,
	started_at        INTEGER NOT NULL,
	manual_at         INTEGER NOT NULL,
	completed_at      INTEGER NOT NULL,
	source_updated_at INTEGER NOT NULL,
	severity_counts   TEXT    NOT NULL,
	inventory         BLOB,
	PRIMARY KEY (repository_id, digest),
	FOREIGN KEY (repository_id, digest) REFERENCES images(repository_id, digest) ON DELETE CASCADE
);
CREATE TABLE image_scan_findings (
	repository_id INTEGER NOT NULL,
	digest        TEXT    NOT NULL,
	seq           INTEGER NOT NULL,
	data          TEXT    NOT NULL,
	PRIMARY KEY (repository_id, digest, seq),
	FOREIGN KEY (repository_id, digest) REFERENCES image_scans(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE scanning_configurations (
	registry_id TEXT    PRIMARY KEY,
	scan_type   TEXT    NOT NULL,
	rules       TEXT    NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 13: the vulnerability database: OSV advisories as JSON, the packages each affects (what matching looks
	// up), and when they last changed. Advisories are kilobytes each: a table with row ids packs them in
	// pages, where a WITHOUT ROWID table would spill each into an overflow page of its own.
	`
CREATE TABLE advisories (
	id       TEXT    PRIMARY KEY,
	modified INTEGER NOT NULL,
	data     BLOB    NOT NULL
);
CREATE TABLE advisory_packages (
	ecosystem   TEXT NOT NULL,
	name        TEXT NOT NULL,
	advisory_id TEXT NOT NULL REFERENCES advisories(id) ON DELETE CASCADE,
	PRIMARY KEY (ecosystem, name, advisory_id)
) WITHOUT ROWID;
CREATE INDEX advisory_packages_advisory ON advisory_packages(advisory_id);
CREATE TABLE advisories_updated (
	name TEXT    PRIMARY KEY,
	at   INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 14: the principals whose pulls do not update images' last pull time, per registry.
	`
CREATE TABLE pull_time_exclusions (
	registry_id   TEXT    NOT NULL,
	principal_arn TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	PRIMARY KEY (registry_id, principal_arn)
) WITHOUT ROWID;
`,
	// 15: how many of an upload's chunks, before its last, were smaller than the ECR API's minimum part.
	`
ALTER TABLE uploads ADD COLUMN small_parts INTEGER NOT NULL DEFAULT 0;
`,
	// 16: each registry's account settings (ECR's PutAccountSetting), those set.
	`
CREATE TABLE account_settings (
	registry_id TEXT NOT NULL,
	name        TEXT NOT NULL,
	value       TEXT NOT NULL,
	PRIMARY KEY (registry_id, name)
) WITHOUT ROWID;
`,
	// 17: the upkeep of scans finds them by state (scans in progress too long), and the jobs of scans by
	// their unique key, dead ones too.
	`
CREATE INDEX image_scans_status ON image_scans(status, started_at);
CREATE INDEX jobs_key ON jobs(unique_key);
`,
	// 18: the tag mutability exclusion filters of a repository (IMMUTABLE_WITH_EXCLUSION and
	// MUTABLE_WITH_EXCLUSION), one a line.
	`
ALTER TABLE repositories ADD COLUMN tag_mutability_exclusions TEXT NOT NULL DEFAULT '';
`,
	// 19: managed signing: each registry's signing configuration and key (sealed with the server secret),
	// and the signing status of images under each signing profile.
	`
CREATE TABLE signing_configurations (
	registry_id TEXT    PRIMARY KEY,
	rules       TEXT    NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE signing_keys (
	registry_id  TEXT    PRIMARY KEY,
	sealed_key   BLOB    NOT NULL,
	certificates TEXT    NOT NULL,
	created_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE image_signing_statuses (
	repository_id  INTEGER NOT NULL,
	digest         TEXT    NOT NULL,
	profile_arn    TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	failure_code   TEXT    NOT NULL,
	failure_reason TEXT    NOT NULL,
	signature      TEXT    NOT NULL,
	updated_at     INTEGER NOT NULL,
	PRIMARY KEY (repository_id, digest, profile_arn),
	FOREIGN KEY (repository_id, digest) REFERENCES images(repository_id, digest) ON DELETE CASCADE
);
`,
	// 20: the storage class state of images archived at least once (ECR's archival storage class): whether
	// in the archive, when last archived, when the last restore completes (0: never restored).
	`
CREATE TABLE image_storage (
	repository_id INTEGER NOT NULL,
	digest        TEXT    NOT NULL,
	archived      INTEGER NOT NULL,
	archived_at   INTEGER NOT NULL,
	activated_at  INTEGER NOT NULL,
	PRIMARY KEY (repository_id, digest),
	FOREIGN KEY (repository_id, digest) REFERENCES images(repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
`,
	// 21: console sign-in: users' login profiles (password hashes, the previous ones a line each), accounts'
	// password policies, and account aliases (one per account, unique across the installation).
	`
CREATE TABLE login_profiles (
	account_id     TEXT    NOT NULL,
	user_name      TEXT    NOT NULL,
	password_hash  TEXT    NOT NULL,
	history        TEXT    NOT NULL,
	reset_required INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	changed_at     INTEGER NOT NULL,
	PRIMARY KEY (account_id, user_name),
	FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE password_policies (
	account_id        TEXT    PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	minimum_length    INTEGER NOT NULL,
	require_symbols   INTEGER NOT NULL,
	require_numbers   INTEGER NOT NULL,
	require_uppercase INTEGER NOT NULL,
	require_lowercase INTEGER NOT NULL,
	allow_change      INTEGER NOT NULL,
	max_age           INTEGER NOT NULL,
	reuse_prevention  INTEGER NOT NULL,
	hard_expiry       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE account_aliases (
	alias      TEXT PRIMARY KEY,
	account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE
) WITHOUT ROWID;
`,
	// 22: usage: image pulls and bytes pulled per repository and day (repository '' for the registry).
	`
CREATE TABLE usage_daily (
	registry_id TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	day         INTEGER NOT NULL,
	pulls       INTEGER NOT NULL,
	bytes       INTEGER NOT NULL,
	PRIMARY KEY (registry_id, repository, day)
) WITHOUT ROWID;
`,
	// 23: the web console's sessions, by the hash of their secret.
	`
CREATE TABLE console_sessions (
	id_hash        TEXT    PRIMARY KEY,
	account_id     TEXT    NOT NULL,
	user_name      TEXT    NOT NULL,
	role           TEXT    NOT NULL,
	reset_required INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(account_id, user_name);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
`,
	// 24: Secrets Manager's secrets (tags as JSON) and their versions: values sealed with the server secret,
	// staging labels as JSON. A secret scheduled for deletion keeps its name until purge_at.
	`
CREATE TABLE secrets (
	arn         TEXT    PRIMARY KEY,
	account_id  TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	description TEXT    NOT NULL,
	tags        TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	changed_at  INTEGER NOT NULL,
	deleted_at  INTEGER NOT NULL,
	purge_at    INTEGER NOT NULL,
	UNIQUE (account_id, name)
) WITHOUT ROWID;
CREATE INDEX secrets_purge ON secrets(purge_at) WHERE purge_at <> 0;
CREATE TABLE secret_versions (
	secret_arn TEXT    NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
	version_id TEXT    NOT NULL,
	stages     TEXT    NOT NULL,
	sealed     BLOB    NOT NULL,
	is_binary  INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (secret_arn, version_id)
) WITHOUT ROWID;
`,
	// 25: repository creation templates, per registry and prefix: the settings, policies and resource tags
	// (JSON) of the repositories created under the prefix, and what they apply for (a comma-separated list).
	`
CREATE TABLE repository_creation_templates (
	registry_id               TEXT    NOT NULL,
	prefix                    TEXT    NOT NULL,
	description               TEXT    NOT NULL,
	encryption_type           TEXT    NOT NULL,
	kms_key                   TEXT    NOT NULL,
	resource_tags             TEXT    NOT NULL,
	tag_mutability            TEXT    NOT NULL,
	tag_mutability_exclusions TEXT    NOT NULL,
	repository_policy         TEXT    NOT NULL,
	lifecycle_policy          TEXT    NOT NULL,
	applied_for               TEXT    NOT NULL,
	custom_role_arn           TEXT    NOT NULL,
	created_at                INTEGER NOT NULL,
	updated_at                INTEGER NOT NULL,
	PRIMARY KEY (registry_id, prefix)
) WITHOUT ROWID;
`,
	// 26: a role's description (IAM's CreateRole and UpdateRole).
	`
ALTER TABLE iam_roles ADD COLUMN description TEXT NOT NULL DEFAULT '';
`,
	// 27: each registry's replication configuration (its rules as JSON), and the replication of each image
	// pushed under it to each destination (region and registry), which goes with the image.
	`
CREATE TABLE replication_configurations (
	registry_id TEXT    PRIMARY KEY,
	rules       TEXT    NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE image_replication_statuses (
	repository_id  INTEGER NOT NULL,
	digest         TEXT    NOT NULL,
	region         TEXT    NOT NULL,
	registry_id    TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	failure_code   TEXT    NOT NULL,
	updated_at     INTEGER NOT NULL,
	PRIMARY KEY (repository_id, digest, region, registry_id),
	FOREIGN KEY (repository_id, digest) REFERENCES images(repository_id, digest) ON DELETE CASCADE
);
`,
	// 28: pull through cache rules, per registry and prefix: the upstream registry they fetch from and the
	// secret of its credentials.
	`
CREATE TABLE pull_through_cache_rules (
	registry_id                TEXT    NOT NULL,
	prefix                     TEXT    NOT NULL,
	upstream_url               TEXT    NOT NULL,
	upstream_registry          TEXT    NOT NULL,
	upstream_repository_prefix TEXT    NOT NULL,
	credential_arn             TEXT    NOT NULL,
	custom_role_arn            TEXT    NOT NULL,
	created_at                 INTEGER NOT NULL,
	updated_at                 INTEGER NOT NULL,
	PRIMARY KEY (registry_id, prefix)
) WITHOUT ROWID;
`,
	// 29: when each tag of a repository filled by a pull through cache was last checked against its
	// upstream, shared by all nodes (the tags are re-checked at most once per refresh interval).
	`
CREATE TABLE pull_through_tag_checks (
	registry_id TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	tag         TEXT    NOT NULL,
	checked_at  INTEGER NOT NULL,
	PRIMARY KEY (registry_id, repository, tag)
) WITHOUT ROWID;
`,
}

// sqliteOnly begins the statements of a migration that PostgreSQL skips.
const sqliteOnly = "-- SQLite only\n"

// SchemaVersion is the schema version this build migrates databases to.
func SchemaVersion() int { return len(migrations) }

// Migrate brings a database's schema up to date: each migration once, in order, each in its own
// transaction. On PostgreSQL an advisory lock serialises nodes that start together.
func Migrate(db *sql.DB, d *Dialect) error {
	for {
		done, err := migrateOne(db, d)
		if err != nil || done {
			return err
		}
	}
}

// migrationLock is the PostgreSQL advisory lock key of schema migrations.
const migrationLock = 0x77686172660001

// migrateOne applies the next migration, or reports that none is left.
func migrateOne(db *sql.DB, d *Dialect) (done bool, err error) {
	tx, err := db.Begin()
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if d.Postgres {
		if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return false, err
		}
	}
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, err
	}
	var v int
	if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return false, err
	}
	if v > len(migrations) {
		return false, fmt.Errorf("database schema version %d is newer than this wharf (%d)", v, len(migrations))
	}
	if v == len(migrations) {
		return true, nil
	}
	for _, stmt := range strings.Split(d.ddl(migrations[v]), ";") {
		if strings.TrimSpace(stmt) == "" || d.Postgres && strings.HasPrefix(strings.TrimSpace(stmt), sqliteOnly) {
			continue
		}
		if _, err := tx.Exec(stmt); err != nil {
			return false, fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(d.rewrite(`INSERT INTO schema_version (version) VALUES (?)`), v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

var (
	rowidKey = regexp.MustCompile(`\bid(\s+)INTEGER PRIMARY KEY\b`)
	blob     = regexp.MustCompile(`\bBLOB\b`)
	integer  = regexp.MustCompile(`\bINTEGER\b`)
	text     = regexp.MustCompile(`\bTEXT\b`)
)

// ddl turns the schema as written (SQLite's) into this database's. On PostgreSQL: 64-bit integers and
// identity keys, BYTEA, and byte-order collation for text, so listings sort as they do on SQLite.
func (d *Dialect) ddl(s string) string {
	if !d.Postgres {
		return s
	}
	s = strings.ReplaceAll(s, "PRIMARY KEY AUTOINCREMENT", "PRIMARY KEY") // identities never reuse values
	s = rowidKey.ReplaceAllString(s, "id${1}BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
	s = integer.ReplaceAllString(s, "BIGINT")
	s = text.ReplaceAllString(s, `TEXT COLLATE "C"`)
	s = blob.ReplaceAllString(s, "BYTEA")
	return strings.ReplaceAll(s, ") WITHOUT ROWID", ")")
}
