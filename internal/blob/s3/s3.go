// Package s3 keeps blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, versitygw …), for several
// stateless nodes sharing one bucket.
//
// Layout under the configured prefix:
//
//	blobs/<algorithm>/<first two hex digits>/<hex>   a committed blob
//	uploads/<id>/state                                an upload's state (JSON), the commit point of an Append
//	uploads/<id>/tail-<n>                             bytes not yet in a multipart part (under the part size)
//	uploads/<id>/sealed                               the whole upload, once ReadUpload needed to read it
//
// An upload is an S3 multipart upload: an Append streams its bytes into parts of at least the part size
// (S3's minimum is 5 MiB), keeping what is left over in a tail object that the next Append continues from.
// The state object, written last, says which parts and which tail make up the upload, so a failed Append
// leaves the upload as it was, and the next chunk may arrive on any node. Commit completes the multipart
// upload and copies it to the blob's key (S3 has no rename; the copy happens inside the object store); an
// upload smaller than a part is copied from its tail.
package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/blob"
)

// MinPartSize is the smallest part S3 accepts, except the last one.
const MinPartSize = 5 << 20

// Config says which bucket to use and how to reach it. Credentials come from the usual AWS chain
// (environment, shared files, instance roles).
type Config struct {
	Bucket         string
	Prefix         string // key prefix, "" or ending in "/"
	Region         string // default: AWS_REGION, else us-east-1
	Endpoint       string // another S3-compatible service, e.g. http://127.0.0.1:9000
	ForcePathStyle bool   // bucket in the path instead of the host name (most S3-compatible services)
	PartSize       int64  // multipart part size; default 8 MiB (blobs up to 80 GB), at least MinPartSize
	// UploadGrace hides uploads touched more recently than this from Uploads, so a node cleaning up
	// abandoned uploads leaves alone those other nodes are still writing (a monolithic upload has no
	// session yet). Zero lists every upload.
	UploadGrace time.Duration
}

// Store is a blob.Store on an S3 bucket.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string
	part    int64
	grace   time.Duration
	buffers sync.Pool // *[]byte of capacity part
}

// New returns a store on the configured bucket. It checks that the bucket is reachable.
func New(ctx context.Context, cfg Config) (*Store, error) {
	client, err := NewClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{client: client, presign: s3.NewPresignClient(client), bucket: cfg.Bucket, prefix: cfg.Prefix, part: cfg.PartSize,
		grace: cfg.UploadGrace}
	if s.part == 0 {
		s.part = 8 << 20
	}
	if s.part < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is under S3's minimum of %d", s.part, MinPartSize)
	}
	s.buffers.New = func() any { b := make([]byte, 0, s.part); return &b }
	if s.prefix != "" && !strings.HasSuffix(s.prefix, "/") {
		s.prefix += "/"
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return nil, fmt.Errorf("s3: bucket %s: %w", cfg.Bucket, err)
	}
	return s, nil
}

func (s *Store) blobKey(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%w: %v", blob.ErrNotFound, err)
	}
	hex := d.Encoded()
	return s.prefix + "blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex, nil
}

func (s *Store) uploadKey(id, name string) (string, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return "", blob.ErrUploadUnknown
	}
	return s.prefix + "uploads/" + id + "/" + name, nil
}

func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return true
		}
	}
	var nk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nk) || errors.As(err, &nf)
}

// noSpace marks an object store's refusal for want of space as blob.ErrFull: MinIO's XMinioStorageFull,
// a quota, or HTTP 507.
func noSpace(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "XMinioStorageFull", "QuotaExceeded", "InsufficientStorage":
			return errors.Join(blob.ErrFull, err)
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusInsufficientStorage {
		return errors.Join(blob.ErrFull, err)
	}
	return err
}

// Open returns a reader of the blob that fetches byte ranges as it is read and seeked.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return nil, blob.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &reader{s: s, ctx: ctx, key: key, body: out.Body, size: aws.ToInt64(out.ContentLength)}, nil
}

