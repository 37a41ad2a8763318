package transcode

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/asticode/go-astiav"
)

var update = flag.Bool("update", false, "rewrite the FuzzProbe seed corpus in testdata/fuzz/FuzzProbe")

// tinySpecs are the small media files the hostile-input tests start from and FuzzProbe is
// seeded with: 96x54, 8 frames at 10 fps with audio, a few KB each.
var tinySpecs = []fixtureSpec{
	{"tiny.mp4", RenderOptions{Source: "synthetic:medium?size=96x54&fps=10&frames=8", Options: crf18}},
	{"tiny.mkv", RenderOptions{Source: "synthetic:medium?size=96x54&fps=10&frames=8", Options: crf18}},
	{"tiny.ts", RenderOptions{Source: "synthetic:medium?size=96x54&fps=10&frames=8", Options: crf18}},
	{"tiny-mpeg2.ts", RenderOptions{Source: "synthetic:medium?size=96x54&fps=10&frames=8", Encoder: "mpeg2video",
		Options: []ladder.Option{{Key: "b", Value: "200k"}}}},
	{"tiny-png.mov", RenderOptions{Source: "synthetic:still?size=96x54&fps=10&frames=2&audio=0", Encoder: "png", PixFmt: "rgb24"}},
}

// renderTiny renders the tinySpecs into a temporary directory of t (about 0.2 s of CPU) and
// returns a function giving the path of one of them.
func renderTiny(t testing.TB) func(name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range tinySpecs {
		if err := Render(context.Background(), f.opts(dir)); err != nil {
			t.Fatalf("render %s: %v", f.name, err)
		}
	}
	return func(name string) string { return filepath.Join(dir, name) }
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, p string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openAudit records, through inotify, every open and read of the watched files by any
// process: the proof that FFmpeg touched nothing outside its input.
type openAudit struct {
	fd    int
	paths map[int]string // watch descriptor to path
}

func newOpenAudit(t testing.TB, paths ...string) *openAudit {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	a := &openAudit{fd: fd, paths: map[int]string{}}
	for _, p := range paths {
		wd, err := syscall.InotifyAddWatch(fd, p, syscall.IN_OPEN|syscall.IN_ACCESS)
		if err != nil {
			t.Fatalf("inotify watch %s: %v", p, err)
		}
		a.paths[wd] = p
	}
	return a
}

// touched returns the watched files opened or read since the audit began. The kernel queues
// the events as the opens happen, so what a finished call did is all there.
func (a *openAudit) touched(t testing.TB) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(a.fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatalf("read inotify: %v", err)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&syscall.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflowed")
			}
			if p, ok := a.paths[int(ev.Wd)]; ok && !slices.Contains(out, p) {
				out = append(out, p)
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
	return out
}

// connRecorder is a TCP listener on loopback that counts the connections made to it: the
// stand-in for 169.254.169.254 and any other internal service an input might point at.
type connRecorder struct {
	l         net.Listener
	mu        sync.Mutex
	addrs     []string        // remote addresses, in accept order
	sentinels map[string]bool // the recorder's own connections among them
}

func newConnRecorder(t testing.TB) *connRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &connRecorder{l: l, sentinels: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.addrs = append(r.addrs, c.RemoteAddr().String())
			r.mu.Unlock()
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return r
}

func (r *connRecorder) addr() string { return r.l.Addr().String() }

// connections is how many connections were made before the call. It connects once itself
// and waits to see that connection accepted: the kernel queues connections in order, so every
// earlier one has been counted by then.
func (r *connRecorder) connections(t testing.TB) int {
	t.Helper()
	c, err := net.Dial("tcp", r.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	r.mu.Lock()
	r.sentinels[me] = true
	r.mu.Unlock()
	n := 0
	waitUntil(t, 10*time.Second, "sentinel connection accepted", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		i := slices.Index(r.addrs, me)
		if i < 0 {
			return false
		}
		for _, a := range r.addrs[:i] {
			if !r.sentinels[a] {
				n++
			}
		}
		return true
	})
	return n
}

// waitUntil polls cond every 10 ms until it holds or d passes.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hlsPlaylist is a VOD media playlist of one segment at segURL.
func hlsPlaylist(segURL string) []byte {
	return []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXTINF:10.0,\n" + segURL + "\n#EXT-X-ENDLIST\n")
}

// ffconcat lists files for FFmpeg's concat demuxer.
func ffconcat(files ...string) []byte {
	s := "ffconcat version 1.0\n"
	for _, f := range files {
		s += "file '" + f + "'\n"
	}
	return []byte(s)
}

// hugePNG is a PNG whose IHDR declares w x h RGB pixels (valid CRCs), with one short IDAT.
func hugePNG(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8 bits, RGB; compression, filter and interlace 0
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 1+3*64)) // the start of the first scanline
	zw.Close()
	png := []byte("\x89PNG\r\n\x1a\n")
	png = append(png, chunk("IHDR", ihdr)...)
	png = append(png, chunk("IDAT", z.Bytes())...)
	return append(png, chunk("IEND", nil)...)
}

