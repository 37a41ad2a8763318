// Package storage fetches job inputs and publishes HLS outputs, locally or on
// S3 and S3-compatible stores. Publishing is atomic: a destination shows
// either nothing or the complete tree, and a re-delivered task never
// publishes twice.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Config configures the S3 client and transfers; zero values are defaults.
type S3Config struct {
	Region      string // default from the SDK's chain, else us-east-1
	Endpoint    string // override for S3-compatible stores (e.g. MinIO); default AWS
	PathStyle   bool   // path-style addressing; default false (true is required by most S3-compatible stores)
	PartSizeMB  int    // multipart part size; default 16, at least 5 (the S3 minimum)
	Concurrency int    // parts in flight; default 4
}

const (
	defaultPartSizeMB  = 16
	minPartSizeMB      = 5
	defaultConcurrency = 4
	jobMetaKey         = "abrfleet-job" // x-amz-meta-abrfleet-job
)

func (c S3Config) partSize() int64 {
	switch {
	case c.PartSizeMB <= 0:
		return defaultPartSizeMB << 20
	case c.PartSizeMB < minPartSizeMB:
		return minPartSizeMB << 20
	}
	return int64(c.PartSizeMB) << 20
}

func (c S3Config) concurrency() int {
	if c.Concurrency <= 0 {
		return defaultConcurrency
	}
	return c.Concurrency
}

// NewS3Client builds a client from the default credential chain. optFns
// apply after c, so they can override it (credentials, retryer, and the
// checksum settings that some S3-compatible stores need:
// config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired)).
func NewS3Client(ctx context.Context, c S3Config, optFns ...func(*config.LoadOptions) error) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, optFns...)...)
	if err != nil {
		return nil, fmt.Errorf("storage: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
	}), nil
}

// newTransfer wraps client in a transfer manager that honours the client's
// checksum settings (the manager otherwise forces CRC32 trailers, which
// many S3-compatible stores reject).
func newTransfer(client *s3.Client, c S3Config) *tm.Client {
	o := client.Options()
	return tm.New(client, func(t *tm.Options) {
		t.PartSizeBytes = c.partSize()
		t.MultipartUploadThreshold = c.partSize()
		t.Concurrency = c.concurrency()
		t.GetObjectType = tmtypes.GetObjectRanges // works for objects of any origin
		t.RequestChecksumCalculation = o.RequestChecksumCalculation
		t.DisableChecksumValidation = o.ResponseChecksumValidation == aws.ResponseChecksumValidationWhenRequired
	})
}

// upload puts one object. body should be an io.Seeker for single-request
// uploads to be retryable; larger bodies go multipart.
func upload(ctx context.Context, t *tm.Client, bucket, key string, body io.Reader, meta map[string]string, ifNoneMatch *string) error {
	_, err := t.UploadObject(ctx, &tm.UploadObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        body,
		ContentType: aws.String(contentType(key)),
		Metadata:    meta,
		IfNoneMatch: ifNoneMatch,
	})
	if err != nil {
		return opErr("upload", s3URL(bucket, key), err)
	}
	return nil
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".mp4", ".m4s":
		return "video/mp4"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// notFound maps the SDK's 404 shapes (HeadObject has no body, so no code).
func notFound(err error) error {
	var (
		nk   *types.NoSuchKey
		nb   *types.NoSuchBucket
		nf   *types.NotFound
		resp interface{ HTTPStatusCode() int }
	)
	if errors.As(err, &nk) || errors.As(err, &nb) || errors.As(err, &nf) ||
		errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// head returns the object's metadata; a missing object is ErrNotFound.
func head(ctx context.Context, client *s3.Client, bucket, key string) (*s3.HeadObjectOutput, error) {
	out, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("head: %w", notFound(err))
	}
	return out, nil
}
