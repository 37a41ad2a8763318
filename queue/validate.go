package queue

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/abrfleet/abrfleet/ladder"
)

// Validate reports the first problem with p under l, as an
// *InvalidPayloadError, or nil. Zero-valued optional fields are valid and
// mean their defaults.
//
// Local paths are checked lexically: after rejecting ".." elements, the
// cleaned path must lie under a root. Symbolic links under a root can still
// lead out of it, so the worker should open files with [os.OpenInRoot].
func (p *Payload) Validate(l Limits) error {
	q := p.withDefaults(l)
	return q.check(l)
}

// check validates a payload whose defaults have been filled in.
func (p *Payload) check(l Limits) error {
	bad := func(field string, err error) error {
		return &InvalidPayloadError{Field: field, Reason: err.Error()}
	}
	if p.Version != Version {
		return badVersion(p.Version)
	}
	if err := checkJobID(p.JobID); err != nil {
		return bad("job_id", err)
	}
	if p.Mode == "" {
		return bad("mode", errors.New("missing (want batch or live)"))
	}
	if _, err := ladder.ParseMode(string(p.Mode)); err != nil {
		return bad("mode", err)
	}
	if err := checkInput(p.Input, p.Mode, l.AllowedInputRoots); err != nil {
		return bad("input", err)
	}
	if err := checkOutput(p.Output, l.AllowedOutputRoots); err != nil {
		return bad("output", err)
	}
	if err := checkCodec(p.Codec, p.Preset); err != nil {
		return err
	}
	if r := p.Ladder; r != nil {
		switch {
		case (r.Name == "") == (r.Inline == nil):
			return bad("ladder", errors.New("set exactly one of name and inline"))
		case r.Name != "":
			if _, err := ladder.Named(r.Name); err != nil {
				return bad("ladder.name", err)
			}
		default:
			if err := r.Inline.Validate(); err != nil {
				return bad("ladder.inline", err)
			}
		}
	}
	for i, o := range p.Outputs {
		if o != OutputHLS && o != OutputMP4 {
			return bad("outputs", fmt.Errorf("unknown output %q (want hls or mp4)", o))
		}
		if slices.Contains(p.Outputs[:i], o) {
			return bad("outputs", fmt.Errorf("duplicate output %q", o))
		}
	}
	if err := checkDuration(p.Timeout.Duration, l.maxTimeout(), "maximum"); err != nil {
		return bad("timeout", err)
	}
	switch {
	case p.Mode != ladder.Live && p.IdleTimeout.Duration != 0:
		return bad("idle_timeout", errors.New("only valid for live jobs"))
	case p.Mode == ladder.Live:
		if err := checkDuration(p.IdleTimeout.Duration, p.Timeout.Duration, "timeout"); err != nil {
			return bad("idle_timeout", err)
		}
	}
	return nil
}