// hugeY4M is a YUV4MPEG2 stream whose header declares w x h, with a scrap of one frame.
func hugeY4M(w, h int) []byte {
	return append([]byte(fmt.Sprintf("YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg\nFRAME\n", w, h)), make([]byte, 4096)...)
}

// withDeclaredSize returns a copy of an MP4 whose avc1 sample entry declares w x h.
func withDeclaredSize(t testing.TB, mp4 []byte, w, h uint16) []byte {
	t.Helper()
	stsd := bytes.Index(mp4, []byte("stsd"))
	i := bytes.Index(mp4[max(stsd, 0):], []byte("avc1"))
	if stsd < 0 || i < 0 {
		t.Fatal("no avc1 sample entry")
	}
	// After the 4CC: reserved(6) data_reference_index(2) pre_defined(2) reserved(2)
	// pre_defined(12), then width and height.
	off := stsd + i + 4 + 6 + 2 + 2 + 2 + 12
	out := slices.Clone(mp4)
	binary.BigEndian.PutUint16(out[off:], w)
	binary.BigEndian.PutUint16(out[off+2:], h)
	return out
}

// withPNGSize returns a copy of data with every PNG IHDR in it declaring w x h (CRC fixed):
// PNG frames in a MOV that are larger than the sample description says.
func withPNGSize(t testing.TB, data []byte, w, h uint32) []byte {
	t.Helper()
	out := slices.Clone(data)
	n := 0
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte("IHDR"))
		if j < 0 {
			break
		}
		k := i + j
		if k+4+13+4 > len(out) {
			break
		}
		binary.BigEndian.PutUint32(out[k+4:], w)
		binary.BigEndian.PutUint32(out[k+8:], h)
		binary.BigEndian.PutUint32(out[k+4+13:], crc32.ChecksumIEEE(out[k:k+4+13]))
		n++
		i = k + 4
	}
	if n == 0 {
		t.Fatal("no IHDR")
	}
	return out
}

// withSTTSEntries returns a copy of an MP4 whose first stts box declares n entries.
func withSTTSEntries(t testing.TB, mp4 []byte, n uint32) []byte {
	t.Helper()
	i := bytes.Index(mp4, []byte("stts"))
	if i < 0 {
		t.Fatal("no stts")
	}
	out := slices.Clone(mp4)
	binary.BigEndian.PutUint32(out[i+4+4:], n) // after the 4CC and version/flags
	return out
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// assertNoLeak fails if any file under dir holds secret.
func assertNoLeak(t testing.TB, dir string, secret []byte) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, secret) {
			t.Errorf("output %s holds bytes of a file outside the input", p)
		}
		return nil
	})
}

