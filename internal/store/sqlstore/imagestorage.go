package sqlstore

import (
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/store"
)

func (t *txn) PutImageStorage(repoID int64, st store.ImageStorage) error {
	var one int
	if err := t.queryRow(`SELECT 1 FROM images WHERE repository_id = ? AND digest = ?`, repoID, st.Digest.String()).Scan(&one); err != nil {
		return mapErr(err)
	}
	_, err := t.exec(`INSERT INTO image_storage (repository_id, digest, archived, archived_at, activated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest) DO UPDATE SET archived = excluded.archived, archived_at = excluded.archived_at,
		activated_at = excluded.activated_at`,
		repoID, st.Digest.String(), boolInt(st.Archived), ts(st.ArchivedAt), ts(st.ActivatedAt))
	return err
}

func scanImageStorage(sc interface{ Scan(...any) error }) (*store.ImageStorage, error) {
	var st store.ImageStorage
	var d string
	var archived int
	var archivedAt, activatedAt int64
	if err := sc.Scan(&d, &archived, &archivedAt, &activatedAt); err != nil {
		return nil, mapErr(err)
	}
	st.Digest, st.Archived, st.ArchivedAt, st.ActivatedAt = digest.Digest(d), archived != 0, tm(archivedAt), tm(activatedAt)
	return &st, nil
}

const imageStorageCols = `digest, archived, archived_at, activated_at`

func (t *txn) ImageStorage(repoID int64, d digest.Digest) (*store.ImageStorage, error) {
	return scanImageStorage(t.queryRow(`SELECT `+imageStorageCols+` FROM image_storage WHERE repository_id = ? AND digest = ?`, repoID, d.String()))
}

func (t *txn) ImageStorageBetween(repoID int64, first, last digest.Digest) (map[digest.Digest]store.ImageStorage, error) {
	l, err := collect(t, scanImageStorage, `SELECT `+imageStorageCols+` FROM image_storage
		WHERE repository_id = ? AND digest BETWEEN ? AND ? ORDER BY digest`, repoID, first.String(), last.String())
	out := make(map[digest.Digest]store.ImageStorage, len(l))
	for _, st := range l {
		out[st.Digest] = st
	}
	return out, err
}
