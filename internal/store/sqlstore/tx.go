package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

// txn implements store.Tx over a database/sql transaction. With a statement cache, each statement is
// prepared once per connection; without one (a writer whose connection is busy inside its transaction),
// statements are prepared as they go.
type txn struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts *StmtCache
	d     *Dialect
}

// NewTx returns the store.Tx of a transaction in dialect d; stmts may be nil.
func NewTx(ctx context.Context, tx *sql.Tx, stmts *StmtCache, d *Dialect) store.Tx {
	return &txn{ctx: ctx, tx: tx, stmts: stmts, d: d}
}

func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(t.ctx, t.d.rewrite(query), args...)
	return res, t.d.mapErr(err)
}

func (t *txn) query(query string, args ...any) (*sql.Rows, error) {
	query = t.d.rewrite(query)
	var st *sql.Stmt
	if t.stmts != nil {
		st = t.stmts.get(query)
	}
	if st == nil {
		rows, err := t.tx.QueryContext(t.ctx, query, args...)
		return rows, t.d.mapErr(err)
	}
	rows, err := t.tx.StmtContext(t.ctx, st).QueryContext(t.ctx, args...)
	return rows, t.d.mapErr(err)
}

// row is *sql.Row's Scan for a cached statement.
type row struct {
	rows *sql.Rows
	err  error
	d    *Dialect
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return r.d.mapErr(err)
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.d.mapErr(r.rows.Close())
}

func (t *txn) queryRow(query string, args ...any) row {
	rows, err := t.query(query, args...)
	return row{rows, err, t.d}
}