// TestHostileInputs: known attack shapes, opened with the options a worker uses for a file
// input. Each ends with its code, and FFmpeg opens nothing but the input: the canaries
// beside it stay untouched (inotify) and no output holds their bytes.
func TestHostileInputs(t *testing.T) {
	tiny := renderTiny(t)
	dir := t.TempDir()
	canaryTS := writeFile(t, filepath.Join(dir, "canary.ts"), readFile(t, tiny("tiny.ts")))
	canaryMP4 := writeFile(t, filepath.Join(dir, "canary.mp4"), readFile(t, tiny("tiny.mp4")))
	canaryTxt := writeFile(t, filepath.Join(dir, "canary.txt"), []byte("root:x:0:0:canary-7f3a:/root:/bin/bash\n"))
	canaries := []string{canaryTS, canaryMP4, canaryTxt}
	rec := newConnRecorder(t)
	mp4 := readFile(t, tiny("tiny.mp4"))
	fifo := filepath.Join(dir, "fifo.mp4")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	file := DefaultInputOptions(InputFile)
	withPNG := file
	withPNG.FormatWhitelist += ",png_pipe"

	for _, tc := range []struct {
		name  string
		file  string // written into dir
		data  []byte
		input string // when not a file of ours
		opts  InputOptions
		want  Code
	}{
		{name: "hls playlist to file:///etc/passwd", file: "passwd.m3u8", data: hlsPlaylist("file:///etc/passwd"), want: CodeInputInvalid},
		{name: "hls playlist to a canary", file: "canary.m3u8", data: hlsPlaylist("file://" + canaryTS), want: CodeInputInvalid},
		{name: "hls playlist to a canary saved as mp4", file: "playlist.mp4", data: hlsPlaylist("file://" + canaryTS), want: CodeInputInvalid},
		{name: "hls playlist to 169.254.169.254 (stand-in on loopback)", file: "ssrf.m3u8",
			data: hlsPlaylist("http://" + rec.addr() + "/latest/meta-data/iam/security-credentials/x.ts"), want: CodeInputInvalid},
		{name: "ffconcat listing /etc/passwd", file: "passwd.ffconcat", data: ffconcat("/etc/passwd"), want: CodeInputInvalid},
		{name: "ffconcat listing a sibling file", file: "sibling.ffconcat", data: ffconcat("canary.mp4"), want: CodeInputInvalid},
		{name: "ffconcat saved as mp4", file: "concat.mp4", data: ffconcat("canary.mp4"), want: CodeInputInvalid},
		{name: "png declaring 16000x16000", file: "huge.png", data: hugePNG(16000, 16000), want: CodeInputInvalid},
		// Were still images allowed: the probing decoder refuses the frame (max_pixels; 787 MB
		// of RSS without it) and the stream is left with no dimensions.
		{name: "png declaring 16000x16000, png allowed", file: "huge2.png", data: hugePNG(16000, 16000), opts: withPNG, want: CodeInputInvalid},
		{name: "y4m declaring 16000x16000", file: "huge.y4m", data: hugeY4M(16000, 16000), want: CodeInputTooLarge},
		{name: "mp4 declaring 16000x16000", file: "huge.mp4", data: withDeclaredSize(t, mp4, 16000, 16000), want: CodeInputTooLarge},
		// The probing decoder refuses the frame (max_pixels) instead of allocating 768 MB, and
		// the stream is left with no dimensions: invalid rather than too large.
		{name: "mov of png frames larger than its header says", file: "png-lie.mov",
			data: withPNGSize(t, readFile(t, tiny("tiny-png.mov")), 16000, 16000), want: CodeInputInvalid},
		// FuzzProbe's first finding: FFmpeg answers ENOMEM to the absurd table.
		{name: "mp4 whose stts declares 4 billion entries", file: "stts.mp4", data: withSTTSEntries(t, mp4, 0xffff0001), want: CodeInputTooLarge},
		{name: "truncated mp4", file: "truncated.mp4", data: mp4[:len(mp4)/2], want: CodeInputInvalid},
		{name: "random bytes", file: "random.mp4", data: randomBytes(256<<10, 7), want: CodeInputInvalid},
		{name: "empty file", file: "empty.mp4", data: []byte{}, want: CodeInputInvalid},
		{name: "text", file: "garbage.mp4", data: bytes.Repeat([]byte("not a video, just bytes. "), 4000), want: CodeInputInvalid},
		{name: "repeated 0xdead", file: "dead.mp4", data: bytes.Repeat([]byte{0xde, 0xad}, 5000), want: CodeInputInvalid},
		{name: "longer than MaxDuration", file: "long.mp4", data: mp4, opts: func() InputOptions { o := file; o.MaxDuration = 500 * time.Millisecond; return o }(),
			want: CodeInputTooLarge},
		{name: "larger than MaxInputBytes", file: "big.mp4", data: mp4, opts: func() InputOptions { o := file; o.MaxInputBytes = 1000; return o }(),
			want: CodeInputTooLarge},
		{name: "fifo", input: fifo, want: CodeInputInvalid},
		{name: "http url", input: "http://" + rec.addr() + "/in.mp4", want: CodeInputInvalid},
		{name: "pipe protocol", input: "pipe:0", want: CodeInputInvalid},
		{name: "concat protocol", input: "concat:" + canaryMP4 + "|" + canaryMP4, want: CodeInputInvalid},
		{name: "subfile protocol", input: "subfile,,start,0,end,0,,:" + canaryMP4, want: CodeInputInvalid},
		{name: "data uri", input: "data:video/mp4;base64,AAAA", want: CodeInputInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			input := tc.input
			if tc.file != "" {
				input = writeFile(t, filepath.Join(dir, tc.file), tc.data)
			}
			o := tc.opts
			if o == (InputOptions{}) {
				o = file
			}
			watched := slices.Clone(canaries)
			if tc.file != "" && tc.want == CodeInputTooLarge && o.MaxInputBytes < int64(len(tc.data)) {
				watched = append(watched, input) // refused before FFmpeg opens it
			}
			audit := newOpenAudit(t, watched...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out := t.TempDir()
			t0 := time.Now()
			_, err := Run(ctx, Options{Input: input, OutputDir: out, Ladder: twoRungs, InputOptions: o})
			took := time.Since(t0)
			if got := CodeOf(err); got != tc.want {
				t.Fatalf("got %v (code %q), want code %s", err, got, tc.want)
			}
			if !errors.Is(err, ErrBadInput) {
				t.Errorf("%v: not a bad-input error", err)
			}
			if touched := audit.touched(t); len(touched) > 0 {
				t.Errorf("FFmpeg opened %v", touched)
			}
			if n := rec.connections(t); n > 0 {
				t.Errorf("%d connections to the internal address", n)
			}
			assertNoLeak(t, out, []byte("canary-7f3a"))
			assertNoLeak(t, out, []byte("root:x:0:0:"))
			t.Logf("%s in %v: %v", CodeOf(err), took.Round(time.Millisecond), err)
		})
	}
}

