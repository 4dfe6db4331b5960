// Package store defines Wharf's transactional metadata store: repositories, images, tags, per-repository
// blob references and upload sessions. The domain core (package registry) owns every rule; a store only
// keeps rows and answers questions about them. Every implementation passes the suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors every implementation returns, matched with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrConflict = errors.New("store: conflicting concurrent change")
	// ErrFull is wrapped in the error of a change refused because the database has no space left.
	ErrFull = errors.New("store: no space left")
)

// Store runs transactions. Update's changes are durable when it returns nil; a failed Update changes nothing.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Repository is a named collection of images inside one registry (an account's registry).
type Repository struct {
	ID            int64
	RegistryID    string
	Name          string
	CreatedAt     time.Time
	TagMutability string // MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION
	// TagMutabilityExclusions are the wildcard filters of the tags the *_WITH_EXCLUSION settings except.
	TagMutabilityExclusions []string
	ScanOnPush              bool
	EncryptionType          string
	KMSKey                  string
}

// Blob is a content-addressed blob known to the registry.
type Blob struct {
	Digest    digest.Digest
	Size      int64
	Status    BlobStatus
	TouchedAt time.Time // last upload or link; garbage collection spares young blobs
}

// BlobStatus is a blob's place in its life cycle: Active blobs may be linked; Deleting blobs are being
// removed by the garbage collector and may not be linked again until they are gone.
type BlobStatus int

const (
	BlobActive BlobStatus = iota
	BlobDeleting
)

// Image is a manifest stored in a repository.
type Image struct {
	RepositoryID int64
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	Subject      digest.Digest // "" when the manifest has no subject
	Size         int64         // manifest plus config plus layers, as ECR counts imageSizeInBytes
	PushedAt     time.Time
	LastPulledAt time.Time // zero when never pulled
	Annotations  string    // the manifest's annotations as JSON, "" when none (for the referrers API)
	Content      []byte    // exact manifest bytes; only filled by GetImage
}

// RefKind tells what an image references.
type RefKind int

const (
	RefBlob     RefKind = iota // config or layer
	RefManifest                // child of an index
)

// Ref is one reference from an image to a blob or child manifest in the same repository.
type Ref struct {
	Kind   RefKind
	Digest digest.Digest
}

// Tag names an image.
type Tag struct {
	Name      string
	Digest    digest.Digest
	UpdatedAt time.Time
}

// Upload is a blob upload session. HashState is the marshaled running hash of the bytes received so far.
type Upload struct {
	ID           string
	RepositoryID int64
	Offset       int64
	Algorithm    digest.Algorithm
	HashState    []byte
	Parts        int   // chunks received so far
	LastPart     int64 // size of the last chunk
	SmallParts   int   // chunks before the last smaller than the ECR API's minimum layer part
	StartedAt    time.Time
	UpdatedAt    time.Time
}

// Account is an AWS-style account: the owner of one registry per region.
type Account struct {
	ID        string // 12 digits
	CreatedAt time.Time
}

// User is an IAM user of an account.
type User struct {
	AccountID string
	Name      string
	UserID    string // AIDA…, unique
	CreatedAt time.Time
}

// AccessKey is a user's access key. Secret is stored as the caller gives it (encrypted).
type AccessKey struct {
	ID        string // AKIA…
	AccountID string
	UserName  string
	Secret    []byte
	Status    string // "Active" or "Inactive"
	CreatedAt time.Time
}

// Group is an IAM group.
type Group struct {
	AccountID string
	Name      string
	GroupID   string
	CreatedAt time.Time
}

// Role is an IAM role: TrustPolicy says who may assume it.
type Role struct {
	AccountID   string
	Name        string
	RoleID      string
	TrustPolicy string
	Description string
	MaxSession  time.Duration
	CreatedAt   time.Time
}

// Owners of inline and attached policies besides users.
const (
	GroupPolicies = "group"
	RolePolicies  = "role"
)

// ResourceTag is a key/value tag on a repository.
type ResourceTag struct {
	Key, Value string
}

// LifecyclePolicy is a repository's lifecycle policy.
type LifecyclePolicy struct {
	RepositoryID    int64
	Text            string
	UpdatedAt       time.Time
	LastEvaluatedAt time.Time // zero until the policy was first applied
}

// Expiry is an image a lifecycle policy expires (or, in a preview, would expire).
type Expiry struct {
	Digest   digest.Digest `json:"digest"`
	Tags     []string      `json:"tags,omitempty"`
	PushedAt time.Time     `json:"pushedAt"`
	Rule     int           `json:"rule"` // the rulePriority of the rule that expires it
	// Transition: the rule archives the image (ECR's transition action) instead of expiring it.
	Transition bool `json:"transition,omitempty"`
	// Archived: the image is in the archive storage class (it is evaluated as such).
	Archived bool `json:"archived,omitempty"`
}