// affected runs an exec and returns store.ErrNotFound when it touched no row.
func (t *txn) affected(query string, args ...any) error {
	res, err := t.exec(query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// collect runs a query and scans every row with scan.
func collect[T any](t *txn, scan func(interface{ Scan(...any) error }) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, mapErr(rows.Err())
}

const (
	repoCols  = `id, registry_id, name, created_at, tag_mutability, tag_mutability_exclusions, scan_on_push, encryption_type, kms_key`
	repoColsR = `r.id, r.registry_id, r.name, r.created_at, r.tag_mutability, r.tag_mutability_exclusions, r.scan_on_push, r.encryption_type, r.kms_key`
)

func scanRepo(sc interface{ Scan(...any) error }) (*store.Repository, error) {
	var r store.Repository
	var created, scan int64
	var exclusions string
	if err := sc.Scan(&r.ID, &r.RegistryID, &r.Name, &created, &r.TagMutability, &exclusions, &scan, &r.EncryptionType, &r.KMSKey); err != nil {
		return nil, mapErr(err)
	}
	r.CreatedAt, r.ScanOnPush = tm(created), scan != 0
	if exclusions != "" {
		r.TagMutabilityExclusions = strings.Split(exclusions, "\n")
	}
	return &r, nil
}

// joinFilters stores tag mutability exclusion filters one a line (a filter holds no line break).
func joinFilters(filters []string) string { return strings.Join(filters, "\n") }

func (t *txn) CreateRepository(r *store.Repository) error {
	return t.queryRow(`INSERT INTO repositories (registry_id, name, created_at, tag_mutability, tag_mutability_exclusions, scan_on_push, encryption_type, kms_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.RegistryID, r.Name, ts(r.CreatedAt), r.TagMutability, joinFilters(r.TagMutabilityExclusions),
		boolInt(r.ScanOnPush), r.EncryptionType, r.KMSKey).Scan(&r.ID)
}

func (t *txn) GetRepository(registryID, name string) (*store.Repository, error) {
	return scanRepo(t.queryRow(`SELECT `+repoCols+` FROM repositories WHERE registry_id = ? AND name = ?`, registryID, name))
}

func (t *txn) GetRepositoryByID(id int64) (*store.Repository, error) {
	return scanRepo(t.queryRow(`SELECT `+repoCols+` FROM repositories WHERE id = ?`, id))
}

func (t *txn) ListRepositories(registryID, after string, limit int) ([]store.Repository, error) {
	return collect(t, scanRepo, `SELECT `+repoCols+` FROM repositories WHERE registry_id = ? AND name > ? ORDER BY name LIMIT ?`, registryID, after, limit)
}

func (t *txn) CountRepositories(registryID string) (n int, err error) {
	err = t.queryRow(`SELECT COUNT(*) FROM repositories WHERE registry_id = ?`, registryID).Scan(&n)
	return n, mapErr(err)
}

func (t *txn) UpdateRepository(r *store.Repository) error {
	return t.affected(`UPDATE repositories SET tag_mutability = ?, tag_mutability_exclusions = ?, scan_on_push = ?, encryption_type = ?, kms_key = ? WHERE id = ?`,
		r.TagMutability, joinFilters(r.TagMutabilityExclusions), boolInt(r.ScanOnPush), r.EncryptionType, r.KMSKey, r.ID)
}

func (t *txn) DeleteRepository(id int64) error {
	return t.affected(`DELETE FROM repositories WHERE id = ?`, id)
}

func (t *txn) PutBlob(b store.Blob) error {
	res, err := t.exec(`INSERT INTO blobs (digest, size, status, touched_at) VALUES (?, ?, 0, ?)
		ON CONFLICT (digest) DO UPDATE SET touched_at = GREATEST(blobs.touched_at, excluded.touched_at) WHERE blobs.status = 0`,
		b.Digest.String(), b.Size, ts(b.TouchedAt))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrConflict
	}
	return nil
}

func scanBlob(sc interface{ Scan(...any) error }) (*store.Blob, error) {
	var b store.Blob
	var d string
	var touched int64
	if err := sc.Scan(&d, &b.Size, &b.Status, &touched); err != nil {
		return nil, mapErr(err)
	}
	b.Digest, b.TouchedAt = digest.Digest(d), tm(touched)
	return &b, nil
}

func (t *txn) GetBlob(d digest.Digest) (*store.Blob, error) {
	return scanBlob(t.queryRow(`SELECT digest, size, status, touched_at FROM blobs WHERE digest = ?`, d.String()))
}

func (t *txn) MarkBlobDeleting(d digest.Digest, cutoff time.Time) (bool, error) {
	res, err := t.exec(`UPDATE blobs SET status = 1 WHERE digest = ? AND status = 0 AND touched_at < ?
		AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = blobs.digest)`, d.String(), ts(cutoff))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (t *txn) DeleteBlob(d digest.Digest) error {
	return t.affected(`DELETE FROM blobs WHERE digest = ?`, d.String())
}

func (t *txn) GarbageBlobs(cutoff time.Time, limit int) ([]store.Blob, error) {
	return collect(t, scanBlob, `SELECT digest, size, status, touched_at FROM blobs
		WHERE status = 1 OR (touched_at < ? AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = blobs.digest))
		LIMIT ?`, ts(cutoff), limit)
}

func (t *txn) LinkBlob(repoID int64, d digest.Digest, at time.Time) error {
	if err := t.affected(`UPDATE blobs SET touched_at = GREATEST(touched_at, ?) WHERE digest = ? AND status = 0`, ts(at), d.String()); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO repository_blobs (repository_id, digest, linked_at) VALUES (?, ?, ?)
		ON CONFLICT (repository_id, digest) DO UPDATE SET linked_at = GREATEST(repository_blobs.linked_at, excluded.linked_at)`, repoID, d.String(), ts(at))
	return err
}

func (t *txn) GetLinkedBlob(repoID int64, d digest.Digest) (*store.Blob, error) {
	return scanBlob(t.queryRow(`SELECT b.digest, b.size, b.status, b.touched_at
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		WHERE rb.repository_id = ? AND rb.digest = ? AND b.status = 0`, repoID, d.String()))
}

func (t *txn) UnlinkBlob(repoID int64, d digest.Digest) error {
	return t.affected(`DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?`, repoID, d.String())
}

func (t *txn) BlobRepositories(registryID string, d digest.Digest, limit int) ([]store.Repository, error) {
	return collect(t, scanRepo, `SELECT `+repoColsR+` FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
		WHERE rb.digest = ? AND r.registry_id = ? AND b.status = 0 ORDER BY r.name LIMIT ?`, d.String(), registryID, limit)
}