// TestHostileInputControls runs attack shapes with looser options and shows that the
// instruments of TestHostileInputs see what they are meant to see: with FFmpeg's defaults an
// ffconcat file reads its sibling and an HLS playlist reads the file it names; with only
// the protocol whitelist widened, a playlist reaches the internal address. The demuxer
// allow list is what stops all three.
func TestHostileInputControls(t *testing.T) {
	tiny := renderTiny(t)
	dir := t.TempDir()
	canaryTS := writeFile(t, filepath.Join(dir, "canary.ts"), readFile(t, tiny("tiny.ts")))
	canaryMP4 := writeFile(t, filepath.Join(dir, "canary.mp4"), readFile(t, tiny("tiny.mp4")))
	rec := newConnRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("ffconcat reads its sibling with FFmpeg's defaults", func(t *testing.T) {
		in := writeFile(t, filepath.Join(dir, "sibling.ffconcat"), ffconcat("canary.mp4"))
		audit := newOpenAudit(t, canaryMP4)
		info, err := Probe(ctx, in, InputOptions{})
		t.Logf("probe: %+v, %v", info, err)
		if touched := audit.touched(t); !slices.Contains(touched, canaryMP4) {
			t.Errorf("the canary was not opened (%v): the audit would miss a read", touched)
		}
	})
	t.Run("hls reads the file it names with FFmpeg's defaults", func(t *testing.T) {
		in := writeFile(t, filepath.Join(dir, "canary.m3u8"), hlsPlaylist("file://"+canaryTS))
		audit := newOpenAudit(t, canaryTS)
		info, err := Probe(ctx, in, InputOptions{})
		t.Logf("probe: %+v, %v", info, err)
		if touched := audit.touched(t); !slices.Contains(touched, canaryTS) {
			t.Errorf("the canary was not opened (%v): the audit would miss a read", touched)
		}
	})
	t.Run("hls reaches an internal address when http is allowed", func(t *testing.T) {
		in := writeFile(t, filepath.Join(dir, "ssrf.m3u8"), hlsPlaylist("http://"+rec.addr()+"/latest/meta-data/x.ts"))
		_, err := Probe(ctx, in, InputOptions{ProtocolWhitelist: "file,http,tcp"})
		t.Logf("probe: %v", err)
		if n := rec.connections(t); n == 0 {
			t.Error("no connection recorded: the recorder would miss one")
		}
	})
}

