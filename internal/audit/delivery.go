package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/wharf-dev/wharf/internal/store"
)

// Destination receives trail log files by key.
type Destination interface {
	Put(ctx context.Context, key string, data []byte) error
}

// Dir is a directory that receives log files under their keys.
type Dir string

// Put writes a file whole or not at all.
func (d Dir) Put(_ context.Context, key string, data []byte) error {
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("log file key %q is outside the directory", key)
	}
	path := filepath.Join(string(d), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Bucket is an S3 bucket (and key prefix) that receives log files.
type Bucket struct {
	Client *s3.Client
	Name   string
	Prefix string // "" or ending in "/"
}

// Put writes a log file as an object.
func (b Bucket) Put(ctx context.Context, key string, data []byte) error {
	_, err := b.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(b.Prefix + key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	return err
}

// Delivery writes the trail's records as CloudTrail log files:
// AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz,
// each a gzipped {"Records":[…]} document of one account's records.
//
// Each record is delivered once: records are first assigned to a named file in the store, then the file
// is written, then marked delivered. A file assigned but not marked (a crash, a failed write) is written
// again, under the same name with the same records, so nothing is delivered twice or skipped. One
// process delivers at a time (a lease).
type Delivery struct {
	Meta   store.Store
	To     Destination
	Region string
	Now    func() time.Time
	// Holder names this process for the lease.
	Holder string
	// Batch bounds the chunks taken at once (default 100): one file per account per batch.
	Batch int
	// Delivered counts the records delivered.
	Delivered atomic.Int64
}

const deliveryLease = "audit-delivery"

// Deliver delivers every record not delivered yet and returns how many files it wrote.
func (d *Delivery) Deliver(ctx context.Context) (files int, err error) {
	var ok bool
	if err := d.Meta.Update(ctx, func(tx store.Tx) (err error) {
		ok, err = tx.AcquireLease(deliveryLease, d.Holder, d.Now(), 10*time.Minute)
		return err
	}); err != nil || !ok {
		return 0, err
	}
	defer d.Meta.Update(context.Background(), func(tx store.Tx) error { return tx.ReleaseLease(deliveryLease, d.Holder) })
	batch := d.Batch
	if batch <= 0 {
		batch = 100
	}
	for ctx.Err() == nil {
		// Files assigned before: a delivery that did not finish, or the batch just assigned.
		var pending []string
		if err := d.Meta.View(ctx, func(tx store.Tx) (err error) { pending, err = tx.UndeliveredAuditFiles(100); return err }); err != nil {
			return files, err
		}
		for _, f := range pending {
			if err := d.deliverFile(ctx, f); err != nil {
				return files, fmt.Errorf("delivering %s: %w", f, err)
			}
			files++
		}
		assigned, err := d.assign(ctx, batch)
		if err != nil || assigned == 0 {
			return files, err
		}
	}
	return files, ctx.Err()
}

// assign puts the oldest chunks no file holds into one new file for each account.
func (d *Delivery) assign(ctx context.Context, limit int) (int, error) {
	var n int
	err := d.Meta.Update(ctx, func(tx store.Tx) error {
		chunks, err := tx.UnclaimedAuditChunks(limit)
		if err != nil {
			return err
		}
		n = len(chunks)
		byAccount := map[string][]int64{}
		var order []string
		for _, c := range chunks {
			if byAccount[c.Account] == nil {
				order = append(order, c.Account)
			}
			byAccount[c.Account] = append(byAccount[c.Account], c.ID)
		}
		now := d.Now().UTC()
		for _, acct := range order {
			if err := tx.ClaimAuditChunks(byAccount[acct], d.key(acct, now)); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// key is a log file's key in CloudTrail's layout.
func (d *Delivery) key(account string, t time.Time) string {
	return fmt.Sprintf("AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", account, d.Region, t.Format("2006/01/02"),
		account, d.Region, t.Format("20060102T1504Z"), randomID())
}

func (d *Delivery) deliverFile(ctx context.Context, file string) error {
	var chunks []store.AuditChunk
	if err := d.Meta.View(ctx, func(tx store.Tx) (err error) { chunks, err = tx.AuditFileChunks(file); return err }); err != nil {
		return err
	}
	if len(chunks) > 0 {
		data, err := LogFile(chunks)
		if err != nil {
			return err
		}
		if err := d.To.Put(ctx, file, data); err != nil {
			return err
		}
	}
	var n int
	err := d.Meta.Update(ctx, func(tx store.Tx) (err error) { n, err = tx.MarkAuditFileDelivered(file); return err })
	if err == nil {
		d.Delivered.Add(int64(n))
	}
	return err
}

// LogFile is the gzipped {"Records":[…]} document of the chunks' records: the same bytes for the same chunks.
func LogFile(chunks []store.AuditChunk) ([]byte, error) {
	var doc []byte
	doc = append(doc, `{"Records":[`...)
	first := true
	for i := range chunks {
		events, err := Decode(&chunks[i])
		if err != nil { // left out, rather than holding up the delivery of every record after it
			slog.Error("audit trail: a chunk does not decode; its records are not delivered", "chunk", chunks[i].ID,
				"account", chunks[i].Account, "records", chunks[i].Records, "err", err)
			continue
		}
		for _, e := range events {
			if !first {
				doc = append(doc, ',')
			}
			first = false
			doc = e.AppendJSON(doc)
		}
	}
	doc = append(doc, `]}`...)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(doc)
	zw.Close()
	return out.Bytes(), nil
}

// randomID is a log file's unique part: 16 letters and digits.
func randomID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Prune deletes the chunks whose records are all older than retention, in batches, and returns how many
// it deleted.
func Prune(ctx context.Context, meta store.Store, now time.Time, retention time.Duration) (int, error) {
	total := 0
	for ctx.Err() == nil {
		var n int
		if err := meta.Update(ctx, func(tx store.Tx) (err error) { n, err = tx.PruneAuditChunks(now.Add(-retention), 1000); return err }); err != nil {
			return total, err
		}
		total += n
		if n < 1000 {
			break
		}
	}
	return total, ctx.Err()
}