func (t *txn) UnlinkUnreferenced(cutoff time.Time, limit int) (int, error) {
	res, err := t.exec(`DELETE FROM repository_blobs WHERE (repository_id, digest) IN (
		SELECT rb.repository_id, rb.digest FROM repository_blobs rb
		WHERE rb.linked_at < ? AND NOT EXISTS (
			SELECT 1 FROM image_refs r WHERE r.repository_id = rb.repository_id AND r.digest = rb.digest AND r.kind = 0)
		LIMIT ?)`, ts(cutoff), limit)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const imageCols = `repository_id, digest, media_type, artifact_type, subject, size, pushed_at, last_pulled_at, annotations`

func scanImage(sc interface{ Scan(...any) error }, withContent bool) (*store.Image, error) {
	var img store.Image
	var d, subject string
	var pushed, pulled int64
	dest := []any{&img.RepositoryID, &d, &img.MediaType, &img.ArtifactType, &subject, &img.Size, &pushed, &pulled, &img.Annotations}
	if withContent {
		dest = append(dest, &img.Content)
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, mapErr(err)
	}
	img.Digest, img.Subject = digest.Digest(d), digest.Digest(subject)
	img.PushedAt, img.LastPulledAt = tm(pushed), tm(pulled)
	return &img, nil
}

func (t *txn) PutImage(img *store.Image, refs []store.Ref) error {
	if _, err := t.exec(`INSERT INTO images (`+imageCols+`, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		img.RepositoryID, img.Digest.String(), img.MediaType, img.ArtifactType, img.Subject.String(), img.Size,
		ts(img.PushedAt), ts(img.LastPulledAt), img.Annotations, img.Content); err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE repositories SET image_count = image_count + 1 WHERE id = ?`, img.RepositoryID); err != nil {
		return err
	}
	for _, r := range refs {
		if _, err := t.exec(`INSERT INTO image_refs (repository_id, image_digest, kind, digest) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, img.RepositoryID, img.Digest.String(), int(r.Kind), r.Digest.String()); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) GetImage(repoID int64, d digest.Digest) (*store.Image, error) {
	return scanImage(t.queryRow(`SELECT `+imageCols+`, content FROM images WHERE repository_id = ? AND digest = ?`, repoID, d.String()), true)
}

func (t *txn) StatImage(repoID int64, d digest.Digest) (*store.Image, error) {
	return scanImage(t.queryRow(`SELECT `+imageCols+` FROM images WHERE repository_id = ? AND digest = ?`, repoID, d.String()), false)
}

func (t *txn) images(query string, args ...any) ([]store.Image, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.Image, error) { return scanImage(sc, false) }, query, args...)
}

func (t *txn) ListImages(repoID int64, after digest.Digest, limit int) ([]store.Image, error) {
	return t.images(`SELECT `+imageCols+` FROM images WHERE repository_id = ? AND digest > ? ORDER BY digest LIMIT ?`, repoID, after.String(), limit)
}

func (t *txn) CountImages(repoID int64) (n int, err error) {
	err = t.queryRow(`SELECT image_count FROM repositories WHERE id = ?`, repoID).Scan(&n)
	return n, mapErr(err)
}

func (t *txn) DeleteImage(repoID int64, d digest.Digest) error {
	if err := t.affected(`DELETE FROM images WHERE repository_id = ? AND digest = ?`, repoID, d.String()); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE repositories SET image_count = image_count - 1 WHERE id = ?`, repoID)
	return err
}

func (t *txn) ReferencedBy(repoID int64, kind store.RefKind, d digest.Digest) ([]digest.Digest, error) {
	ds, err := t.strings(`SELECT image_digest FROM image_refs WHERE repository_id = ? AND digest = ? AND kind = ? ORDER BY image_digest`, repoID, d.String(), int(kind))
	out := make([]digest.Digest, len(ds))
	for i, v := range ds {
		out[i] = digest.Digest(v)
	}
	return out, err
}

func (t *txn) Referrers(repoID int64, subject digest.Digest) ([]store.Image, error) {
	return t.images(`SELECT `+imageCols+` FROM images WHERE repository_id = ? AND subject = ? AND subject <> '' ORDER BY digest`, repoID, subject.String())
}

func (t *txn) TouchPulls(repoID int64, pulls map[digest.Digest]time.Time) error {
	for d, at := range pulls {
		if _, err := t.exec(`UPDATE images SET last_pulled_at = GREATEST(last_pulled_at, ?) WHERE repository_id = ? AND digest = ?`, ts(at), repoID, d.String()); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) PutTag(repoID int64, tag store.Tag) error {
	_, err := t.exec(`INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
		repoID, tag.Name, tag.Digest.String(), ts(tag.UpdatedAt))
	return err
}

func scanTag(sc interface{ Scan(...any) error }) (*store.Tag, error) {
	var tag store.Tag
	var d string
	var updated int64
	if err := sc.Scan(&tag.Name, &d, &updated); err != nil {
		return nil, mapErr(err)
	}
	tag.Digest, tag.UpdatedAt = digest.Digest(d), tm(updated)
	return &tag, nil
}

func (t *txn) GetTag(repoID int64, name string) (*store.Tag, error) {
	return scanTag(t.queryRow(`SELECT name, digest, updated_at FROM tags WHERE repository_id = ? AND name = ?`, repoID, name))
}

func (t *txn) DeleteTag(repoID int64, name string) error {
	return t.affected(`DELETE FROM tags WHERE repository_id = ? AND name = ?`, repoID, name)
}

func (t *txn) ListTags(repoID int64, after string, limit int) ([]store.Tag, error) {
	return collect(t, scanTag, `SELECT name, digest, updated_at FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?`, repoID, after, limit)
}

func (t *txn) ListTagNames(repoID int64, after string, limit int) ([]string, error) {
	return t.strings(`SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?`, repoID, after, limit)
}

func (t *txn) TagsBetween(repoID int64, first, last digest.Digest) (map[digest.Digest][]string, error) {
	type pair struct{ d, name string }
	pairs, err := collect(t, func(sc interface{ Scan(...any) error }) (*pair, error) {
		var p pair
		return &p, mapErr(sc.Scan(&p.d, &p.name))
	}, `SELECT digest, name FROM tags WHERE repository_id = ? AND digest BETWEEN ? AND ? ORDER BY digest, updated_at, name`, repoID, first.String(), last.String())
	out := make(map[digest.Digest][]string)
	for _, p := range pairs {
		out[digest.Digest(p.d)] = append(out[digest.Digest(p.d)], p.name)
	}
	return out, err
}

// strings runs a query of one text column.
func (t *txn) strings(query string, args ...any) ([]string, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*string, error) {
		var v string
		return &v, mapErr(sc.Scan(&v))
	}, query, args...)
}

func (t *txn) ImageTags(repoID int64, d digest.Digest) ([]string, error) {
	return t.strings(`SELECT name FROM tags WHERE repository_id = ? AND digest = ? ORDER BY updated_at, name`, repoID, d.String())
}

const uploadCols = `id, repository_id, size, algorithm, hash_state, parts, last_part, small_parts, started_at, updated_at`

func scanUpload(sc interface{ Scan(...any) error }) (*store.Upload, error) {
	var u store.Upload
	var alg string
	var started, updated int64
	if err := sc.Scan(&u.ID, &u.RepositoryID, &u.Offset, &alg, &u.HashState, &u.Parts, &u.LastPart, &u.SmallParts, &started, &updated); err != nil {
		return nil, mapErr(err)
	}
	u.Algorithm, u.StartedAt, u.UpdatedAt = digest.Algorithm(alg), tm(started), tm(updated)
	return &u, nil
}

func (t *txn) CreateUpload(u *store.Upload) error {
	_, err := t.exec(`INSERT INTO uploads (`+uploadCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.RepositoryID, u.Offset, string(u.Algorithm), nonNil(u.HashState), u.Parts, u.LastPart, u.SmallParts, ts(u.StartedAt), ts(u.UpdatedAt))
	return err
}

func (t *txn) GetUpload(id string) (*store.Upload, error) {
	return scanUpload(t.queryRow(`SELECT `+uploadCols+` FROM uploads WHERE id = ?`, id))
}

func (t *txn) UpdateUpload(u *store.Upload, prevOffset int64) error {
	err := t.affected(`UPDATE uploads SET size = ?, algorithm = ?, hash_state = ?, parts = ?, last_part = ?, small_parts = ?, updated_at = ? WHERE id = ? AND size = ?`,
		u.Offset, string(u.Algorithm), nonNil(u.HashState), u.Parts, u.LastPart, u.SmallParts, ts(u.UpdatedAt), u.ID, prevOffset)
	if err == store.ErrNotFound {
		return store.ErrConflict
	}
	return err
}

func (t *txn) DeleteUpload(id string) error {
	return t.affected(`DELETE FROM uploads WHERE id = ?`, id)
}

func (t *txn) StaleUploads(cutoff time.Time, limit int) ([]store.Upload, error) {
	return collect(t, scanUpload, `SELECT `+uploadCols+` FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?`, ts(cutoff), limit)
}

func (t *txn) UploadExists(id string) (bool, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM uploads WHERE id = ?`, id).Scan(&n)
	return n > 0, mapErr(err)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *txn) CreateAccount(a store.Account) error {
	_, err := t.exec(`INSERT INTO accounts (id, created_at) VALUES (?, ?)`, a.ID, ts(a.CreatedAt))
	return err
}

func (t *txn) GetAccount(id string) (*store.Account, error) {
	var a store.Account
	var created int64
	if err := t.queryRow(`SELECT id, created_at FROM accounts WHERE id = ?`, id).Scan(&a.ID, &created); err != nil {
		return nil, mapErr(err)
	}
	a.CreatedAt = tm(created)
	return &a, nil
}

func scanUser(sc interface{ Scan(...any) error }) (*store.User, error) {
	var u store.User
	var created int64
	if err := sc.Scan(&u.AccountID, &u.Name, &u.UserID, &created); err != nil {
		return nil, mapErr(err)
	}
	u.CreatedAt = tm(created)
	return &u, nil
}

func (t *txn) CreateUser(u store.User) error {
	_, err := t.exec(`INSERT INTO users (account_id, name, user_id, created_at) VALUES (?, ?, ?, ?)`, u.AccountID, u.Name, u.UserID, ts(u.CreatedAt))
	return err
}

func (t *txn) GetUser(accountID, name string) (*store.User, error) {
	return scanUser(t.queryRow(`SELECT account_id, name, user_id, created_at FROM users WHERE account_id = ? AND name = ?`, accountID, name))
}

func (t *txn) ListUsers(accountID string) ([]store.User, error) {
	return collect(t, scanUser, `SELECT account_id, name, user_id, created_at FROM users WHERE account_id = ? ORDER BY name`, accountID)
}

func (t *txn) DeleteUser(accountID, name string) error {
	return t.affected(`DELETE FROM users WHERE account_id = ? AND name = ?`, accountID, name)
}

const keyCols = `id, account_id, user_name, secret, status, created_at`

func scanKey(sc interface{ Scan(...any) error }) (*store.AccessKey, error) {
	var k store.AccessKey
	var created int64
	if err := sc.Scan(&k.ID, &k.AccountID, &k.UserName, &k.Secret, &k.Status, &created); err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt = tm(created)
	return &k, nil
}

func (t *txn) CreateAccessKey(k store.AccessKey) error {
	_, err := t.exec(`INSERT INTO access_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?)`, k.ID, k.AccountID, k.UserName, k.Secret, k.Status, ts(k.CreatedAt))
	return err
}

func (t *txn) GetAccessKey(id string) (*store.AccessKey, error) {
	return scanKey(t.queryRow(`SELECT `+keyCols+` FROM access_keys WHERE id = ?`, id))
}

func (t *txn) ListAccessKeys(accountID, userName string) ([]store.AccessKey, error) {
	return collect(t, scanKey, `SELECT `+keyCols+` FROM access_keys WHERE account_id = ? AND user_name = ? ORDER BY id`, accountID, userName)
}

func (t *txn) SetAccessKeyStatus(id, status string) error {
	return t.affected(`UPDATE access_keys SET status = ? WHERE id = ?`, status, id)
}

func (t *txn) DeleteAccessKey(id string) error {
	return t.affected(`DELETE FROM access_keys WHERE id = ?`, id)
}

func (t *txn) RepositoryTags(repoID int64) ([]store.ResourceTag, error) {
	return collect(t, func(sc interface{ Scan(...any) error }) (*store.ResourceTag, error) {
		var rt store.ResourceTag
		return &rt, mapErr(sc.Scan(&rt.Key, &rt.Value))
	}, `SELECT key, value FROM repository_tags WHERE repository_id = ? ORDER BY key`, repoID)
}

func (t *txn) PutRepositoryTags(repoID int64, tags []store.ResourceTag) error {
	for _, rt := range tags {
		if _, err := t.exec(`INSERT INTO repository_tags (repository_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (repository_id, key) DO UPDATE SET value = excluded.value`, repoID, rt.Key, rt.Value); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) DeleteRepositoryTags(repoID int64, keys []string) error {
	for _, k := range keys {
		if _, err := t.exec(`DELETE FROM repository_tags WHERE repository_id = ? AND key = ?`, repoID, k); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) PutUserPolicy(accountID, user, name, document string) error {
	_, err := t.exec(`INSERT INTO user_policies (account_id, user_name, name, document) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, user_name, name) DO UPDATE SET document = excluded.document`, accountID, user, name, document)
	return err
}

func (t *txn) DeleteUserPolicy(accountID, user, name string) error {
	return t.affected(`DELETE FROM user_policies WHERE account_id = ? AND user_name = ? AND name = ?`, accountID, user, name)
}

func (t *txn) UserPolicies(accountID, user string) (map[string]string, error) {
	return t.documents(`SELECT name, document FROM user_policies WHERE account_id = ? AND user_name = ? ORDER BY name`, accountID, user)
}

// documents runs a query of (name, document) rows into a map.
func (t *txn) documents(query string, args ...any) (map[string]string, error) {
	type kv struct{ k, v string }
	rows, err := collect(t, func(sc interface{ Scan(...any) error }) (*kv, error) {
		var p kv
		return &p, mapErr(sc.Scan(&p.k, &p.v))
	}, query, args...)
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.k] = r.v
	}
	return out, err
}

func (t *txn) AttachUserPolicy(accountID, user, policyARN string) error {
	_, err := t.exec(`INSERT INTO user_attached_policies (account_id, user_name, policy_arn) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, accountID, user, policyARN)
	return err
}

func (t *txn) DetachUserPolicy(accountID, user, policyARN string) error {
	return t.affected(`DELETE FROM user_attached_policies WHERE account_id = ? AND user_name = ? AND policy_arn = ?`, accountID, user, policyARN)
}

func (t *txn) AttachedUserPolicies(accountID, user string) ([]string, error) {
	return t.strings(`SELECT policy_arn FROM user_attached_policies WHERE account_id = ? AND user_name = ? ORDER BY policy_arn`, accountID, user)
}

func (t *txn) SetRepositoryPolicy(repoID int64, document string) error {
	if document == "" {
		return t.affected(`DELETE FROM repository_policies WHERE repository_id = ?`, repoID)
	}
	_, err := t.exec(`INSERT INTO repository_policies (repository_id, document) VALUES (?, ?)
		ON CONFLICT (repository_id) DO UPDATE SET document = excluded.document`, repoID, document)
	return err
}

func (t *txn) RepositoryPolicy(repoID int64) (string, error) {
	var doc string
	err := t.queryRow(`SELECT document FROM repository_policies WHERE repository_id = ?`, repoID).Scan(&doc)
	return doc, mapErr(err)
}

func (t *txn) SetRegistryPolicy(registryID, document string) error {
	if document == "" {
		return t.affected(`DELETE FROM registry_policies WHERE registry_id = ?`, registryID)
	}
	_, err := t.exec(`INSERT INTO registry_policies (registry_id, document) VALUES (?, ?)
		ON CONFLICT (registry_id) DO UPDATE SET document = excluded.document`, registryID, document)
	return err
}

func (t *txn) RegistryPolicy(registryID string) (string, error) {
	var doc string
	err := t.queryRow(`SELECT document FROM registry_policies WHERE registry_id = ?`, registryID).Scan(&doc)
	return doc, mapErr(err)
}

func (t *txn) CreateGroup(g store.Group) error {
	_, err := t.exec(`INSERT INTO iam_groups (account_id, name, group_id, created_at) VALUES (?, ?, ?, ?)`, g.AccountID, g.Name, g.GroupID, ts(g.CreatedAt))
	return err
}

func (t *txn) GetGroup(accountID, name string) (*store.Group, error) {
	var g store.Group
	var created int64
	err := t.queryRow(`SELECT account_id, name, group_id, created_at FROM iam_groups WHERE account_id = ? AND name = ?`, accountID, name).
		Scan(&g.AccountID, &g.Name, &g.GroupID, &created)
	g.CreatedAt = tm(created)
	return &g, mapErr(err)
}

func (t *txn) AddUserToGroup(accountID, group, user string) error {
	_, err := t.exec(`INSERT INTO iam_group_members (account_id, group_name, user_name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, accountID, group, user)
	return err
}

func (t *txn) RemoveUserFromGroup(accountID, group, user string) error {
	return t.affected(`DELETE FROM iam_group_members WHERE account_id = ? AND group_name = ? AND user_name = ?`, accountID, group, user)
}

func (t *txn) UserGroups(accountID, user string) ([]string, error) {
	return t.strings(`SELECT group_name FROM iam_group_members WHERE account_id = ? AND user_name = ? ORDER BY group_name`, accountID, user)
}

func (t *txn) CreateRole(r store.Role) error {
	_, err := t.exec(`INSERT INTO iam_roles (account_id, name, role_id, trust_policy, description, max_session, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.AccountID, r.Name, r.RoleID, r.TrustPolicy, r.Description, int64(r.MaxSession/time.Second), ts(r.CreatedAt))
	return err
}

func (t *txn) GetRole(accountID, name string) (*store.Role, error) {
	var r store.Role
	var maxSession, created int64
	err := t.queryRow(`SELECT account_id, name, role_id, trust_policy, description, max_session, created_at FROM iam_roles WHERE account_id = ? AND name = ?`, accountID, name).
		Scan(&r.AccountID, &r.Name, &r.RoleID, &r.TrustPolicy, &r.Description, &maxSession, &created)
	r.MaxSession, r.CreatedAt = time.Duration(maxSession)*time.Second, tm(created)
	return &r, mapErr(err)
}

func (t *txn) PutOwnerPolicy(accountID, kind, owner, name, document string) error {
	_, err := t.exec(`INSERT INTO iam_owner_policies (account_id, kind, owner, name, document) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id, kind, owner, name) DO UPDATE SET document = excluded.document`, accountID, kind, owner, name, document)
	return err
}

func (t *txn) OwnerPolicies(accountID, kind, owner string) (map[string]string, error) {
	return t.documents(`SELECT name, document FROM iam_owner_policies WHERE account_id = ? AND kind = ? AND owner = ? ORDER BY name`, accountID, kind, owner)
}

func (t *txn) AttachOwnerPolicy(accountID, kind, owner, policyARN string) error {
	_, err := t.exec(`INSERT INTO iam_owner_attached (account_id, kind, owner, policy_arn) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, accountID, kind, owner, policyARN)
	return err
}

func (t *txn) AttachedOwnerPolicies(accountID, kind, owner string) ([]string, error) {
	return t.strings(`SELECT policy_arn FROM iam_owner_attached WHERE account_id = ? AND kind = ? AND owner = ? ORDER BY policy_arn`, accountID, kind, owner)
}
