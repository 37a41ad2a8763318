package storage

import (
	"errors"
	"testing"
)

var locationTests = []struct {
	in   string
	want Location
	ok   bool
}{
	{"s3://bucket/key.mp4", Location{Scheme: "s3", Bucket: "bucket", Key: "key.mp4"}, true},
	{"s3://my.bucket-1/out/job/", Location{Scheme: "s3", Bucket: "my.bucket-1", Key: "out/job/"}, true},
	{"s3://bucket", Location{Scheme: "s3", Bucket: "bucket"}, true},
	{"s3://bucket/", Location{Scheme: "s3", Bucket: "bucket"}, true},
	{"s3://bucket/a b%20c?d#e", Location{Scheme: "s3", Bucket: "bucket", Key: "a b%20c?d#e"}, true}, // literal, like the AWS CLI
	{"s3://Legacy_Bucket/k", Location{Scheme: "s3", Bucket: "Legacy_Bucket", Key: "k"}, true},
	{"file:///abs/path", Location{Scheme: "file", Path: "/abs/path"}, true},
	{"file://localhost/abs/a%20b", Location{Scheme: "file", Path: "/abs/a b"}, true},
	{"file:///abs/../x/./y/", Location{Scheme: "file", Path: "/x/y"}, true},
	{"/abs/path/", Location{Scheme: "file", Path: "/abs/path"}, true},
	{"/a://b", Location{Scheme: "file", Path: "/a:/b"}, true},
	{"s3://", Location{}, false},
	{"s3:///key", Location{}, false},
	{"s3://ab/key", Location{}, false},
	{"s3://bu/cket/key", Location{}, false},
	{"s3://bucket!/key", Location{}, false},
	{"s3://bucket/\xff", Location{}, false},
	{"file://host/abs", Location{}, false},
	{"file:relative", Location{}, false},
	{"file:///abs?q", Location{}, false},
	{"relative/path", Location{}, false},
	{"", Location{}, false},
	{"https://example.com/x", Location{}, false},
	{"/nul\x00", Location{}, false},
}

func TestParseLocation(t *testing.T) {
	for _, tc := range locationTests {
		got, err := ParseLocation(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidLocation) {
			t.Errorf("ParseLocation(%q): %v is not ErrInvalidLocation", tc.in, err)
		}
	}
}

func FuzzParseLocation(f *testing.F) {
	for _, tc := range locationTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidLocation) || l != (Location{}) {
				t.Fatalf("%q: %+v, %v", s, l, err)
			}
			return
		}
		switch l.Scheme {
		case "s3":
			if !validBucket(l.Bucket) || l.Path != "" {
				t.Fatalf("%q: %+v", s, l)
			}
		case "file":
			if l.Path == "" || l.Path[0] != '/' || l.Bucket != "" || l.Key != "" {
				t.Fatalf("%q: %+v", s, l)
			}
		default:
			t.Fatalf("%q: scheme %q", s, l.Scheme)
		}
		if again, err := ParseLocation(l.String()); err != nil || again != l {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, l, l.String(), again, err)
		}
	})
}
