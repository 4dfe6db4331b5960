package s3

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fileKey is the key of a small named object beside the blobs and uploads (a backup's description).
func (s *Store) fileKey(name string) (string, error) {
	if name == "" || name == "blobs" || name == "uploads" || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("s3: %q is not a file name of the store", name)
	}
	return s.prefix + name, nil
}

// WriteFile stores a small named object under the store's prefix, beside the blobs, replacing it whole.
func (s *Store) WriteFile(ctx context.Context, name string, data []byte) error {
	key, err := s.fileKey(name)
	if err != nil {
		return err
	}
	return noSpace(s.put(ctx, key, data))
}

// ReadFile returns a named object written by WriteFile; a missing one is an error matching fs.ErrNotExist.
func (s *Store) ReadFile(ctx context.Context, name string) ([]byte, error) {
	key, err := s.fileKey(name)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return nil, fmt.Errorf("s3://%s/%s: %w", s.bucket, key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