// reader reads an object from its current offset, opening a ranged GET after a seek.
type reader struct {
	s    *Store
	ctx  context.Context
	key  string
	body io.ReadCloser // nil after a seek, until the next Read
	off  int64
	size int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{Bucket: &r.s.bucket, Key: &r.key,
			Range: aws.String(fmt.Sprintf("bytes=%d-", r.off))})
		if err != nil {
			return 0, err
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.off < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("s3: seek before the start")
	}
	if offset != r.off && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.off = offset
	return offset, nil
}

func (r *reader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// Stat returns the blob's size.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return 0, blob.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Delete removes a blob.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	key, err := s.blobKey(d)
	if err != nil {
		return nil
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	return err
}

// URL returns a presigned GET of the blob, valid for ttl: clients fetch layer bytes from S3 directly.
func (s *Store) URL(ctx context.Context, d digest.Digest, ttl time.Duration) (string, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

// state is an upload's state object.
type state struct {
	Size      int64  `json:"size"`
	Multipart string `json:"multipart,omitempty"` // the S3 multipart upload id, once a part was written
	Parts     []part `json:"parts,omitempty"`
	Tail      string `json:"tail,omitempty"` // name of the tail object, "" when there is none
	TailSize  int64  `json:"tailSize,omitempty"`
	Seq       int    `json:"seq"`              // numbers tail objects, so a new tail never overwrites the current one
	Sealed    bool   `json:"sealed,omitempty"` // the whole upload is in the "sealed" object
}

type part struct {
	Number int32  `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

func (s *Store) loadState(ctx context.Context, id string) (*state, error) {
	key, err := s.uploadKey(id, "state")
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return nil, blob.ErrUploadUnknown
	}
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	var st state
	if err := json.NewDecoder(out.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("s3: upload %s: bad state: %w", id, err)
	}
	return &st, nil
}

func (s *Store) saveState(ctx context.Context, id string, st *state) error {
	key, _ := s.uploadKey(id, "state")
	body, _ := json.Marshal(st)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))})
	return err
}

func (s *Store) put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data)))})
	return err
}

// Append streams r into the upload: whole parts go to the multipart upload as they fill, the rest becomes
// the new tail. Nothing the upload's state names is changed until the new state is written.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (n int64, err error) {
	defer func() { err = noSpace(err) }()
	if _, err := s.uploadKey(id, "state"); err != nil {
		return 0, err
	}
	st, err := s.loadState(ctx, id)
	switch {
	case errors.Is(err, blob.ErrUploadUnknown) && offset == 0:
		st = &state{}
	case err != nil:
		return 0, err
	case st.Size != offset:
		return 0, blob.ErrOffset
	case st.Sealed:
		return 0, fmt.Errorf("s3: upload %s was read back and takes no more bytes", id)
	}
	next := *st
	next.Parts = append([]part(nil), st.Parts...)
	saved := false
	defer func() { // a multipart upload started by a failed Append is named by no state: abort it
		if !saved && st.Multipart == "" && next.Multipart != "" {
			key, _ := s.uploadKey(id, "sealed")
			s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &next.Multipart})
		}
	}()

	// One part's buffer per upload being written, reused: memory is bounded by concurrent uploads × part size.
	pooled := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(pooled)
	buf := (*pooled)[:0]
	if st.Tail != "" { // continue from the tail: it becomes the start of the next part
		tailKey, _ := s.uploadKey(id, st.Tail)
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &tailKey})
		if err != nil {
			return 0, err
		}
		buf, err = appendAll(buf, out.Body, st.TailSize)
		out.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("s3: reading the tail of upload %s: %w", id, err)
		}
	}
	var added int64
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		added += int64(n)
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return 0, err // the upload is unchanged: its state still names the old parts and tail
		}
		if len(buf) == cap(buf) || eof && len(buf) >= MinPartSize {
			if err := s.uploadPart(ctx, id, &next, buf); err != nil {
				return 0, err
			}
			buf = buf[:0]
		}
		if eof {
			break
		}
	}
	next.Size = offset + added
	next.Tail, next.TailSize = "", 0
	if len(buf) > 0 {
		next.Seq++
		next.Tail, next.TailSize = fmt.Sprintf("tail-%d", next.Seq), int64(len(buf))
		tailKey, _ := s.uploadKey(id, next.Tail)
		if err := s.put(ctx, tailKey, buf); err != nil {
			return 0, err
		}
	}
	if err := s.saveState(ctx, id, &next); err != nil {
		return 0, err
	}
	saved = true
	if st.Tail != "" && st.Tail != next.Tail {
		oldKey, _ := s.uploadKey(id, st.Tail)
		s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &oldKey})
	}
	return added, nil
}

// appendAll reads exactly n bytes of r onto buf.
func appendAll(buf []byte, r io.Reader, n int64) ([]byte, error) {
	start := len(buf)
	buf = buf[:start+int(n)]
	_, err := io.ReadFull(r, buf[start:])
	return buf, err
}

// uploadPart adds data as the next part of the upload's multipart upload, starting that if needed.
func (s *Store) uploadPart(ctx context.Context, id string, st *state, data []byte) error {
	if st.Multipart == "" {
		key, _ := s.uploadKey(id, "sealed")
		out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
		if err != nil {
			return err
		}
		st.Multipart = aws.ToString(out.UploadId)
	}
	key, _ := s.uploadKey(id, "sealed")
	n := int32(len(st.Parts) + 1)
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: &st.Multipart,
		PartNumber: aws.Int32(n), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return err
	}
	st.Parts = append(st.Parts, part{Number: n, ETag: aws.ToString(out.ETag), Size: int64(len(data))})
	return nil
}

// seal puts the whole upload into one object, the "sealed" key: it completes the multipart upload with the
// tail as its last part, or copies the tail when there are no parts.
func (s *Store) seal(ctx context.Context, id string, st *state) error {
	if st.Sealed {
		return nil
	}
	sealedKey, _ := s.uploadKey(id, "sealed")
	switch {
	case st.Multipart != "":
		if st.Tail != "" {
			tailKey, _ := s.uploadKey(id, st.Tail)
			n := int32(len(st.Parts) + 1)
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &s.bucket, Key: &sealedKey,
				UploadId: &st.Multipart, PartNumber: aws.Int32(n), CopySource: aws.String(s.bucket + "/" + tailKey)})
			if err != nil {
				return err
			}
			st.Parts = append(st.Parts, part{Number: n, ETag: aws.ToString(out.CopyPartResult.ETag), Size: st.TailSize})
		}
		parts := make([]types.CompletedPart, len(st.Parts))
		for i, p := range st.Parts {
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
		}
		if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &sealedKey,
			UploadId: &st.Multipart, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			return err
		}
	case st.Tail != "":
		tailKey, _ := s.uploadKey(id, st.Tail)
		if _, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &sealedKey,
			CopySource: aws.String(s.bucket + "/" + tailKey)}); err != nil {
			return err
		}
	default:
		if err := s.put(ctx, sealedKey, nil); err != nil {
			return err
		}
	}
	st.Sealed, st.Multipart, st.Parts = true, "", nil
	return s.saveState(ctx, id, st)
}

// ReadUpload reads an upload's bytes. S3 cannot read an unfinished multipart upload, so the upload is
// sealed first: it takes no more bytes afterwards (the core reads an upload back only to complete it).
func (s *Store) ReadUpload(ctx context.Context, id string) (io.ReadCloser, error) {
	st, err := s.loadState(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.seal(ctx, id, st); err != nil {
		return nil, err
	}
	key, _ := s.uploadKey(id, "sealed")
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// Commit makes the upload blob d: the upload is sealed and copied to the blob's key (or its tail copied,
// when it never filled a part). The blob's bytes appear under its key all at once (S3 writes are
// atomic), and never partially. An upload whose state says it holds other than size bytes (a crash
// between its last Append and the caller's record of it) is refused: its bytes are not those verified. A
// blob already under the key is kept; two commits racing past that check both copy bytes verified to hash
// to d, so whichever lands last lands the same content.
func (s *Store) Commit(ctx context.Context, id string, d digest.Digest, size int64) (err error) {
	defer func() { err = noSpace(err) }()
	blobKey, err := s.blobKey(d)
	if err != nil {
		return err
	}
	st, err := s.loadState(ctx, id)
	if errors.Is(err, blob.ErrUploadUnknown) && size == 0 {
		st, err = &state{}, nil // the empty blob, with no Append
	}
	if err != nil {
		return err
	}
	if st.Size != size {
		return fmt.Errorf("%w: upload %s holds %d bytes, committed %d", blob.ErrOffset, id, st.Size, size)
	}
	if _, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &blobKey}); err == nil {
		return s.Cancel(ctx, id)
	} else if !notFound(err) {
		return err
	}
	from, _ := s.uploadKey(id, "sealed")
	switch {
	case !st.Sealed && st.Multipart == "" && st.Tail == "":
		if err := s.put(ctx, blobKey, nil); err != nil { // the empty blob
			return err
		}
		return s.Cancel(ctx, id)
	case !st.Sealed && st.Multipart == "": // all under one part: the tail is the blob
		from, _ = s.uploadKey(id, st.Tail)
	default:
		if err := s.seal(ctx, id, st); err != nil {
			return err
		}
	}
	if err := s.copy(ctx, from, blobKey, st.Size); err != nil {
		return err
	}
	return s.Cancel(ctx, id)
}

// copy copies an object within the bucket; objects over 5 GiB (CopyObject's limit) are copied in parts.
func (s *Store) copy(ctx context.Context, from, to string, size int64) error {
	src := aws.String(s.bucket + "/" + from)
	const maxCopy = 5 << 30
	if size <= maxCopy {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &to, CopySource: src})
		return err
	}
	mp, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &to})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	const chunk = 1 << 30
	for off, n := int64(0), int32(1); off < size; off, n = off+chunk, n+1 {
		end := min(off+chunk, size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &s.bucket, Key: &to, UploadId: mp.UploadId,
			PartNumber: aws.Int32(n), CopySource: src, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end))})
		if err != nil {
			s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &to, UploadId: mp.UploadId})
			return err
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.CopyPartResult.ETag})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &to,
		UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// Cancel removes an upload: its multipart upload and its objects.
func (s *Store) Cancel(ctx context.Context, id string) error {
	prefix, err := s.uploadKey(id, "")
	if err != nil {
		return nil
	}
	if st, err := s.loadState(ctx, id); err == nil && st.Multipart != "" {
		key, _ := s.uploadKey(id, "sealed")
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key,
			UploadId: &st.Multipart}); err != nil && !notFound(err) {
			return err
		}
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	// The state goes last, so an interrupted cancel is still listed and cancelled again.
	state, _ := s.uploadKey(id, "state")
	for _, k := range keys {
		if k != state {
			if err := s.deleteKey(ctx, k); err != nil {
				return err
			}
		}
	}
	return s.deleteKey(ctx, state)
}

func (s *Store) deleteKey(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key}); err != nil && !notFound(err) {
		return err
	}
	return nil
}

// Uploads lists the uploads in the bucket untouched for the upload grace period.
func (s *Store) Uploads(ctx context.Context) ([]string, error) {
	prefix := s.prefix + "uploads/"
	touched := map[string]time.Time{}
	var ids []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			id, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), prefix), "/")
			if _, seen := touched[id]; !seen {
				ids = append(ids, id)
			}
			if t := aws.ToTime(o.LastModified); t.After(touched[id]) {
				touched[id] = t
			}
		}
	}
	out := ids[:0]
	for _, id := range ids {
		if s.grace <= 0 || time.Since(touched[id]) >= s.grace {
			out = append(out, id)
		}
	}
	return out, nil
}

// NewClient returns a client of the configured S3 service, set up as the store's: for other writers to
// the same service (the audit trail's delivery).
func NewClient(ctx context.Context, cfg Config) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.ForcePathStyle
		// Checksums only where S3 requires them: not every S3-compatible service knows the newer ones.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// Layer bytes are hashed once already (their digest); signing them would hash them again.
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		// S3 servers over a file system (versitygw's posix backend) remove a key's parent directories once
		// a delete empties them; a write into that directory at that moment fails with this code. None of
		// our keys has keys under it, so the code only ever means that race, and a retry succeeds.
		o.Retryer = retry.AddWithErrorCodes(retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 5 }), "ExistingObjectIsDirectory")
	})
	return client, nil
}