// LifecycleEvent records that lifecycle expired an image.
type LifecycleEvent struct {
	At time.Time
	Expiry
}

// LifecyclePreview is a repository's latest lifecycle policy preview.
type LifecyclePreview struct {
	RepositoryID int64
	Text         string
	Status       string // "IN_PROGRESS", "COMPLETE" or "FAILED"
	StartedAt    time.Time
	Results      []Expiry
}

// JobState is where a job is in its life.
type JobState int

const (
	// JobQueued jobs wait for run_at; a queued job with a live lease is running on its holder.
	JobQueued JobState = iota
	// JobDead jobs failed their last attempt (or were lost on it) and wait for an operator.
	JobDead
)

// Job is a unit of durable background work. A job is run by one holder at a time, under a lease the holder
// renews; when the lease lapses (its node died), another holder claims it again. Succeeded jobs are deleted.
type Job struct {
	ID   int64
	Kind string
	// UniqueKey, when not "", keeps a second job with the same key from being enqueued while one is queued
	// or running (periodic jobs use it).
	UniqueKey   string
	Payload     []byte
	State       JobState
	Attempts    int // claims so far, the current one included
	MaxAttempts int // dead after this many failed attempts
	RunAt       time.Time
	Holder      string
	LeaseUntil  time.Time
	LastError   string
	CreatedAt   time.Time
}

// JobCount is how many jobs of a kind are in one state; Running counts queued jobs under a live lease.
type JobCount struct {
	Kind                  string
	Queued, Running, Dead int
}

// Event is something that happened in the registry, recorded in the transaction of the change (an outbox):
// consumers read events in order with a cursor of their own.
type Event struct {
	ID         int64
	Position   EventPosition // set when read
	Type       string
	At         time.Time
	RegistryID string
	Repository string
	Data       []byte // the event's details as JSON
}

// EventPosition orders events as consumers read them. A consumer reading after a position never misses an
// event committed later (each database orders events so).
type EventPosition struct {
	Tx, ID int64
}

// AuditChunk is a batch of audit trail records of one account (the account that sees them: a call across
// accounts is recorded in a chunk of each), encoded by package audit. The columns beside the data are
// what LookupEvents narrows by and what delivery tracks.
type AuditChunk struct {
	ID         int64 // set by the store: the order chunks were written in
	Account    string
	Node       string    // the node that wrote it
	Start, End time.Time // its first and last records' times
	Records    int
	Names      string // the event names it holds, each between commas: ",BatchGetImage,GetDownloadUrlForLayer,"
	ReadOnly   bool   // it holds read-only calls' records only
	Data       []byte
	LogFile    string // the trail log file it is (being) delivered in, "" until then
	Delivered  bool   // delivered, or written where no delivery is configured
}

// AuditChunkSpan bounds the times of a chunk's records: End - Start < AuditChunkSpan. A query of chunks
// up to a time looks for them among those ending before that time and a span.
const AuditChunkSpan = 15 * time.Minute

// AuditChunkQuery selects an account's chunks that may hold records from Start to End (inclusive, zero for
// open), holding Name when not "", a mutating call's record when Mutating, and strictly before the chunk
// (BeforeEnd, BeforeID) when BeforeID is not 0: newest End first, then highest ID.
type AuditChunkQuery struct {
	Account    string
	Start, End time.Time
	Name       string
	Mutating   bool
	BeforeEnd  time.Time
	BeforeID   int64
	Limit      int
}

// Advisory is one vulnerability advisory in the OSV format (package vulndb reads it), kept with the
// packages it affects so that an image's packages find theirs.
type Advisory struct {
	ID       string
	Modified time.Time
	Data     []byte // the advisory's OSV JSON
	// Packages are the (ecosystem, name) pairs it affects, as package vulndb normalises them.
	Packages []AdvisoryPackage
}

// AdvisoryPackage is a package an advisory affects.
type AdvisoryPackage struct {
	Ecosystem, Name string
}

// AdvisoryCount is how many advisories affect packages of an ecosystem.
type AdvisoryCount struct {
	Ecosystem  string
	Advisories int
}

