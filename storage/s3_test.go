package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const testBucket = "abr-test"

// fakeS3 is gofakes3 over real HTTP, wrapped to record and break requests.
type fakeS3 struct {
	t       *testing.T
	h       http.Handler
	backend *s3mem.Backend
	client  *s3.Client

	mu       sync.Mutex
	created  []string                      // keys, in order of completed creation
	requests []*http.Request               // every request, bodies not kept
	fail     func(*http.Request) bool      // answer 500 instead; called concurrently
	onCreate func(key string, body []byte) // sees single-PUT bodies before the store
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	f := &fakeS3{t: t, h: gofakes3.New(backend).Server(), backend: backend}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client, err := NewS3Client(t.Context(), S3Config{Region: "us-east-1", Endpoint: srv.URL, PathStyle: true},
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.AddWithMaxBackoffDelay(retry.NewStandard(), time.Millisecond)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	f.client = client
	return f
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	single := r.Method == http.MethodPut && !q.Has("partNumber") && r.Header.Get("X-Amz-Copy-Source") == ""
	creates := key != "" && (single || r.Method == http.MethodPost && q.Has("uploadId"))

	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	fail, onCreate := f.fail, f.onCreate
	f.mu.Unlock()
	if fail != nil && fail(r) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
		return
	}
	if creates && single && onCreate != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			f.t.Error(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		onCreate(key, body)
	}
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	f.h.ServeHTTP(rec, r)
	if creates && rec.code == http.StatusOK {
		f.mu.Lock()
		f.created = append(f.created, key)
		f.mu.Unlock()
	}
}

func (f *fakeS3) snapshot() (created []string, requests []*http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.created...), append([]*http.Request(nil), f.requests...)
}

func (f *fakeS3) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeS3) put(key string, body []byte) {
	f.t.Helper()
	if _, err := f.client.PutObject(f.t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(body),
	}); err != nil {
		f.t.Fatal(err)
	}
}

// object returns the body and head of key, or ok=false if absent.
func (f *fakeS3) object(key string) (body []byte, h *s3.HeadObjectOutput, ok bool) {
	f.t.Helper()
	ctx := f.t.Context()
	out, err := f.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		if errors.Is(notFound(err), ErrNotFound) {
			return nil, nil, false
		}
		f.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	if body, err = io.ReadAll(out.Body); err != nil {
		f.t.Fatal(err)
	}
	h, err = f.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		f.t.Fatal(err)
	}
	return body, h, true
}

func writes(reqs []*http.Request) (n int) {
	for _, r := range reqs {
		if r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete {
			n++
		}
	}
	return n
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// writeTree creates files (slash paths) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every regular file under dir by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>13) ^ seed
	}
	return b
}

func TestNewS3ClientDefaults(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, tc := range []struct {
		cfg              S3Config
		region, endpoint string
		pathStyle        bool
	}{
		{S3Config{}, "us-east-1", "", false},
		{S3Config{Region: "eu-west-3", Endpoint: "http://minio:9000", PathStyle: true}, "eu-west-3", "http://minio:9000", true},
	} {
		c, err := NewS3Client(t.Context(), tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		o := c.Options()
		if o.Region != tc.region || aws.ToString(o.BaseEndpoint) != tc.endpoint || o.UsePathStyle != tc.pathStyle {
			t.Errorf("%+v: region %q endpoint %q path-style %v", tc.cfg, o.Region, aws.ToString(o.BaseEndpoint), o.UsePathStyle)
		}
	}
}