// TestFileInputOptionsAcceptMedia: the allow lists let ordinary inputs through, including
// the /dev/fd/N path the worker passes (FFmpeg opens it with its file protocol).
func TestFileInputOptionsAcceptMedia(t *testing.T) {
	tiny := renderTiny(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := DefaultInputOptions(InputFile)
	for _, s := range tinySpecs {
		t.Run(s.name, func(t *testing.T) {
			info, err := Probe(ctx, tiny(s.name), o)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != 96 || info.Height != 54 {
				t.Errorf("%dx%d, want 96x54", info.Width, info.Height)
			}
		})
	}
	t.Run("/dev/fd/N", func(t *testing.T) {
		f, err := os.Open(tiny("tiny.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		info, err := Probe(ctx, fmt.Sprintf("/dev/fd/%d", f.Fd()), o)
		if err != nil {
			t.Fatal(err)
		}
		if info.Container != "mov,mp4,m4a,3gp,3g2,mj2" {
			t.Errorf("container %q", info.Container)
		}
	})
}

// TestDefaultInputOptions: every kind validates; an unknown kind refuses every protocol.
func TestDefaultInputOptions(t *testing.T) {
	tiny := renderTiny(t)
	for _, k := range []InputKind{InputFile, InputHTTPS, InputSRT, InputRTMP, InputUDP, "gopher"} {
		if err := DefaultInputOptions(k).Validate(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	_, err := Probe(context.Background(), tiny("tiny.mp4"), DefaultInputOptions("gopher"))
	if CodeOf(err) != CodeInputInvalid {
		t.Errorf("unknown kind: %v, want input_invalid", err)
	}
	for _, tc := range []struct {
		name string
		o    InputOptions
	}{
		{"probe size over the bound", InputOptions{ProbeSize: MaxProbeSize + 1}},
		{"probe size under FFmpeg's minimum", InputOptions{ProbeSize: 31}},
		{"analyze duration over the bound", InputOptions{AnalyzeDuration: 2 * MaxAnalyzeDuration}},
		{"negative max duration", InputOptions{MaxDuration: -1}},
		{"negative max input bytes", InputOptions{MaxInputBytes: -1}},
		{"CA file without verification", InputOptions{TLSCAFile: "/etc/ssl/certs/ca-certificates.crt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Validate() == nil {
				t.Fatal("valid")
			}
			if _, err := Probe(context.Background(), tiny("tiny.mp4"), tc.o); CodeOf(err) != CodeInternal {
				t.Fatalf("probe: %v, want internal", err)
			}
		})
	}
}

// TestFormatContextC: the AVFormatContext address formatContextC reads is the one go-astiav
// itself prints.
func TestFormatContextC(t *testing.T) {
	fc := astiav.AllocFormatContext()
	if fc == nil {
		t.Fatal("allocate format context")
	}
	defer fc.Free()
	want := fc.Class().String() // "AVFormatContext [...] @ 0x..."
	_, addr, ok := strings.Cut(want, " @ ")
	if got := fmt.Sprintf("%p", unsafe.Pointer(formatContextC(fc))); !ok || got != addr {
		t.Fatalf("formatContextC = %s, go-astiav says %q", got, want)
	}
}

func TestInputProtocol(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"/dev/fd/3", "file"},
		{"in.mp4", "file"},
		{"./a:b.mp4", "file"},
		{"file:/x.mp4", "file"},
		{"file:///x.mp4", "file"},
		{"https://h/x.mp4", "https"},
		{"crypto+file:/x", "crypto+file"},
		{"subfile,,start,0,end,0,,:/x", "subfile"},
		{"subfile,x", "file"},
		{"pipe:0", "pipe"},
		{"srt://h:1", "srt"},
	} {
		if got := inputProtocol(tc.url); got != tc.want {
			t.Errorf("inputProtocol(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
	for _, tc := range []struct {
		proto, list string
		want        bool
	}{
		{"file", "file", true}, {"file", "https,tls,tcp", false}, {"tcp", "https,tls,tcp", true},
		{"crypto+file", "crypto", true}, {"crypto+file", "file", false}, {"fil", "file", false}, {"FILE", "file", false},
	} {
		if got := protocolAllowed(tc.proto, tc.list); got != tc.want {
			t.Errorf("protocolAllowed(%q, %q) = %v", tc.proto, tc.list, got)
		}
	}
}

// tlsServer serves mp4 at /in.mp4 and redirects /redirect to target, over HTTPS
// on loopback. It returns its URL and its certificate as a PEM file.
func tlsServer(t *testing.T, mp4 []byte, target string) (string, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/in.mp4":
			http.ServeContent(w, r, "in.mp4", time.Time{}, bytes.NewReader(mp4))
		case "/redirect":
			http.Redirect(w, r, target, http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return srv.URL, ca
}

// TestHTTPSInputOptions: https, tls and tcp are all an HTTPS input needs; the certificate is
// verified; a redirect to plain http is refused before any connection; a server that stalls
// is interrupted at the deadline.
func TestHTTPSInputOptions(t *testing.T) {
	rec := newConnRecorder(t)
	tiny := renderTiny(t)
	url, ca := tlsServer(t, readFile(t, tiny("tiny.mp4")), "http://"+rec.addr()+"/latest/meta-data/")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := DefaultInputOptions(InputHTTPS)
	trusted := o
	trusted.TLSCAFile = ca

	t.Run("trusted", func(t *testing.T) {
		info, err := Probe(ctx, url+"/in.mp4", trusted)
		if err != nil {
			t.Fatal(err)
		}
		if info.Width != 96 {
			t.Errorf("width %d", info.Width)
		}
	})
	t.Run("FFmpeg's default trusts any certificate", func(t *testing.T) {
		if _, err := Probe(ctx, url+"/in.mp4", InputOptions{ProtocolWhitelist: o.ProtocolWhitelist}); err != nil {
			t.Fatalf("%v: FFmpeg now verifies by default; TLSVerify could default to true", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, err := Probe(ctx, url+"/in.mp4", o)
		if CodeOf(err) != CodeInputUnreadable {
			t.Fatalf("got %v, want input_unreadable", err)
		}
	})
	t.Run("redirect to http", func(t *testing.T) {
		_, err := Probe(ctx, url+"/redirect", trusted)
		if CodeOf(err) != CodeInputInvalid {
			t.Fatalf("got %v, want input_invalid", err)
		}
		if n := rec.connections(t); n > 0 {
			t.Fatalf("%d connections to the redirect target", n)
		}
	})
	t.Run("stalled server interrupted at the deadline", func(t *testing.T) {
		// Accepts and never answers the TLS handshake.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		defer func() {
			l.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		t0 := time.Now()
		_, err = Probe(ctx, "https://"+l.Addr().String()+"/in.mp4", o)
		took := time.Since(t0)
		if CodeOf(err) != CodeTimeout {
			t.Fatalf("got %v, want timeout", err)
		}
		if took > 5*time.Second {
			t.Fatalf("returned after %v, deadline 1 s", took)
		}
		t.Logf("returned %v after a 1 s deadline", took.Round(time.Millisecond))
	})
}

// TestLiveInputOptions: each live kind's protocols are enough to reach its feed (the open
// blocks waiting for it until the deadline), and refuse the other kinds' URLs.
func TestLiveInputOptions(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // an RTMP server that never answers
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // read only once the accept loop has ended
		}
	}()
	defer func() {
		silent.Close()
		<-acceptDone
		for _, c := range held {
			c.Close()
		}
	}()
	udpPort := freeUDPPort(t)
	srtPort := freeUDPPort(t)
	urls := map[InputKind]string{
		InputSRT:  fmt.Sprintf("srt://127.0.0.1:%d?mode=listener", srtPort),
		InputRTMP: "rtmp://" + silent.Addr().String() + "/live/feed",
		InputUDP:  fmt.Sprintf("udp://127.0.0.1:%d", udpPort),
	}
	for _, k := range []InputKind{InputSRT, InputRTMP, InputUDP} {
		t.Run(string(k), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			t0 := time.Now()
			_, err := Probe(ctx, urls[k], DefaultInputOptions(k))
			if CodeOf(err) != CodeTimeout {
				t.Fatalf("got %v, want timeout (blocked on the feed)", err)
			}
			if took := time.Since(t0); took > 5*time.Second {
				t.Fatalf("returned after %v, deadline 1 s", took)
			}
			for other, u := range urls {
				if other == k {
					continue
				}
				if _, err := Probe(ctx, u, DefaultInputOptions(k)); CodeOf(err) != CodeInputInvalid {
					t.Errorf("%s options on %s: %v, want input_invalid", k, u, err)
				}
			}
		})
	}
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// The probe child: FuzzProbe runs Probe in a separate process, so that a crash, a hang or an
// exhausted address space in FFmpeg is a finding reported by the fuzz target, not the end of
// the fuzz worker.
const (
	probeChildEnv = "ABRFLEET_PROBE_CHILD" // set: this test binary is a probe child
	// probeChildSelfTestEnv makes the child crash on an input named crash-me and hang on
	// one named hang-me.
	probeChildSelfTestEnv = "ABRFLEET_PROBE_CHILD_SELFTEST"
	probeChildMem         = 2 << 30          // the child's RLIMIT_AS, as the worker limits its children
	probeChildRSS         = 512 << 20        // peak resident memory over this is a finding
	probeChildLimit       = 20 * time.Second // per input, hang detection included
	probeChildReuse       = 500              // inputs per child before a fresh one
)

// probeReply is the child's answer for one input.
type probeReply struct {
	Code   Code   `json:"code"` // "" when Probe succeeded
	Err    string `json:"err,omitempty"`
	ENOMEM bool   `json:"enomem,omitempty"`
	// MaxRSS is the child's peak resident memory so far, in bytes.
	MaxRSS int64 `json:"max_rss"`
}

// TestProbeChild is the child's main loop: a path per line on stdin, a probeReply per line on
// fd 3. It is skipped unless the test binary was started as a probe child.
func TestProbeChild(t *testing.T) {
	if os.Getenv(probeChildEnv) == "" {
		t.Skip("runs only as FuzzProbe's child process")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: probeChildMem, Max: probeChildMem}); err != nil {
		t.Fatal(err)
	}
	out := os.NewFile(3, "replies")
	enc := json.NewEncoder(out)
	in := bufio.NewScanner(os.Stdin)
	o := DefaultInputOptions(InputFile)
	selfTest := os.Getenv(probeChildSelfTestEnv) != ""
	for in.Scan() {
		if selfTest { // TestProbeChildFaults: stand-ins for an FFmpeg crash and hang
			switch filepath.Base(in.Text()) {
			case "crash-me":
				syscall.Kill(os.Getpid(), syscall.SIGSEGV)
			case "hang-me":
				select {}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeChildLimit/2)
		_, err := Probe(ctx, in.Text(), o)
		cancel()
		r := probeReply{Code: CodeOf(err)}
		if err != nil {
			r.Err = err.Error()
			r.ENOMEM = errors.Is(err, errENOMEM)
		}
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
			r.MaxRSS = ru.Maxrss << 10 // KiB on Linux
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
}

// probeChild is one running child and the pipes to it.
type probeChild struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies *bufio.Reader
	stderr  *lockedWriter // this input's part of the child's stderr
	exited  chan struct{}
	used    int
	limit   time.Duration // per input
}

func startProbeChild(env ...string) (*probeChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pw.Close()
	cmd := exec.Command(exe, "-test.run=^TestProbeChild$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(append(childEnviron(), probeChildEnv+"=1"), env...)
	cmd.ExtraFiles = []*os.File{pw}
	c := &probeChild{cmd: cmd, replies: bufio.NewReader(pr), stderr: &lockedWriter{}, exited: make(chan struct{}), limit: probeChildLimit}
	cmd.Stderr = c.stderr
	cmd.Stdout = io.Discard
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		pr.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return nil, err
	}
	go func() { cmd.Wait(); pr.Close(); close(c.exited) }()
	return c, nil
}

// probe sends one path and waits for the reply, at most probeChildLimit. A child that dies
// or hangs is an error naming what happened; the caller starts a fresh one.
func (c *probeChild) probe(path string) (probeReply, error) {
	c.used++
	c.stderr.reset()
	type res struct {
		line []byte
		err  error
	}
	got := make(chan res, 1)
	go func() {
		line, err := c.replies.ReadBytes('\n')
		got <- res{line, err}
	}()
	if _, err := io.WriteString(c.stdin, path+"\n"); err != nil {
		c.kill()
		<-got
		return probeReply{}, fmt.Errorf("probe child gone before the input: %w", err)
	}
	select {
	case r := <-got:
		if r.err != nil {
			<-c.exited
			return probeReply{}, fmt.Errorf("probe child died: %v\n%s", c.cmd.ProcessState, c.stderr.excerpt())
		}
		var rep probeReply
		if err := json.Unmarshal(r.line, &rep); err != nil {
			return rep, fmt.Errorf("probe child reply %q: %w", r.line, err)
		}
		return rep, nil
	case <-time.After(c.limit):
		c.kill()
		<-got
		return probeReply{}, fmt.Errorf("probe hung for %v\n%s", c.limit, c.stderr.excerpt())
	}
}

func (c *probeChild) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

func (c *probeChild) close() {
	c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.kill()
	}
}

// lockedWriter keeps what the child writes to stderr, up to 1 MiB.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p[:min(len(p), 1<<20-l.b.Len())])
	}
	return len(p), nil
}

func (l *lockedWriter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// excerpt is the start and the end of what was written: a Go crash report starts with the
// signal and the faulting goroutine.
func (l *lockedWriter) excerpt() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) <= 6000 {
		return s
	}
	return s[:4000] + "\n[...]\n" + s[len(s)-2000:]
}

// TestProbeChildFaults: a probe child that crashes or hangs is reported as such, and a fresh
// child carries on, which is what lets FuzzProbe report FFmpeg's crashes as findings.
func TestProbeChildFaults(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeFile(t, good, []byte("not media"))
	for _, tc := range []struct{ input, want string }{
		// Go's runtime turns SIGSEGV, in Go or in C, into a fatal error and exit status 2.
		{"crash-me", "SIGSEGV"},
		{"hang-me", "probe hung for 1s"},
	} {
		t.Run(tc.input, func(t *testing.T) {
			c, err := startProbeChild(probeChildSelfTestEnv + "=1")
			if err != nil {
				t.Fatal(err)
			}
			c.limit = time.Second
			if rep, err := c.probe(good); err != nil || rep.Code != CodeInputInvalid {
				t.Fatalf("before: %+v, %v", rep, err)
			}
			_, err = c.probe(filepath.Join(dir, tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			c, err = startProbeChild()
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if rep, err := c.probe(good); err != nil || rep.Code != CodeInputInvalid {
				t.Fatalf("fresh child: %+v, %v", rep, err)
			}
		})
	}
}

// hostileSeeds are the attack shapes of TestHostileInputs that need no temp paths.
func hostileSeeds() [][]byte {
	return [][]byte{
		hlsPlaylist("file:///etc/passwd"),
		hlsPlaylist("http://127.0.0.1:9/latest/meta-data/"),
		ffconcat("/etc/passwd"),
		hugePNG(16000, 16000),
		hugeY4M(16000, 16000),
		{},
	}
}

// FuzzProbe runs Probe, with the options a worker uses for a file input, on mutated media in
// a child process (2 GiB address space, as the worker limits its children). Every input must
// end, within probeChildLimit, in success or a bad-input or input_unreadable code, with the
// child's peak RSS under 512 MiB; a crash, a hang, an unclassified ENOMEM, any other code or
// more memory is a finding, reported by this target while the fuzzer goes on running. The
// seed corpus (testdata/fuzz/FuzzProbe) holds tinySpecs rendered by Render (go test -run
// FuzzProbe -update rewrites those) and the findings of earlier runs.
//
// The child answers many inputs (probeChildReuse) to keep the rate up, so a crash caused by
// state an earlier input left would be blamed on a later one; go test -run FuzzProbe/<name>
// re-runs a finding in a fresh child. Coverage guides only the Go side: FFmpeg is not
// instrumented, so mutation is close to blind there.
func FuzzProbe(f *testing.F) {
	if *update {
		writeProbeCorpus(f)
	}
	for _, s := range hostileSeeds() {
		f.Add(s)
	}
	var (
		mu    sync.Mutex
		child *probeChild
	)
	f.Cleanup(func() {
		if child != nil {
			child.close()
		}
	})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		p := filepath.Join(dir, "input")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if child != nil && child.used >= probeChildReuse {
			child.close()
			child = nil
		}
		if child == nil {
			var err error
			if child, err = startProbeChild(); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := child.probe(p)
		if err != nil {
			child = nil
			t.Fatal(err)
		}
		if rep.MaxRSS > probeChildRSS {
			// Peak RSS only grows: the next input gets a fresh child.
			child.close()
			child = nil
			t.Fatalf("probe peaked at %d MiB resident (limit %d MiB); %s %s", rep.MaxRSS>>20, probeChildRSS>>20, rep.Code, rep.Err)
		}
		switch {
		case rep.ENOMEM && rep.Code != CodeInputTooLarge:
			t.Fatalf("out of memory not classified as input_too_large: %s", rep.Err)
		case rep.Code == "", rep.Code.BadInput(), rep.Code == CodeInputUnreadable:
		default:
			t.Fatalf("code %s: %s", rep.Code, rep.Err)
		}
	})
}

// writeProbeCorpus renders tinySpecs into testdata/fuzz/FuzzProbe in the fuzz corpus format.
func writeProbeCorpus(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProbe")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	tiny := renderTiny(f)
	for _, s := range tinySpecs {
		data := readFile(f, tiny(s.name))
		if len(data) > 50<<10 {
			f.Fatalf("%s is %d bytes: seeds should stay under 50 KB", s.name, len(data))
		}
		name := "seed-" + strings.NewReplacer(".", "-").Replace(s.name)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
		f.Logf("wrote %s (%d bytes of media)", name, len(data))
	}
}

// childEnviron is this process's environment without what `make leakcheck` adds: a probe
// child runs under an address-space limit that LeakSanitizer's allocator cannot live with,
// and its leaks are not what the fuzzer looks for.
func childEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LD_PRELOAD=") && !strings.HasPrefix(kv, "ABRFLEET_LSAN=") {
			env = append(env, kv)
		}
	}
	return env
}