// Tx is one transaction. Methods return ErrNotFound for missing rows and ErrExists for duplicate keys.
// Listing methods return rows in ascending key order, strictly after the given key, at most limit rows.
type Tx interface {
	ScanTx
	PullTimeExclusionTx
	AccountSettingTx
	SigningTx
	ImageStorageTx
	SignInTx
	IAMListTx
	IAMChangeTx
	ConsoleSessionTx
	UsageTx
	SecretTx
	CreationTemplateTx
	ReplicationTx
	PullThroughCacheRuleTx

	CreateRepository(r *Repository) error // sets r.ID
	GetRepository(registryID, name string) (*Repository, error)
	GetRepositoryByID(id int64) (*Repository, error)
	ListRepositories(registryID, after string, limit int) ([]Repository, error)
	CountRepositories(registryID string) (int, error)
	UpdateRepository(r *Repository) error
	DeleteRepository(id int64) error // also its images, tags, links and uploads

	// PutBlob records a blob as Active and touched at b.TouchedAt. It returns ErrConflict when the blob
	// is being deleted.
	PutBlob(b Blob) error
	GetBlob(d digest.Digest) (*Blob, error)
	// MarkBlobDeleting moves an Active blob untouched since before cutoff, with no repository link,
	// to Deleting. It reports whether it did.
	MarkBlobDeleting(d digest.Digest, cutoff time.Time) (bool, error)
	DeleteBlob(d digest.Digest) error
	// GarbageBlobs lists Active blobs untouched since before cutoff that no repository links,
	// and Deleting blobs (an interrupted collection), at most limit.
	GarbageBlobs(cutoff time.Time, limit int) ([]Blob, error)

	// LinkBlob makes an Active blob visible in a repository (idempotent) and touches it.
	// It returns ErrNotFound when the blob is not Active.
	LinkBlob(repoID int64, d digest.Digest, at time.Time) error
	// GetLinkedBlob returns the blob if the repository links it.
	GetLinkedBlob(repoID int64, d digest.Digest) (*Blob, error)
	UnlinkBlob(repoID int64, d digest.Digest) error
	// BlobRepositories lists repositories of the registry that link the Active blob d.
	BlobRepositories(registryID string, d digest.Digest, limit int) ([]Repository, error)
	// UnlinkUnreferenced removes links made before cutoff that no image of the repository references.
	UnlinkUnreferenced(cutoff time.Time, limit int) (int, error)

	// PutImage stores an image with its references. ErrExists if the repository holds the digest already.
	PutImage(img *Image, refs []Ref) error
	GetImage(repoID int64, d digest.Digest) (*Image, error)  // with Content
	StatImage(repoID int64, d digest.Digest) (*Image, error) // without Content
	ListImages(repoID int64, after digest.Digest, limit int) ([]Image, error)
	CountImages(repoID int64) (int, error)
	DeleteImage(repoID int64, d digest.Digest) error // also its tags and references
	// ReferencedBy lists the digests of images in the repository that reference d as kind.
	ReferencedBy(repoID int64, kind RefKind, d digest.Digest) ([]digest.Digest, error)
	// Referrers lists the images of the repository whose subject is d.
	Referrers(repoID int64, subject digest.Digest) ([]Image, error)
	// TouchPulls records pull times (batched by the caller).
	TouchPulls(repoID int64, pulls map[digest.Digest]time.Time) error

	// PutTag points a tag at an image, creating or moving it.
	PutTag(repoID int64, t Tag) error
	GetTag(repoID int64, name string) (*Tag, error)
	DeleteTag(repoID int64, name string) error
	ListTags(repoID int64, after string, limit int) ([]Tag, error)
	ListTagNames(repoID int64, after string, limit int) ([]string, error)
	// ImageTags returns an image's tags in the order they were put on it (by UpdatedAt, then by name).
	ImageTags(repoID int64, d digest.Digest) ([]string, error)
	// TagsBetween returns the tags of the repository's images with digests from first to last, by digest;
	// each image's tags in the order ImageTags gives.
	TagsBetween(repoID int64, first, last digest.Digest) (map[digest.Digest][]string, error)

	CreateAccount(a Account) error
	GetAccount(id string) (*Account, error)
	CreateUser(u User) error
	GetUser(accountID, name string) (*User, error)
	ListUsers(accountID string) ([]User, error)
	DeleteUser(accountID, name string) error // also its access keys
	CreateAccessKey(k AccessKey) error
	GetAccessKey(id string) (*AccessKey, error)
	ListAccessKeys(accountID, userName string) ([]AccessKey, error)
	SetAccessKeyStatus(id, status string) error
	DeleteAccessKey(id string) error

	// PutUserPolicy stores (or replaces) a user's inline policy.
	PutUserPolicy(accountID, user, name, document string) error
	DeleteUserPolicy(accountID, user, name string) error
	// UserPolicies returns a user's inline policies by name.
	UserPolicies(accountID, user string) (map[string]string, error)
	AttachUserPolicy(accountID, user, policyARN string) error
	DetachUserPolicy(accountID, user, policyARN string) error
	AttachedUserPolicies(accountID, user string) ([]string, error)
	CreateGroup(g Group) error
	GetGroup(accountID, name string) (*Group, error)
	AddUserToGroup(accountID, group, user string) error
	RemoveUserFromGroup(accountID, group, user string) error // ErrNotFound when the user is no member
	UserGroups(accountID, user string) ([]string, error)
	CreateRole(r Role) error
	GetRole(accountID, name string) (*Role, error)
	// Put/Attach/list policies of a group or role (kind GroupPolicies or RolePolicies).
	PutOwnerPolicy(accountID, kind, owner, name, document string) error
	OwnerPolicies(accountID, kind, owner string) (map[string]string, error)
	AttachOwnerPolicy(accountID, kind, owner, policyARN string) error
	AttachedOwnerPolicies(accountID, kind, owner string) ([]string, error)

	// SetRepositoryPolicy stores a repository's policy; "" deletes it.
	SetRepositoryPolicy(repoID int64, document string) error
	RepositoryPolicy(repoID int64) (string, error) // ErrNotFound when none
	SetRegistryPolicy(registryID, document string) error
	RegistryPolicy(registryID string) (string, error)

	// RepositoryTags lists a repository's resource tags by key.
	RepositoryTags(repoID int64) ([]ResourceTag, error)
	// PutRepositoryTags adds tags, replacing the values of keys already present.
	PutRepositoryTags(repoID int64, tags []ResourceTag) error
	DeleteRepositoryTags(repoID int64, keys []string) error

	// SetLifecyclePolicy creates or replaces a repository's lifecycle policy.
	SetLifecyclePolicy(p LifecyclePolicy) error
	LifecyclePolicy(repoID int64) (*LifecyclePolicy, error)
	DeleteLifecyclePolicy(repoID int64) error
	// LifecyclePolicies lists lifecycle policies by repository id.
	LifecyclePolicies(afterRepoID int64, limit int) ([]LifecyclePolicy, error)
	SetLifecycleEvaluated(repoID int64, at time.Time) error
	AddLifecycleEvents(repoID int64, events []LifecycleEvent) error
	// LifecycleEvents lists a repository's lifecycle events, newest first.
	LifecycleEvents(repoID int64, limit int) ([]LifecycleEvent, error)
	// PruneLifecycleEvents deletes events older than cutoff.
	PruneLifecycleEvents(cutoff time.Time) (int, error)
	// PutLifecyclePreview creates or replaces a repository's preview.
	PutLifecyclePreview(p LifecyclePreview) error
	LifecyclePreview(repoID int64) (*LifecyclePreview, error)

	// AcquireLease takes or renews the named lease for holder until now+ttl. It reports false when another
	// holder has it and it has not expired.
	AcquireLease(name, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseLease(name, holder string) error
	// LeaseHeld tells, reading only, whether the named lease is held by anyone at now (not expired).
	LeaseHeld(name string, now time.Time) (bool, error)

	// EnqueueJob adds a queued job (j.State, Attempts, Holder and lease are ignored) and sets j.ID. With a
	// UniqueKey already queued or running it adds nothing and reports false.
	EnqueueJob(j *Job) (bool, error)
	// ClaimJobs leases up to limit due jobs of kind to holder until leaseUntil, counting an attempt each, oldest
	// first. Jobs whose lease lapsed on their last attempt become dead instead.
	ClaimJobs(kind, holder string, now, leaseUntil time.Time, limit int) ([]Job, error)
	// RenewJobs extends holder's leases of the jobs until leaseUntil and returns the ids it still holds.
	RenewJobs(holder string, ids []int64, leaseUntil time.Time) ([]int64, error)
	// CompleteJob deletes a job holder holds; ErrNotFound when it no longer holds it.
	CompleteJob(id int64, holder string) error
	// FailJob releases a job holder holds after a failed attempt: queued again for retryAt, or dead when it
	// has had its attempts. It reports whether it died; ErrNotFound when holder no longer holds it.
	FailJob(id int64, holder, message string, retryAt time.Time) (dead bool, err error)
	GetJob(id int64) (*Job, error)
	// JobByKey returns the job with a unique key: the one queued or running, else the dead one last added;
	// ErrNotFound when there is none (a job that succeeded is gone).
	JobByKey(uniqueKey string) (*Job, error)
	// DeadJobs lists dead jobs by id.
	DeadJobs(afterID int64, limit int) ([]Job, error)
	// RetryJob queues a dead job again for runAt with its attempts reset.
	RetryJob(id int64, runAt time.Time) error
	// CountJobs counts jobs by kind and state at now.
	CountJobs(now time.Time) ([]JobCount, error)
	// DueSchedule tells whether the periodic schedule name is due at now and, if so, moves it to next.
	// A schedule seen for the first time is due at first.
	DueSchedule(name string, now, first, next time.Time) (bool, error)

	// AddEvent records an event and sets e.ID (unique among the events held: the position orders them).
	AddEvent(e *Event) error
	// EventsAfter lists events after a position in order, at most limit, with their positions.
	EventsAfter(after EventPosition, limit int) ([]Event, error)
	// EventCursor returns a consumer's position (the zero position for a new consumer).
	EventCursor(consumer string) (EventPosition, error)
	SetEventCursor(consumer string, p EventPosition) error
	// PruneEvents deletes events older than cutoff, along their order: an old event after a newer one (a
	// node's clock behind another's) stays until that one is old too.
	PruneEvents(cutoff time.Time) (int, error)

	// Heartbeat records that node is alive at at; LiveNodes counts the nodes seen since since.
	// DeleteNode forgets a node that stops; PruneNodes the nodes not seen since before.
	Heartbeat(node string, at time.Time) error
	LiveNodes(since time.Time) (int, error)
	DeleteNode(node string) error
	PruneNodes(before time.Time) error

	// AddAuditChunks stores chunks of the audit trail.
	AddAuditChunks(chunks []AuditChunk) error
	AuditChunks(q AuditChunkQuery) ([]AuditChunk, error)
	// UnclaimedAuditChunks lists undelivered chunks no log file holds yet, by ID, at most limit.
	UnclaimedAuditChunks(limit int) ([]AuditChunk, error)
	// ClaimAuditChunks puts chunks (by ID) in a log file to be delivered.
	ClaimAuditChunks(ids []int64, file string) error
	// UndeliveredAuditFiles lists the log files that hold chunks but were not delivered, at most limit.
	UndeliveredAuditFiles(limit int) ([]string, error)
	// AuditFileChunks lists the chunks of a log file, by ID.
	AuditFileChunks(file string) ([]AuditChunk, error)
	// MarkAuditFileDelivered marks a log file's chunks delivered and returns the records they hold.
	MarkAuditFileDelivered(file string) (int, error)
	// PendingAuditRecords counts the records of chunks not delivered.
	PendingAuditRecords() (int64, error)
	// PruneAuditChunks deletes at most limit chunks whose last record is older than cutoff.
	PruneAuditChunks(cutoff time.Time, limit int) (int, error)

	// PutAdvisory stores an advisory, replacing the one with its ID unless that one was modified later or
	// is the same. It reports whether it changed anything.
	PutAdvisory(a Advisory) (bool, error)
	// AdvisoriesFor lists the advisories that affect a package, by ID (without their Packages).
	AdvisoriesFor(ecosystem, name string) ([]Advisory, error)
	// CountAdvisories counts the advisories by the ecosystems they affect, by ecosystem.
	CountAdvisories() ([]AdvisoryCount, error)
	// SetAdvisoriesUpdated records when the advisories last changed; AdvisoriesUpdated returns it (zero
	// when never).
	SetAdvisoriesUpdated(at time.Time) error
	AdvisoriesUpdated() (time.Time, error)

	CreateUpload(u *Upload) error
	GetUpload(id string) (*Upload, error)
	// UpdateUpload saves u if the stored offset is still prevOffset; otherwise ErrConflict.
	UpdateUpload(u *Upload, prevOffset int64) error
	DeleteUpload(id string) error
	// StaleUploads lists uploads last updated before cutoff.
	StaleUploads(cutoff time.Time, limit int) ([]Upload, error)
	UploadExists(id string) (bool, error)
}

// ImageScan is the latest scan of an image: its state, its result's summary and what it ran on.
type ImageScan struct {
	RepositoryID int64
	Digest       digest.Digest
	ScanType     string // "BASIC" or "ENHANCED"
	Status       string // as ECR names scan states: "IN_PROGRESS", "COMPLETE", "FAILED" …
	Description  string
	StartedAt    time.Time
	// ManualAt is when the image was last scanned on request (StartImageScan): ECR allows one a day.
	ManualAt    time.Time
	CompletedAt time.Time // zero until a scan completed
	// SourceUpdatedAt is when the vulnerability database the result was matched against was updated.
	SourceUpdatedAt time.Time
	// SeverityCounts counts the findings by severity.
	SeverityCounts map[string]int
}

// ImageScanFilter selects image scans for ImageScans; zero fields select everything.
type ImageScanFilter struct {
	RepositoryID int64 // only this repository's scans
	// AfterRepositoryID and AfterDigest continue a listing: scans after this (repository id, digest).
	AfterRepositoryID int64
	AfterDigest       digest.Digest
	Status            string    // only scans in this state
	StartedBefore     time.Time // only scans started before this
	// SourceUpdatedBefore selects scans matched against a vulnerability database older than this.
	SourceUpdatedBefore time.Time
	// UnusedSince selects scans of images neither pushed nor pulled since this.
	UnusedSince   time.Time
	WithInventory bool // only scans with a stored inventory
	Limit         int
}

// ScanFinding is one finding of an image's latest scan, encoded by the core (JSON); Seq orders them from 1.
type ScanFinding struct {
	Seq  int
	Data []byte
}

// ScanningConfiguration is a registry's scanning configuration; Rules are the core's, as JSON.
type ScanningConfiguration struct {
	RegistryID string
	ScanType   string
	Rules      string
	UpdatedAt  time.Time
}

// ScanTx is the part of a transaction that keeps image scans and scanning configurations. An image's scan,
// findings and inventory go with the image.
type ScanTx interface {
	// PutImageScan creates or replaces an image's scan state (its findings and inventory stay).
	PutImageScan(s ImageScan) error
	GetImageScan(repoID int64, d digest.Digest) (*ImageScan, error)
	// SetImageScanFindings replaces the findings of an image's scan; ErrNotFound without a scan.
	SetImageScanFindings(repoID int64, d digest.Digest, findings [][]byte) error
	// ImageScanFindings lists findings of an image's scan with Seq after after, in order, at most limit.
	ImageScanFindings(repoID int64, d digest.Digest, after, limit int) ([]ScanFinding, error)
	// SetImageInventory stores what the image holds (JSON); ErrNotFound without a scan.
	SetImageInventory(repoID int64, d digest.Digest, inventory []byte) error
	// ImageInventory returns the stored inventory, ErrNotFound when none.
	ImageInventory(repoID int64, d digest.Digest) ([]byte, error)
	// ImageScans lists the image scans f selects, by repository id and digest, at most f.Limit.
	ImageScans(f ImageScanFilter) ([]ImageScan, error)

	// SetScanningConfiguration creates or replaces a registry's scanning configuration.
	SetScanningConfiguration(c ScanningConfiguration) error
	// ScanningConfiguration returns a registry's, ErrNotFound when none was set.
	ScanningConfiguration(registryID string) (*ScanningConfiguration, error)
	// ScanningConfigurations lists the registries' scanning configurations after the registry id after,
	// by registry id, at most limit.
	ScanningConfigurations(after string, limit int) ([]ScanningConfiguration, error)
}

// PullTimeExclusion is an IAM principal whose pulls do not update images' last pull time.
type PullTimeExclusion struct {
	RegistryID   string
	PrincipalARN string
	CreatedAt    time.Time
}

// PullTimeExclusionTx keeps each registry's pull time update exclusions.
type PullTimeExclusionTx interface {
	// PutPullTimeExclusion adds an exclusion; ErrConflict when the registry has it already.
	PutPullTimeExclusion(e PullTimeExclusion) error
	// DeletePullTimeExclusion removes one; ErrNotFound when the registry has none for the principal.
	DeletePullTimeExclusion(registryID, principalARN string) error
	// PullTimeExclusions lists a registry's exclusions with principal ARNs after after, in order, at most limit.
	PullTimeExclusions(registryID, after string, limit int) ([]PullTimeExclusion, error)
}

// AccountSettingTx keeps each registry's account settings (ECR's PutAccountSetting), by name.
type AccountSettingTx interface {
	// AccountSetting returns a setting's value; ErrNotFound when it was never set.
	AccountSetting(registryID, name string) (string, error)
	SetAccountSetting(registryID, name, value string) error
}

// ConsoleSession is a signed-in session of the web console: an IAM user's, and the role it switched to.
// It is found by the SHA-256 of its cookie's secret, never by the secret itself.
type ConsoleSession struct {
	IDHash    string // hex SHA-256 of the session's secret
	AccountID string
	UserName  string
	// Role is the role session the user switched to, as the console keeps it (JSON); "" for none.
	Role string
	// ResetRequired: the user must change the password before anything else.
	ResetRequired bool
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// ConsoleSessionTx keeps the console's sessions.
type ConsoleSessionTx interface {
	// PutConsoleSession creates or replaces a session.
	PutConsoleSession(s ConsoleSession) error
	// GetConsoleSession returns a session; ErrNotFound when there is none (expired sessions included:
	// the caller checks ExpiresAt).
	GetConsoleSession(idHash string) (*ConsoleSession, error)
	// DeleteConsoleSession removes a session; ErrNotFound when there is none.
	DeleteConsoleSession(idHash string) error
	// DeleteConsoleSessions removes a user's sessions (accountID and user), or those expired before
	// expiredBefore when user is ""; it returns how many.
	DeleteConsoleSessions(accountID, user string, expiredBefore time.Time) (int, error)
}

// SigningConfiguration is a registry's signing configuration; Rules are the core's, as JSON.
type SigningConfiguration struct {
	RegistryID string
	Rules      string
	UpdatedAt  time.Time
}

// SigningKey is the key a registry signs images with: the private key sealed with the server secret, and
// its certificate chain (PEM, the signing certificate first, the CA's last).
type SigningKey struct {
	RegistryID   string
	SealedKey    []byte
	Certificates string
	CreatedAt    time.Time
}

// ImageSigningStatus is the signing of an image under one signing profile.
type ImageSigningStatus struct {
	RepositoryID  int64
	Digest        digest.Digest
	ProfileARN    string
	Status        string
	FailureCode   string
	FailureReason string
	Signature     digest.Digest // the signature's manifest, once signed
	UpdatedAt     time.Time
}

// SigningTx keeps signing configurations, signing keys and the signing status of images (which goes with
// the image).
type SigningTx interface {
	// SetSigningConfiguration creates or replaces a registry's signing configuration.
	SetSigningConfiguration(c SigningConfiguration) error
	// SigningConfiguration returns a registry's, ErrNotFound when none is set.
	SigningConfiguration(registryID string) (*SigningConfiguration, error)
	// DeleteSigningConfiguration removes a registry's; ErrNotFound when none is set.
	DeleteSigningConfiguration(registryID string) error
	// PutSigningKey stores a registry's signing key; ErrConflict when it has one already.
	PutSigningKey(k SigningKey) error
	// SigningKey returns a registry's signing key, ErrNotFound when it has none.
	SigningKey(registryID string) (*SigningKey, error)
	// PutImageSigningStatus creates or replaces an image's signing status under a profile.
	PutImageSigningStatus(s ImageSigningStatus) error
	// ImageSigningStatuses lists an image's signing statuses by profile ARN.
	ImageSigningStatuses(repoID int64, d digest.Digest) ([]ImageSigningStatus, error)
}

// ImageStorage is the storage class state of an image archived at least once (ECR's archival storage
// class). An image without one is in the standard class and has never been archived.
type ImageStorage struct {
	Digest     digest.Digest
	Archived   bool      // in the archive: not pullable until restored
	ArchivedAt time.Time // when it was last archived
	// ActivatedAt is when its last restore completes (or completed): zero if never restored; after now
	// while the restore is in progress.
	ActivatedAt time.Time
}

// ImageStorageTx keeps the storage class state of archived and restored images. A state goes with its
// image: deleting the image deletes it.
type ImageStorageTx interface {
	// PutImageStorage creates or replaces an image's state; ErrNotFound when the repository has no such image.
	PutImageStorage(repoID int64, st ImageStorage) error
	// ImageStorage returns an image's state; ErrNotFound when it has none (never archived).
	ImageStorage(repoID int64, d digest.Digest) (*ImageStorage, error)
	// ImageStorageBetween returns the states of the repository's images with digests from first to last.
	ImageStorageBetween(repoID int64, first, last digest.Digest) (map[digest.Digest]ImageStorage, error)
}

// RepositoryStorage is what a repository stores, computed from what its images reference: each distinct
// blob (config or layer) its images reference and each of its manifests, once.
type RepositoryStorage struct {
	RepositoryID int64
	Name         string
	Images, Tags int
	Bytes        int64 // the distinct blobs and manifests
	// Holders[k] is how many of those bytes are held by k repositories of the registry (this one included):
	// a blob or manifest that several repositories reference is stored once.
	Holders map[int]int64
}

// PullCount is how many image pulls and bytes pulled a repository served on a day (UTC). Repository ""
// stands for the whole registry.
type PullCount struct {
	RegistryID, Repository string
	Day                    time.Time // midnight UTC
	Pulls, Bytes           int64
}

// MaxNamedRepositories bounds the names of one NamedRepositoryStorage.
const MaxNamedRepositories = 100

// UsageTx answers usage questions. Storage is computed from the images present, never kept as a counter.
type UsageTx interface {
	// RepositoryStorage lists the storage of the registry's repositories named first to last, by name.
	RepositoryStorage(registryID, first, last string) ([]RepositoryStorage, error)
	// NamedRepositoryStorage lists the storage of the registry's repositories of these names (at most
	// MaxNamedRepositories; those that do not exist left out), by name.
	NamedRepositoryStorage(registryID string, names []string) ([]RepositoryStorage, error)
	// RegistryStorage returns the bytes of the distinct blobs the registry's images reference and of their
	// manifests (each repository stores its own).
	RegistryStorage(registryID string) (int64, error)
	// UsageRegistries lists the registries that have repositories, in order.
	UsageRegistries() ([]string, error)
	// AddPulls adds counts to the stored ones (same registry, repository and day).
	AddPulls(counts []PullCount) error
	// PullCounts lists the counts of the registry's repositories named first to last on days from since,
	// by repository and day.
	PullCounts(registryID, first, last string, since time.Time) ([]PullCount, error)
	// PrunePullCounts deletes the counts of days before before.
	PrunePullCounts(before time.Time) (int, error)
}

// RepositoryCreationTemplate is what a registry gives the repositories it creates (on push, by replication,
// through a pull through cache) whose names start with its prefix: their settings, policies and tags. The
// core checks every member; the store keeps them as given.
type RepositoryCreationTemplate struct {
	RegistryID              string
	Prefix                  string // a repository name prefix, or ROOT
	Description             string
	EncryptionType          string
	KMSKey                  string
	ResourceTags            []ResourceTag
	TagMutability           string
	TagMutabilityExclusions []string
	RepositoryPolicy        string // "" for none
	LifecyclePolicy         string // "" for none
	AppliedFor              []string
	CustomRoleARN           string
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// CreationTemplateTx keeps each registry's repository creation templates, by prefix.
type CreationTemplateTx interface {
	// CreateCreationTemplate adds a template; ErrExists when the registry has one with its prefix.
	CreateCreationTemplate(t RepositoryCreationTemplate) error
	// GetCreationTemplate returns a registry's template of a prefix; ErrNotFound when there is none.
	GetCreationTemplate(registryID, prefix string) (*RepositoryCreationTemplate, error)
	// UpdateCreationTemplate replaces a template's members (its CreatedAt stays); ErrNotFound when the
	// registry has none with its prefix.
	UpdateCreationTemplate(t RepositoryCreationTemplate) error
	// DeleteCreationTemplate removes a template; ErrNotFound when there is none.
	DeleteCreationTemplate(registryID, prefix string) error
	// CreationTemplates lists a registry's templates with prefixes after after, by prefix, at most limit.
	CreationTemplates(registryID, after string, limit int) ([]RepositoryCreationTemplate, error)
	CountCreationTemplates(registryID string) (int, error)
}

// ReplicationConfiguration is a registry's replication configuration; Rules are the core's, as JSON.
type ReplicationConfiguration struct {
	RegistryID string
	Rules      string
	UpdatedAt  time.Time
}

// ImageReplicationStatus is the replication of an image to one destination (a region and a registry).
type ImageReplicationStatus struct {
	RepositoryID int64
	Digest       digest.Digest
	Region       string
	RegistryID   string // the destination's
	Status       string
	FailureCode  string
	UpdatedAt    time.Time
}

// ReplicationTx keeps replication configurations and the replication status of images (which goes with
// the image).
type ReplicationTx interface {
	// SetReplicationConfiguration creates or replaces a registry's replication configuration.
	SetReplicationConfiguration(c ReplicationConfiguration) error
	// ReplicationConfiguration returns a registry's, ErrNotFound when none is set.
	ReplicationConfiguration(registryID string) (*ReplicationConfiguration, error)
	// PutImageReplicationStatus creates or replaces an image's replication status to a destination.
	PutImageReplicationStatus(s ImageReplicationStatus) error
	// ImageReplicationStatuses lists an image's replication statuses by region, then registry.
	ImageReplicationStatuses(repoID int64, d digest.Digest) ([]ImageReplicationStatus, error)
}

// PullThroughCacheRule maps the repositories of a registry under a prefix to an upstream registry: a
// pull of one of them that Wharf does not hold fetches it from the upstream. The core checks every
// member; the store keeps them as given.
type PullThroughCacheRule struct {
	RegistryID               string
	Prefix                   string // ecrRepositoryPrefix, without a trailing '/', or ROOT
	UpstreamURL              string // upstreamRegistryUrl as given
	UpstreamRegistry         string // ECR's name of the upstream (docker-hub, quay…), "" for another OCI registry
	UpstreamRepositoryPrefix string // "" for none
	CredentialARN            string // "" for none
	CustomRoleARN            string // "" for none
	CreatedAt                time.Time
	UpdatedAt                time.Time
}

// PullThroughCacheRuleTx keeps each registry's pull through cache rules, by prefix.
type PullThroughCacheRuleTx interface {
	// CreatePullThroughCacheRule adds a rule; ErrExists when the registry has one with its prefix.
	CreatePullThroughCacheRule(r PullThroughCacheRule) error
	// GetPullThroughCacheRule returns a registry's rule of a prefix; ErrNotFound when there is none.
	GetPullThroughCacheRule(registryID, prefix string) (*PullThroughCacheRule, error)
	// UpdatePullThroughCacheRule replaces a rule's members (its CreatedAt stays); ErrNotFound when the
	// registry has none with its prefix.
	UpdatePullThroughCacheRule(r PullThroughCacheRule) error
	// DeletePullThroughCacheRule removes a rule; ErrNotFound when there is none.
	DeletePullThroughCacheRule(registryID, prefix string) error
	// PullThroughCacheRules lists a registry's rules with prefixes after after, by prefix, at most limit.
	PullThroughCacheRules(registryID, after string, limit int) ([]PullThroughCacheRule, error)
	CountPullThroughCacheRules(registryID string) (int, error)
	// PullThroughTagChecked returns when a tag of a repository filled by a pull through cache was last
	// checked against its upstream; ErrNotFound when it never was.
	PullThroughTagChecked(registryID, repository, tag string) (time.Time, error)
	// SetPullThroughTagChecked records that a tag was checked against its upstream at a time.
	SetPullThroughTagChecked(registryID, repository, tag string, at time.Time) error
}