// checkJobID allows "" (asynq then picks the task ID).
func checkJobID(id string) error {
	switch {
	case id == "":
		return nil
	case len(id) > MaxJobIDBytes:
		return fmt.Errorf("longer than %d bytes", MaxJobIDBytes)
	case id == "." || id == "..":
		return fmt.Errorf("%q is not allowed", id)
	}
	for i, r := range id {
		if !(r < utf8.RuneSelf && (isAlnum(byte(r)) || r == '.' || r == '_' || r == '-')) {
			return fmt.Errorf("character %q at byte %d is not allowed (want [A-Za-z0-9._-])", r, i)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// checkLocation applies the rules shared by Input and Output.
func checkLocation(s string) error {
	switch {
	case s == "":
		return errors.New("missing")
	case len(s) > MaxLocationBytes:
		return fmt.Errorf("longer than %d bytes", MaxLocationBytes)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
	}
	return nil
}

func checkInput(s string, m ladder.Mode, roots []string) error {
	if err := checkLocation(s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	want := "s3, file or https"
	if m == ladder.Live {
		want = "s3, file, https, srt, rtmp or udp"
	}
	if u.Scheme == "" {
		return fmt.Errorf("not a URL (want %s)", want)
	}
	if u.User != nil {
		return errors.New("URL must not contain userinfo")
	}
	switch u.Scheme {
	case "s3":
		return checkS3(s, u, "key")
	case "file":
		return checkFile(s, u, roots)
	case "https":
		if u.Hostname() == "" {
			return errors.New("https URL has no host")
		}
		return nil
	case "srt", "rtmp", "udp":
		if m != ladder.Live {
			return fmt.Errorf("%s is only allowed for live jobs", u.Scheme)
		}
		return checkHostPort(u)
	case "http":
		return errors.New("http is not allowed (use https)")
	}
	return fmt.Errorf("unsupported scheme %q (want %s)", u.Scheme, want)
}

func checkOutput(s string, roots []string) error {
	if err := checkLocation(s); err != nil {
		return err
	}
	if strings.HasPrefix(s, "/") {
		return checkLocalPath(s, roots, "output")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "s3" {
		return errors.New("want s3://bucket/prefix or an absolute directory")
	}
	if u.User != nil {
		return errors.New("URL must not contain userinfo")
	}
	return checkS3(s, u, "prefix")
}

// checkS3 accepts s3://bucket/key (key names the path's role: key or
// prefix), where the path is non-empty and any '?' or '#' in it is
// percent-encoded, as a URL has no other way to carry them.
func checkS3(s string, u *url.URL, key string) error {
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("want s3://bucket/%s", key)
	}
	if strings.ContainsAny(s, "?#") {
		return errors.New("s3 URL must not have a query or fragment")
	}
	if err := checkBucket(u.Host); err != nil {
		return err
	}
	if strings.TrimPrefix(u.Path, "/") == "" {
		return fmt.Errorf("s3 URL has no %s", key)
	}
	return nil
}

// checkBucket applies the S3 general purpose bucket naming rules.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q must be 3 to 63 characters long", b)
	}
	for i := range len(b) {
		if c := b[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket %q may contain only lowercase letters, digits, dots and hyphens", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("bucket %q must begin and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket %q must not contain two adjacent dots", b)
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return fmt.Errorf("bucket %q must not be formatted as an IP address", b)
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return fmt.Errorf("bucket %q must not start with the reserved prefix %q", b, p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return fmt.Errorf("bucket %q must not end with the reserved suffix %q", b, s)
		}
	}
	return nil
}

// checkFile accepts file:///abs/path under one of roots.
func checkFile(s string, u *url.URL, roots []string) error {
	switch {
	case u.Opaque != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/"):
		return errors.New("want file:///absolute/path")
	case strings.ContainsAny(s, "?#"):
		return errors.New("file URL must not have a query or fragment")
	case len(roots) == 0:
		return errors.New("file inputs are disabled (no allowed input roots)")
	}
	return checkLocalPath(u.Path, roots, "input")
}

// checkLocalPath accepts an absolute slash-separated path without ".."
// elements that, cleaned, lies under one of roots; any such path if roots is
// empty.
func checkLocalPath(p string, roots []string, kind string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("path %q is not absolute", p)
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return fmt.Errorf("path %q contains a .. element", p)
	}
	if len(roots) == 0 {
		return nil
	}
	p = path.Clean(p)
	for _, r := range roots {
		r = path.Clean(r)
		if path.IsAbs(r) && (p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/")) {
			return nil
		}
	}
	return fmt.Errorf("path %q is outside the allowed %s roots", p, kind)
}

// checkHostPort accepts a URL naming a host and a port from 1 to 65535.
func checkHostPort(u *url.URL) error {
	if u.Hostname() == "" {
		return fmt.Errorf("%s URL has no host", u.Scheme)
	}
	if u.Port() == "" {
		return fmt.Errorf("%s URL has no port", u.Scheme)
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s URL port %s is out of range", u.Scheme, u.Port())
	}
	return nil
}

// checkCodec validates Codec and Preset together.
func checkCodec(codec, preset string) error {
	if codec == "" {
		return &InvalidPayloadError{Field: "codec", Reason: "missing (want x264, x265, h264_nvenc, hevc_nvenc or auto)"}
	}
	if codec == CodecAuto {
		if preset != "" {
			return &InvalidPayloadError{Field: "preset", Reason: "must be empty with codec auto, as presets are codec-specific"}
		}
		return nil
	}
	c, err := ladder.ParseCodec(codec)
	if err != nil {
		return &InvalidPayloadError{Field: "codec", Reason: fmt.Sprintf("unknown codec %q (want x264, x265, h264_nvenc, hevc_nvenc or auto)", codec)}
	}
	if err := ladder.ValidatePreset(c, preset); err != nil {
		return &InvalidPayloadError{Field: "preset", Reason: err.Error()}
	}
	return nil
}

func checkDuration(d, limit time.Duration, limitName string) error {
	switch {
	case d < MinTimeout:
		return fmt.Errorf("%v is below the minimum %v", d, MinTimeout)
	case d > limit:
		return fmt.Errorf("%v exceeds the %s %v", d, limitName, limit)
	}
	return nil
}
