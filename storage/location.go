package storage

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Location is a parsed storage address.
type Location struct {
	Scheme      string // "s3" | "file"
	Bucket, Key string // s3; Key is an object key or a prefix, taken literally
	Path        string // file; absolute and clean
}

// String returns a form that ParseLocation maps back to l.
func (l Location) String() string {
	if l.Scheme == "s3" {
		return "s3://" + l.Bucket + "/" + l.Key
	}
	return l.Path
}

// ParseLocation parses s3://bucket/key-or-prefix, file:///abs/path (or
// file://localhost/abs/path) or an absolute path. S3 keys are not
// percent-decoded, matching the AWS CLI; file URLs are.
func ParseLocation(s string) (Location, error) {
	bad := func(why string) (Location, error) {
		return Location{}, opErr("parse", fmt.Sprintf("%q", s), fmt.Errorf("%w: %s", ErrInvalidLocation, why))
	}
	switch {
	case strings.HasPrefix(s, "s3://"):
		bucket, key, _ := strings.Cut(s[len("s3://"):], "/")
		if !validBucket(bucket) {
			return bad("bucket must be 3-255 of [a-zA-Z0-9._-]")
		}
		if len(key) > 1024 || !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
			return bad("key must be valid UTF-8 without NUL, at most 1024 bytes")
		}
		return Location{Scheme: "s3", Bucket: bucket, Key: key}, nil
	case strings.HasPrefix(s, "file:"):
		u, err := url.Parse(s)
		if err != nil {
			return bad(err.Error())
		}
		if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return bad("want file:///absolute/path")
		}
		return localLocation(u.Path, bad)
	case filepath.IsAbs(s):
		return localLocation(s, bad)
	case strings.Contains(s, "://"):
		return bad("unsupported scheme")
	default:
		return bad("path must be absolute")
	}
}

func localLocation(p string, bad func(string) (Location, error)) (Location, error) {
	if !filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return bad("path must be absolute")
	}
	return Location{Scheme: "file", Path: filepath.Clean(p)}, nil
}

// validBucket applies the legacy (us-east-1) naming rules, the loosest that
// S3 ever accepted; stricter stores reject the rest themselves.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 255 {
		return false
	}
	for _, c := range []byte(b) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// object joins a relative slash path onto an s3 prefix.
func (l Location) object(rel string) string {
	if l.Key == "" {
		return rel
	}
	return strings.TrimSuffix(l.Key, "/") + "/" + rel
}

func s3URL(bucket, key string) string { return "s3://" + bucket + "/" + key }
