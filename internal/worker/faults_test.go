package worker_test

// Fault tests: S3 answering 500 InternalError / 503 SlowDown, slow or not
// answering at all (a fault-injecting proxy in front of the tests' gofakes3),
// and the work directory's disk running full (a small tmpfs). Each prints
// what became of its jobs: completed, lost (archived, gone, or not finished
// in time), duplicated (its master playlist written, or the job run to its
// end, more than once), retries, failed attempts by code, and the time from
// the first submit to the last completion. ABRFLEET_SOAK=1 runs the larger
// variants (TestS3FaultsSoak, TestDiskFullSoak).

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/internal/worker"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/transcode"
)

// faultSoak says whether the large variants run (make test-soak).
func faultSoak() bool { return os.Getenv("ABRFLEET_SOAK") == "1" }

// ---------------------------------------------------------------------------
// The fault-injecting S3 proxy.

// faultRule says what the proxy does to the requests it matches.
type faultRule struct {
	match func(*http.Request) bool // the requests the rule applies to; nil: all
	// fraction of matching requests answered with an error instead (1: all).
	fraction float64
	// failFirst: matching requests fail on their first attempt, whatever
	// the fraction.
	failFirst func(*http.Request) bool
	// maxStreak: one request (same method, object, part and range) fails
	// at most this many times in a row; 0: no limit.
	maxStreak int
	// status is 500 (InternalError) or 503 (SlowDown); 0 picks either at
	// random.
	status int
	// afterCommit forwards the request to the store first and answers the
	// error anyway: the write happened, its answer was lost.
	afterCommit bool
	// latencyMin..latencyMax is added before each matching request.
	latencyMin, latencyMax time.Duration
	// hang holds matching requests, unanswered, until the client gives up
	// or the rule changes.
	hang bool
}

func (r faultRule) applies(req *http.Request) bool { return r.match == nil || r.match(req) }

// faultStats counts what the proxy did.
type faultStats struct {
	requests  int // every request that reached the proxy
	failed    int // answered with an injected 500/503
	committed int // of those, forwarded to the store first
	hung      int // held until the client gave up or the rule changed
	delayed   int // given added latency
	parts     int // multipart uploads' part PUTs
	ranged    int // GETs of a byte range
	multi     int // multipart uploads' other requests (create, complete)
	failedMP  int // injected failures of part PUTs, creates and completes
	failedRng int // injected failures of ranged GETs
	latency   time.Duration
	upstream  map[int]int // statuses of the store's answers, by code
}

// faultProxy is an S3 endpoint in front of the test's fakeS3 that injects
// faults. Whether the n-th request of a given key fails is a function of
// the seed, the key and n, so a run's faults do not depend on the timing
// of concurrent requests (ABRFLEET_FAULT_SEED picks another seed).
type faultProxy struct {
	url   string
	seed  uint64
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	rule    faultRule
	changed chan struct{} // closed when the rule changes: wakes held requests
	seen    map[string]int
	streak  map[string]int
	st      faultStats
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(1)
	if s := os.Getenv("ABRFLEET_FAULT_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("ABRFLEET_FAULT_SEED: %v", err)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	f := &faultProxy{seed: seed, changed: make(chan struct{}), seen: map[string]int{}, streak: map[string]int{},
		st: faultStats{upstream: map[int]int{}}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0), // clients that give up are expected here
	}
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		f.set(faultRule{}) // release held requests, or Close waits for them
		srv.Close()
		tr.CloseIdleConnections()
	})
	f.url = srv.URL
	return f
}

// set replaces the rule.
func (f *faultProxy) set(r faultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule = r
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *faultProxy) stats() faultStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.upstream = maps.Clone(f.st.upstream)
	return st
}

func (st faultStats) String() string {
	s := fmt.Sprintf("%d requests (%d ranged GETs, %d part PUTs, %d multipart creates and completes), %d answered with an injected 500/503 (%d ranged GETs, %d multipart requests)",
		st.requests, st.ranged, st.parts, st.multi, st.failed, st.failedRng, st.failedMP)
	if st.committed > 0 {
		s += fmt.Sprintf(" (%d of them after the store took the write)", st.committed)
	}
	if st.delayed > 0 {
		s += fmt.Sprintf(", %d delayed (mean %v)", st.delayed, (st.latency / time.Duration(st.delayed)).Round(time.Millisecond))
	}
	if st.hung > 0 {
		s += fmt.Sprintf(", %d held unanswered", st.hung)
	}
	codes := make([]int, 0, len(st.upstream))
	for c := range st.upstream {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d x%d", c, st.upstream[c]))
	}
	return s + "; the store answered " + strings.Join(parts, ", ")
}

// faultKey names a request for the fault schedule: a retry of the same
// request has the same key.
func faultKey(r *http.Request) string {
	k := r.Method + " " + r.URL.Path
	q := r.URL.Query()
	for _, p := range []string{"uploads", "uploadId", "partNumber"} {
		if q.Has(p) {
			k += " " + p + "=" + q.Get(p)
		}
	}
	if rg := r.Header.Get("Range"); rg != "" {
		k += " " + rg
	}
	return k
}

// unit is a number in [0, 1) drawn from the seed, key, occurrence and
// salt. (FNV-1a is not good enough here: the draws for occurrences 0, 1
// and 2 of a key come out correlated, and three failures in a row never
// happen at 30%.)
func (f *faultProxy) unit(key string, n, salt int) float64 {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], f.seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	binary.LittleEndian.PutUint64(b[16:], uint64(salt))
	h := sha256.New()
	h.Write(b[:])
	h.Write([]byte(key))
	return float64(binary.LittleEndian.Uint64(h.Sum(nil))>>11) / (1 << 53)
}

type faultAction struct {
	delay       time.Duration
	status      int // 0: forward
	afterCommit bool
}

func (f *faultProxy) decide(r *http.Request) faultAction {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.requests++
	isPart, isMulti, isRanged := isPartPut(r), isMultipartPost(r), isRangedGet(r)
	switch {
	case isPart:
		f.st.parts++
	case isMulti:
		f.st.multi++
	case isRanged:
		f.st.ranged++
	}
	rule := f.rule
	if !rule.applies(r) {
		return faultAction{}
	}
	key := faultKey(r)
	n := f.seen[key]
	f.seen[key]++
	var a faultAction
	if rule.latencyMax > 0 {
		a.delay = rule.latencyMin + time.Duration(f.unit(key, n, 1)*float64(rule.latencyMax-rule.latencyMin))
		f.st.delayed++
		f.st.latency += a.delay
	}
	fail := rule.fraction > 0 && f.unit(key, n, 0) < rule.fraction || n == 0 && rule.failFirst != nil && rule.failFirst(r)
	if fail && (rule.maxStreak == 0 || f.streak[key] < rule.maxStreak) {
		f.streak[key]++
		a.status, a.afterCommit = rule.status, rule.afterCommit
		if a.status == 0 {
			a.status = http.StatusInternalServerError
			if f.unit(key, n, 2) < 0.5 {
				a.status = http.StatusServiceUnavailable
			}
		}
		f.st.failed++
		switch {
		case isPart || isMulti:
			f.st.failedMP++
		case isRanged:
			f.st.failedRng++
		}
		if a.afterCommit {
			f.st.committed++
		}
	} else {
		f.streak[key] = 0
	}
	return a
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for counted := false; ; {
		f.mu.Lock()
		rule, changed := f.rule, f.changed
		if rule.hang && rule.applies(r) && !counted {
			f.st.hung++
			counted = true
		}
		f.mu.Unlock()
		if !rule.hang || !rule.applies(r) {
			break
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
	a := f.decide(r)
	if a.delay > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(a.delay):
		}
	}
	if a.status != 0 && !a.afterCommit {
		writeS3Fault(w, r, a.status)
		return
	}
	var up http.ResponseWriter = &faultStatusWriter{ResponseWriter: w, status: http.StatusOK}
	if a.afterCommit {
		up = httptest.NewRecorder()
	}
	f.proxy.ServeHTTP(up, r)
	status := http.StatusOK
	switch up := up.(type) {
	case *faultStatusWriter:
		status = up.status
	case *httptest.ResponseRecorder:
		status = up.Code
	}
	f.mu.Lock()
	f.st.upstream[status]++
	f.mu.Unlock()
	if a.afterCommit {
		writeS3Fault(w, r, a.status)
	}
}

// writeS3Fault answers as S3 does when it fails or throttles.
func writeS3Fault(w http.ResponseWriter, r *http.Request, status int) {
	code, msg := "InternalError", "We encountered an internal error. Please try again."
	if status == http.StatusServiceUnavailable {
		code, msg = "SlowDown", "Please reduce your request rate."
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "FAULTINJECTED")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>%s</Code><Message>%s</Message><RequestId>FAULTINJECTED</RequestId></Error>`, code, msg)
	}
}

type faultStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *faultStatusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *faultStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Request matchers.
func bucketReq(bucket string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.URL.Path == "/"+bucket || strings.HasPrefix(r.URL.Path, "/"+bucket+"/")
	}
}

func isPartPut(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}

func isMultipartPost(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPost && (q.Has("uploads") || q.Has("uploadId"))
}

func isRangedGet(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Range") != ""
}

func masterPutReq(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/"+outBucket+"/") && strings.HasSuffix(r.URL.Path, "/master.m3u8")
}

// ---------------------------------------------------------------------------
// Jobs and their figures.

// faultRun is a set of jobs submitted by a fault test and the workers
// serving them.
type faultRun struct {
	e     *env
	ws    []*proc
	ids   []string
	start time.Time // the first submit
	s3out bool      // outputs under s3://abr-out/<id>: master.m3u8 writes are counted and check applies
	// check checks a completed job's published tree; default checkPublished.
	check func(id string, r *queue.Result)
	// exhaustedOK are the codes with which a job may end archived after
	// all its retries without failing the test: runs whose faults can
	// outlast the retries by chance. Such jobs are counted lost.
	exhaustedOK []queue.Code
}

func (e *env) faultRun(ws ...*proc) *faultRun { return &faultRun{e: e, ws: ws, s3out: true} }

// submit enqueues a batch job of twoRungs from s3://abr-in/<key> to
// s3://abr-out/<id>, as env.submit, with the payload's timeout.
func (r *faultRun) submit(id, key string, timeout time.Duration) {
	r.e.t.Helper()
	r.submitPayload(&queue.Payload{Version: queue.Version, JobID: id, Mode: ladder.Batch, Input: "s3://" + inBucket + "/" + key,
		Output: "s3://" + outBucket + "/" + id, Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs},
		Timeout: queue.Duration{Duration: timeout}})
}

func (r *faultRun) submitPayload(p *queue.Payload) {
	r.e.t.Helper()
	if r.start.IsZero() {
		r.start = time.Now()
	}
	if _, err := r.e.client.Submit(context.Background(), p, queue.Limits{}); err != nil {
		r.e.t.Fatalf("submit %s: %v", p.JobID, err)
	}
	r.ids = append(r.ids, p.JobID)
}

// outageMsg is the worker's log message for a failed attempt retried
// without counting against MaxRetry (outage.go).
const outageMsg = "job failed, storage unavailable: will retry without counting it"

// faultLine is a line of a worker's JSON log.
type faultLine struct {
	Time      time.Time  `json:"time"`
	Msg       string     `json:"msg"`
	Component string     `json:"component"`
	TaskID    string     `json:"task_id"`
	Attempt   int        `json:"attempt"`
	Code      queue.Code `json:"code"`
	Err       string     `json:"err"`
}

// workerLines are the worker-component lines of p's log with message msg.
func workerLines(p *proc, msg string) []faultLine {
	var out []faultLine
	sc := bufio.NewScanner(strings.NewReader(p.log.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var l faultLine
		if bytes.HasPrefix(sc.Bytes(), []byte("{")) && json.Unmarshal(sc.Bytes(), &l) == nil && l.Component == "worker" && l.Msg == msg {
			out = append(out, l)
		}
	}
	return out
}

// attempts reads the workers' logs: per task, the codes of its failed
// attempts and its "job done" lines.
func (r *faultRun) attempts() (failed map[string][]queue.Code, done map[string][]faultLine) {
	failed, done = map[string][]queue.Code{}, map[string][]faultLine{}
	for _, p := range r.ws {
		sc := bufio.NewScanner(strings.NewReader(p.log.String()))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var l faultLine
			if !bytes.HasPrefix(sc.Bytes(), []byte("{")) || json.Unmarshal(sc.Bytes(), &l) != nil || l.Component != "worker" {
				continue
			}
			switch l.Msg {
			case "job failed, will retry", "job failed, not retrying", outageMsg:
				failed[l.TaskID] = append(failed[l.TaskID], l.Code)
			case "transcode child crashed": // logged without its code
				failed[l.TaskID] = append(failed[l.TaskID], queue.CodeTranscoderCrashed)
			case "job done":
				done[l.TaskID] = append(done[l.TaskID], l)
			}
		}
	}
	return failed, done
}

// waitEachFailed waits until every job of ids has had an attempt fail
// (asynq counted a retry, or the job waits for one with a failure code in
// its result) and fails the test if one is archived or completes first.
func (r *faultRun) waitEachFailed(ids []string, d time.Duration) {
	r.e.t.Helper()
	waitFor(r.e.t, d, "an attempt of every job to fail", func() (bool, error) {
		for _, id := range ids {
			s, err := r.e.client.Status(id, "")
			switch {
			case err != nil:
				return false, nil
			case s.Info.State == asynq.TaskStateArchived:
				return false, fmt.Errorf("%s archived: %q", id, s.Info.LastErr)
			case s.Info.State == asynq.TaskStateCompleted:
				return false, fmt.Errorf("%s completed before any attempt failed", id)
			case s.Info.Retried == 0 && (s.Result == nil || s.Result.Code == ""):
				return false, nil
			}
		}
		return true, nil
	})
}

// faultFigures is what became of a run's jobs.
type faultFigures struct {
	jobs, completed, lost, duplicated int
	exhausted                         int                // of the lost: archived after every retry, with a code of exhaustedOK
	retries                           int                // asynq retries, over all jobs
	attempts                          int                // attempts (the final results' Attempt), over all jobs
	maxRetried                        int                // the most retries of one job
	failed                            map[queue.Code]int // failed attempts by code (workers' logs)
	wall                              time.Duration      // first submit to last completion seen
}

func (f faultFigures) String() string {
	codes := make([]string, 0, len(f.failed))
	for c, n := range f.failed {
		codes = append(codes, fmt.Sprintf("%s x%d", c, n))
	}
	sort.Strings(codes)
	lost := strconv.Itoa(f.lost)
	if f.exhausted > 0 {
		lost += fmt.Sprintf(" (%d of them after exhausting their retries)", f.exhausted)
	}
	return fmt.Sprintf("%d jobs: %d completed, %s lost, %d duplicated; %d attempts, %d retries counted (at most %d for one job), failed attempts [%s]; first submit to last completion %v",
		f.jobs, f.completed, lost, f.duplicated, f.attempts, f.retries, f.maxRetried, strings.Join(codes, ", "), f.wall.Round(10*time.Millisecond))
}

// finish waits (at most d) for every job to be completed or archived and
// counts them. A job is completed when asynq says so and, for S3 outputs,
// checkPublished accepts its tree; lost when it is archived, gone or not
// done within d; duplicated when its master.m3u8 was stored more than once
// or two attempts ran to "job done".
func (r *faultRun) finish(d time.Duration) faultFigures {
	e := r.e
	e.t.Helper()
	st := map[string]*worker.Status{}
	doneAt := map[string]time.Time{}
	deadline := time.Now().Add(d)
	for len(doneAt) < len(r.ids) && time.Now().Before(deadline) {
		for _, id := range r.ids {
			if _, ok := doneAt[id]; ok {
				continue
			}
			if s, err := e.client.Status(id, ""); err == nil {
				st[id] = s
				if s.Done() {
					doneAt[id] = time.Now()
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The "job done" line reaches the test through a pipe, after asynq
	// has the completion.
	var (
		failed map[string][]queue.Code
		done   map[string][]faultLine
	)
	for wait := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		failed, done = r.attempts()
		missing := false
		for _, id := range r.ids {
			if s := st[id]; s != nil && s.Info.State == asynq.TaskStateCompleted && len(done[id]) == 0 {
				missing = true
			}
		}
		if !missing || time.Now().After(wait) {
			break
		}
	}
	fig := faultFigures{jobs: len(r.ids), failed: map[queue.Code]int{}}
	for _, id := range r.ids {
		for _, c := range failed[id] {
			fig.failed[c]++
		}
		s := st[id]
		if s == nil {
			fig.lost++
			e.t.Errorf("%s: task not found", id)
			continue
		}
		fig.retries += s.Info.Retried
		fig.maxRetried = max(fig.maxRetried, s.Info.Retried)
		if s.Result != nil {
			fig.attempts += s.Result.Attempt
		}
		if s.Info.State != asynq.TaskStateCompleted {
			fig.lost++
			if s.Info.State == asynq.TaskStateArchived && s.Info.Retried == queue.MaxRetry && s.Result != nil &&
				slices.Contains(r.exhaustedOK, s.Result.Code) {
				fig.exhausted++
				e.t.Logf("%s: archived after %d retries, last error %q (retries exhausted)", id, s.Info.Retried, s.Info.LastErr)
			} else {
				e.t.Errorf("%s: %s after %d retries, last error %q", id, s.Info.State, s.Info.Retried, s.Info.LastErr)
			}
			if r.s3out {
				if n := e.s3.masterPuts(outBucket, id+"/master.m3u8"); n > 0 {
					fig.duplicated++ // published, yet failed: a retry would publish again
					e.t.Errorf("%s: not completed, but its master.m3u8 was stored %d times", id, n)
				}
			}
			continue
		}
		fig.completed++
		fig.wall = max(fig.wall, doneAt[id].Sub(r.start))
		masters := 1
		if r.s3out {
			masters = e.s3.masterPuts(outBucket, id+"/master.m3u8")
			if r.check != nil {
				r.check(id, s.Result)
			} else {
				e.checkPublished(id, s.Result)
			}
		}
		if masters > 1 || len(done[id]) > 1 {
			fig.duplicated++
			e.t.Errorf("%s: master.m3u8 stored %d times, %d attempts ran to the end", id, masters, len(done[id]))
		}
	}
	for _, p := range r.ws {
		if !p.alive() {
			e.t.Errorf("worker %d died: %v", p.cmd.Process.Pid, p.err)
		}
	}
	return fig
}

// failedOnlyWith checks that every failed attempt had code want.
func (f faultFigures) failedOnlyWith(t *testing.T, want queue.Code) {
	t.Helper()
	for c, n := range f.failed {
		if c != want {
			t.Errorf("%d attempts failed with %s, want only %s", n, c, want)
		}
	}
	if f.failed[want] == 0 {
		t.Errorf("no attempt failed with %s", want)
	}
}

// ---------------------------------------------------------------------------
// S3 faults.

// s3FaultSizes are the numbers of jobs of each S3 fault test.
type s3FaultSizes struct {
	intermittent, outage, slow int
	big                        int           // big jobs (ranged download, multipart upload) among the intermittent
	workers, slots             int           // workers, and batch slots of each
	retryDelay                 time.Duration // the first retry's delay (doubled on each retry)
}

var (
	s3FaultsSmall = s3FaultSizes{intermittent: 8, outage: 3, slow: 4, big: 1, workers: 1, slots: 3, retryDelay: 2 * time.Second}
	// More jobs than slots fail their first attempt in turn during an
	// outage: a longer retry delay keeps the first ones from exhausting
	// their retries before the last one has failed once.
	s3FaultsSoak = s3FaultSizes{intermittent: 60, outage: 24, slow: 24, big: 4, workers: 2, slots: 3, retryDelay: 5 * time.Second}
)

// newS3FaultEnv is an env whose workers reach S3 through a faultProxy.
func newS3FaultEnv(t *testing.T, sz s3FaultSizes, extra ...string) (*env, *faultProxy, *faultRun) {
	t.Helper()
	e := newEnv(t)
	e.s3.put(inBucket, "small.mp4", smallMP4)
	e.s3.put(inBucket, "long.mp4", longMP4)
	fp := newFaultProxy(t, e.s3.url)
	delay := cmp.Or(sz.retryDelay, 2*time.Second)
	args := append([]string{"ABRFLEET_S3_ENDPOINT=" + fp.url, "ABRFLEET_BATCH_SLOTS=" + strconv.Itoa(sz.slots),
		"ABRFLEET_RETRY_DELAY=" + delay.String(), "ABRFLEET_S3_PART_SIZE_MB=5"}, extra...)
	var ws []*proc
	for range sz.workers {
		ws = append(ws, e.startWorker(args...))
	}
	t.Logf("fault seed %d (ABRFLEET_FAULT_SEED)", fp.seed)
	return e, fp, e.faultRun(ws...)
}

// bigInput is a 2 s 1080p input of about 26 MB, rendered once: its
// download takes two ranged GETs (16 MiB each), and its 720p rendition
// (an HLS segment and an MP4 of about 8.5 MB each) goes up in multipart
// uploads of 5 MiB parts.
var bigInput = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "faults-big-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "big.mp4")
	if err := transcode.Render(context.Background(), transcode.RenderOptions{Source: "synthetic:high?size=1920x1080&fps=30&frames=60",
		Output: name, Options: []ladder.Option{{Key: "preset", Value: "ultrafast"}, {Key: "crf", Value: "26"}}}); err != nil {
		return nil, err
	}
	return os.ReadFile(name)
})

var bigLadder = &ladder.Ladder{Name: "big", Rungs: []ladder.Rung{{Name: "720p", Width: 1280, Height: 720, BitrateKbps: 60000}}}

// checkBigPublished is checkPublished for the big jobs: one 720p rung,
// in HLS and as an MP4 over two part sizes.
func (e *env) checkBigPublished(id string, r *queue.Result) {
	e.t.Helper()
	keys := e.s3.keys(outBucket, id+"/")
	if len(r.Rungs) != 1 || r.Rungs[0].Name != "720p" || r.Rungs[0].Frames != 60 {
		e.t.Errorf("%s: result rungs %+v", id, r.Rungs)
	}
	for _, k := range []string{"master.m3u8", "manifest.json", "720p/index.m3u8", "720p/init.mp4"} {
		if !slices.Contains(keys, id+"/"+k) {
			e.t.Errorf("%s: %s missing from %v", id, k, keys)
		}
	}
	pl, _ := e.s3.get(outBucket, id+"/720p/index.m3u8")
	media, err := hls.ParseMediaPlaylist(pl)
	if err != nil || len(media.Segments) == 0 {
		e.t.Errorf("%s: 720p/index.m3u8: %v, %d segments", id, err, len(media.Segments))
	} else {
		for _, sg := range media.Segments {
			if b, ok := e.s3.get(outBucket, id+"/720p/"+sg.URI); !ok || len(b) == 0 {
				e.t.Errorf("%s: segment %s missing or empty", id, sg.URI)
			}
		}
	}
	mp4, ok := e.s3.get(outBucket, id+"/720p.mp4")
	if !ok || len(mp4) <= 5<<20 || string(mp4[4:8]) != "ftyp" {
		e.t.Errorf("%s: 720p.mp4: %d bytes (want an MP4 over one 5 MiB part)", id, len(mp4))
	}
}

// TestS3FaultsIntermittent: 30% of S3 requests, every kind (HEAD, ranged
// GET, PUT, the conditional PUT of master.m3u8), answer 500 InternalError
// or 503 SlowDown, none more than twice in a row. The SDK's three attempts
// absorb every one: each job completes on its first attempt and is
// published once. A job retry here would mean an S3 call the SDK does not
// retry (a body it cannot rewind, a retry quota exhausted).
func TestS3FaultsIntermittent(t *testing.T) {
	s3Intermittent(t, s3FaultsSmall.intermittent, s3FaultsSmall)
}

func s3Intermittent(t *testing.T, n int, sz s3FaultSizes) {
	e, fp, run := newS3FaultEnv(t, sz)
	// Each job its own input, so that every request is its job's own and
	// "in a row" means the SDK's attempts at one request.
	for i := range n {
		e.s3.put(inBucket, fmt.Sprintf("flaky-%03d.mp4", i), smallMP4)
	}
	// Big jobs too: their input comes down in two ranged GETs, their 720p
	// segment and MP4 go up in multipart uploads of 5 MiB parts.
	big, err := bigInput()
	if err != nil {
		t.Fatal(err)
	}
	bigRun := e.faultRun(run.ws...)
	bigRun.check = e.checkBigPublished
	for i := range sz.big {
		e.s3.put(inBucket, fmt.Sprintf("flaky-big-%d.mp4", i), big)
	}
	// Every multipart request and every ranged GET fails its first
	// attempt: retries of parts, creates, completes and ranges are certain
	// to happen, whatever the seed.
	fp.set(faultRule{fraction: 0.3, maxStreak: 2, failFirst: func(r *http.Request) bool {
		return isPartPut(r) || isMultipartPost(r) || isRangedGet(r)
	}})
	for i := range sz.big {
		id := fmt.Sprintf("flaky-big-%d", i)
		bigRun.submitPayload(&queue.Payload{Version: queue.Version, JobID: id, Mode: ladder.Batch, Input: "s3://" + inBucket + "/" + id + ".mp4",
			Output: "s3://" + outBucket + "/" + id, Codec: "x264", Preset: "ultrafast", Ladder: &queue.LadderRef{Inline: bigLadder},
			Outputs: []string{queue.OutputHLS, queue.OutputMP4}})
	}
	for i := range n {
		run.submit(fmt.Sprintf("flaky-%03d", i), fmt.Sprintf("flaky-%03d.mp4", i), 0)
	}
	fig := run.finish(time.Duration(n)*5*time.Second + time.Minute)
	bigFig := bigRun.finish(time.Minute)
	st := fp.stats()
	t.Logf("intermittent 500/503: %v", fig)
	t.Logf("big jobs: %v", bigFig)
	t.Logf("S3: %v", st)
	if fig.completed != n || fig.lost != 0 || fig.duplicated != 0 || bigFig.completed != sz.big || bigFig.lost != 0 || bigFig.duplicated != 0 {
		t.Errorf("want all %d + %d completed, none lost or duplicated", n, sz.big)
	}
	if fig.attempts != n || bigFig.attempts != sz.big {
		t.Errorf("%d + %d attempts for %d + %d jobs: the SDK should have absorbed every fault of at most 2 in a row (failed attempts %v %v)",
			fig.attempts, bigFig.attempts, n, sz.big, fig.failed, bigFig.failed)
	}
	if st.ranged < 2*sz.big+n || st.parts < 4*sz.big || st.failedMP == 0 || st.failedRng == 0 {
		t.Errorf("S3 saw %v: want the big jobs' ranged GETs and multipart uploads, some failed", st)
	}
	if st.failed < st.requests/5 {
		t.Errorf("only %d of %d requests failed: the fault rule did not apply", st.failed, st.requests)
	}
}

// TestS3FaultsOutage: S3 down entirely (every request 500 or 503) for
// longer than the SDK's retries, first for the input bucket, then for the
// output bucket, then for the master playlist's PUT alone. Each job fails
// with input_unreadable or output_write_failed, is retried with backoff
// without counting against its max retries (outage.go), shows nothing (or
// no master) while it fails, and completes once S3 is back, published
// once.
func TestS3FaultsOutage(t *testing.T) { s3Outage(t, s3FaultsSmall) }

func s3Outage(t *testing.T, sz s3FaultSizes) {
	for _, tc := range []struct {
		name    string
		rule    faultRule
		code    queue.Code
		visible func(e *env, id string) error // what may be visible while failing
	}{
		{"input bucket down", faultRule{match: bucketReq(inBucket), fraction: 1, status: http.StatusInternalServerError},
			queue.CodeInputUnreadable, nothingVisible},
		{"output bucket down", faultRule{match: bucketReq(outBucket), fraction: 1, status: http.StatusServiceUnavailable},
			queue.CodeOutputWriteFailed, nothingVisible},
		{"master PUT fails", faultRule{match: masterPutReq, fraction: 1, status: http.StatusInternalServerError},
			queue.CodeOutputWriteFailed, noMaster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, fp, run := newS3FaultEnv(t, sz)
			fp.set(tc.rule)
			var ids []string
			for i := range sz.outage {
				id := fmt.Sprintf("outage-%03d", i)
				run.submit(id, "small.mp4", 0)
				ids = append(ids, id)
			}
			down := time.Now()
			run.waitEachFailed(ids, 2*time.Minute)
			for _, id := range ids {
				if err := tc.visible(e, id); err != nil {
					t.Errorf("%s, while S3 fails: %v", id, err)
				}
			}
			fp.set(faultRule{})
			t.Logf("S3 failing for %v, until an attempt of every job had failed", time.Since(down).Round(10*time.Millisecond))
			fig := run.finish(time.Duration(sz.outage)*5*time.Second + time.Minute)
			t.Logf("%s: %v", tc.name, fig)
			t.Logf("S3: %v", fp.stats())
			if fig.completed != sz.outage || fig.lost != 0 || fig.duplicated != 0 {
				t.Errorf("want all %d completed, none lost or duplicated", sz.outage)
			}
			if fig.retries != 0 || fig.attempts < 2*sz.outage {
				t.Errorf("%d attempts, %d retries counted for %d jobs: want 2 attempts or more each, none counted", fig.attempts, fig.retries, sz.outage)
			}
			fig.failedOnlyWith(t, tc.code)
		})
	}
}

// TestS3FaultsOutageOutlastsRetries: the input bucket stays down until
// every job has failed 5 attempts, one more than MaxRetry allows (with a
// retry delay of 1 s, doubled per retry, that takes about 40 s). The
// failures do not count against max retries (outage.go): no job is
// archived, and every one completes once S3 is back, with no retry
// counted.
func TestS3FaultsOutageOutlastsRetries(t *testing.T) {
	const n = 3
	e, fp, run := newS3FaultEnv(t, s3FaultSizes{workers: 1, slots: n, retryDelay: time.Second}, "ABRFLEET_FORWARD_INTERVAL=1s")
	fp.set(faultRule{match: bucketReq(inBucket), fraction: 1, status: http.StatusInternalServerError})
	for i := range n {
		run.submit(fmt.Sprintf("long-outage-%d", i), "small.mp4", 0)
	}
	waitFor(t, 3*time.Minute, fmt.Sprintf("every job to fail %d attempts", queue.MaxRetry+2), func() (bool, error) {
		failed, _ := run.attempts()
		for _, id := range run.ids {
			if s, err := e.client.Status(id, ""); err == nil && s.Info.State == asynq.TaskStateArchived {
				return false, fmt.Errorf("%s archived during the outage: %q", id, s.Info.LastErr)
			}
			if len(failed[id]) < queue.MaxRetry+2 {
				return false, nil
			}
		}
		return true, nil
	})
	outage := time.Since(run.start)
	for _, id := range run.ids {
		s, err := e.client.Status(id, "")
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if s.Info.Retried != 0 || s.Result == nil || !strings.Contains(s.Result.Message, "not counted") {
			t.Errorf("%s after %v of outage: %s, retried %d, result %+v: want no retry counted", id, outage.Round(time.Second),
				s.Info.State, s.Info.Retried, s.Result)
		}
	}
	fp.set(faultRule{})
	back := time.Now()
	fig := run.finish(2 * time.Minute)
	t.Logf("input bucket down %v: %v; last job done %v after S3 came back", outage.Round(10*time.Millisecond), fig,
		(fig.wall - back.Sub(run.start)).Round(10*time.Millisecond))
	if fig.completed != n || fig.lost != 0 || fig.duplicated != 0 || fig.retries != 0 {
		t.Errorf("want all %d completed, none lost or duplicated, no retry counted", n)
	}
	fig.failedOnlyWith(t, queue.CodeInputUnreadable)
	body := e.metrics(run.ws[0])
	if !strings.Contains(body, `abrfleet_outage_retries_total{type="batch"}`) || strings.Contains(body, `abrfleet_outage_retries_total{type="batch"} 0`) {
		t.Errorf("abrfleet_outage_retries_total not counted:\n%s", grepLines(body, "abrfleet_outage_retries_total"))
	}
}

// TestS3FaultsOutageBudget: S3 stays down past --outage-budget (3 s here):
// from then on the failures count, and each job is archived with its code
// after MaxRetry retries instead of waiting forever.
func TestS3FaultsOutageBudget(t *testing.T) {
	const n = 2
	e, fp, run := newS3FaultEnv(t, s3FaultSizes{workers: 1, slots: n, retryDelay: time.Second}, "ABRFLEET_OUTAGE_BUDGET=3s")
	fp.set(faultRule{match: bucketReq(inBucket), fraction: 1, status: http.StatusInternalServerError})
	run.exhaustedOK = []queue.Code{queue.CodeInputUnreadable}
	for i := range n {
		run.submit(fmt.Sprintf("past-budget-%d", i), "small.mp4", 0)
	}
	fig := run.finish(2 * time.Minute)
	t.Logf("input bucket down for good, budget 3 s: %v; the last job archived %v after the first submit", fig, lastArchived(e, run))
	if fig.exhausted != n || fig.completed != 0 || fig.duplicated != 0 {
		t.Errorf("want all %d archived after exhausting their retries", n)
	}
	if fig.attempts <= n*(queue.MaxRetry+1) {
		t.Errorf("%d attempts for %d jobs: want some outage retries before the budget ran out", fig.attempts, n)
	}
	for _, id := range run.ids {
		want := fmt.Sprintf("not retrying: %d of %d retries used", queue.MaxRetry, queue.MaxRetry)
		if s, err := e.client.Status(id, ""); err != nil || s.Result == nil || !strings.Contains(s.Result.Message, want) {
			t.Errorf("%s: final result %+v, %v: want a message saying %q", id, s.Result, err, want)
		}
	}
}

func nothingVisible(e *env, id string) error {
	if keys := e.s3.keys(outBucket, id+"/"); len(keys) > 0 {
		return fmt.Errorf("output visible: %v", keys)
	}
	return nil
}

func noMaster(e *env, id string) error {
	keys := e.s3.keys(outBucket, id+"/")
	if slices.Contains(keys, id+"/master.m3u8") {
		return fmt.Errorf("master.m3u8 visible: %v", keys)
	}
	return nil
}

// TestS3FaultsMasterAnswerLost: S3 stores every master.m3u8 PUT but the
// answer is lost (500 after the write). The SDK's retries of the
// conditional PUT meet 412 (If-None-Match: *), the attempt fails with
// output_write_failed, and the retry finds its own master and completes
// without writing it again.
func TestS3FaultsMasterAnswerLost(t *testing.T) {
	const n = 2
	_, fp, run := newS3FaultEnv(t, s3FaultSizes{workers: 1, slots: n})
	fp.set(faultRule{match: masterPutReq, fraction: 1, status: http.StatusInternalServerError, afterCommit: true})
	for i := range n {
		run.submit(fmt.Sprintf("lost-answer-%d", i), "small.mp4", 0)
	}
	fig := run.finish(2 * time.Minute)
	st := fp.stats()
	t.Logf("master answer lost: %v", fig)
	t.Logf("S3: %v", st)
	if fig.completed != n || fig.lost != 0 || fig.duplicated != 0 {
		t.Errorf("want all %d completed, none lost or duplicated", n)
	}
	if fig.attempts != 2*n {
		t.Errorf("%d attempts, want exactly 2 per job", fig.attempts)
	}
	fig.failedOnlyWith(t, queue.CodeOutputWriteFailed)
	if st.upstream[http.StatusPreconditionFailed] == 0 {
		t.Error("no PUT of master.m3u8 met 412: the SDK's retries did not carry If-None-Match")
	}
	found := 0
	for _, p := range run.ws {
		found += strings.Count(p.log.String(), "output already published by an earlier attempt")
	}
	if found != n {
		t.Errorf("%d attempts found their output already published, want %d", found, n)
	}
}

// TestS3FaultsSlow: every S3 request takes 300 ms to 1 s more. Jobs
// complete on their first attempt.
func TestS3FaultsSlow(t *testing.T) { s3Slow(t, s3FaultsSmall) }

func s3Slow(t *testing.T, sz s3FaultSizes) {
	_, fp, run := newS3FaultEnv(t, sz)
	fp.set(faultRule{latencyMin: 300 * time.Millisecond, latencyMax: time.Second})
	for i := range sz.slow {
		run.submit(fmt.Sprintf("slow-%03d", i), "small.mp4", 0)
	}
	fig := run.finish(time.Duration(sz.slow)*20*time.Second + time.Minute)
	t.Logf("slow S3: %v", fig)
	t.Logf("S3: %v", fp.stats())
	if fig.completed != sz.slow || fig.lost != 0 || fig.duplicated != 0 || fig.attempts != sz.slow {
		t.Errorf("want all %d completed on their first attempt, none lost or duplicated", sz.slow)
	}
}

// TestS3FaultsHungFetch: S3 accepts the input's GET and never answers.
// Nothing in the SDK bounds that (it sets no timeout on S3 responses): the
// job's own timeout must, and the job ends with the timeout code, archived
// (a timeout is permanent), its job directory removed, and the worker
// serves the next job.
func TestS3FaultsHungFetch(t *testing.T) {
	const timeout = 4 * time.Second
	e, fp, run := newS3FaultEnv(t, s3FaultSizes{workers: 1, slots: 1})
	fp.set(faultRule{match: func(r *http.Request) bool { return r.Method == http.MethodGet && bucketReq(inBucket)(r) }, hang: true})
	run.submit("hung-fetch", "small.mp4", timeout)
	s := e.waitDone("hung-fetch", timeout+time.Minute)
	wall := time.Since(run.start)
	t.Logf("hung GET: job ended %v after submission, attempt wall %.2f s, state %s, code %v", wall.Round(10*time.Millisecond),
		s.Result.WallSeconds, s.Info.State, s.Result.Code)
	if s.Info.State != asynq.TaskStateArchived || s.Result == nil || s.Result.Code != queue.CodeTimeout {
		t.Errorf("state %s, result %+v: want archived with %s", s.Info.State, s.Result, queue.CodeTimeout)
	}
	if d := time.Duration(s.Result.WallSeconds * float64(time.Second)); d > timeout+3*time.Second {
		t.Errorf("the attempt ran %v with a %v timeout: the job's deadline does not bound the fetch", d.Round(time.Millisecond), timeout)
	}
	if st := fp.stats(); st.hung == 0 {
		t.Error("no request was held: the rule did not apply")
	}
	if left := workerJobDirs(t, run.ws[0], ""); len(left) > 0 {
		t.Errorf("job directories left: %v", left)
	}
	fp.set(faultRule{})
	next := e.faultRun(run.ws...)
	next.submit("after-hung", "small.mp4", 0)
	fig := next.finish(time.Minute)
	t.Logf("next job: %v", fig)
	if fig.completed != 1 {
		t.Error("the worker did not serve the next job")
	}
}

// TestS3FaultsSoak is the S3 fault tests with more jobs, on two workers,
// plus what takes too long for make test or has no fixed outcome: 30% of
// requests failing with no limit on how many times in a row, an outage
// longer than a job's retries (every job completes after it), and a publish that
// never gets an answer (bounded by the job's timeout + 30 s).
func TestS3FaultsSoak(t *testing.T) {
	if !faultSoak() {
		t.Skip("soak test: runs with ABRFLEET_SOAK=1 (make test-soak)")
	}
	sz := s3FaultsSoak
	t.Run("intermittent", func(t *testing.T) { s3Intermittent(t, sz.intermittent, sz) })
	t.Run("outage", func(t *testing.T) { s3Outage(t, sz) })
	t.Run("slow", func(t *testing.T) { s3Slow(t, sz) })
	t.Run("iid 30% no streak limit", func(t *testing.T) {
		// A request fails all three SDK attempts 2.7% of the time, and a
		// job of ~11 requests then fails its attempt ~26% of the time.
		// Those failures are storage outages to the worker, retried
		// without counting (outage.go), so no job should exhaust its
		// retries; one that does (a failure the SDK does not call
		// retryable) is counted lost and reported, not a failure of this
		// test; anything else is.
		e, fp, run := newS3FaultEnv(t, sz)
		n := sz.intermittent
		for i := range n {
			e.s3.put(inBucket, fmt.Sprintf("iid-%03d.mp4", i), smallMP4)
		}
		fp.set(faultRule{fraction: 0.3})
		for i := range n {
			run.submit(fmt.Sprintf("iid-%03d", i), fmt.Sprintf("iid-%03d.mp4", i), 0)
		}
		run.exhaustedOK = []queue.Code{queue.CodeInputUnreadable, queue.CodeOutputWriteFailed}
		fig := run.finish(time.Duration(n)*5*time.Second + 2*time.Minute)
		t.Logf("iid 30%%: %v", fig)
		t.Logf("S3: %v", fp.stats())
		if fig.duplicated != 0 || fig.completed+fig.exhausted != n {
			t.Errorf("want every job completed or archived after exhausting its retries, none duplicated")
		}
		if fig.attempts <= n {
			t.Errorf("%d attempts for %d jobs: no attempt failed", fig.attempts, n)
		}
	})
	t.Run("outage past the retries", func(t *testing.T) {
		// Both buckets down for 2 minutes with the default retry delays
		// (10 s doubled, outage retries capped at 1 min): 24 jobs on 2
		// workers, none archived, all complete once S3 is back.
		const outage = 2 * time.Minute
		sz := sz
		sz.retryDelay = 10 * time.Second
		e, fp, run := newS3FaultEnv(t, sz)
		fp.set(faultRule{fraction: 1, status: http.StatusServiceUnavailable})
		for i := range sz.outage {
			run.submit(fmt.Sprintf("long-outage-%03d", i), "small.mp4", 0)
		}
		time.Sleep(outage)
		for _, id := range run.ids {
			if err := nothingVisible(e, id); err != nil {
				t.Error(err)
			}
		}
		fp.set(faultRule{})
		back := time.Now()
		fig := run.finish(5 * time.Minute)
		t.Logf("S3 down %v: %v; last job done %v after S3 came back", outage, fig, (fig.wall - back.Sub(run.start)).Round(10*time.Millisecond))
		if fig.completed != sz.outage || fig.lost != 0 || fig.duplicated != 0 || fig.retries != 0 {
			t.Errorf("want all %d completed, none lost or duplicated, no retry counted", sz.outage)
		}
	})
	t.Run("hung publish", func(t *testing.T) {
		// The publish runs after the child, and has until the job's
		// deadline plus childGrace (30 s): the child's time to report its
		// own timeout.
		const timeout = 5 * time.Second
		e, fp, run := newS3FaultEnv(t, s3FaultSizes{workers: 1, slots: 1})
		fp.set(faultRule{match: func(r *http.Request) bool { return r.Method == http.MethodPut && bucketReq(outBucket)(r) }, hang: true})
		run.submit("hung-publish", "small.mp4", timeout)
		s := e.waitDone("hung-publish", timeout+2*time.Minute)
		t.Logf("hung PUT: state %s, code %v, attempt wall %.2f s", s.Info.State, s.Result.Code, s.Result.WallSeconds)
		if s.Info.State != asynq.TaskStateArchived || s.Result.Code != queue.CodeTimeout {
			t.Errorf("state %s, result %+v: want archived with %s", s.Info.State, s.Result, queue.CodeTimeout)
		}
		if d := time.Duration(s.Result.WallSeconds * float64(time.Second)); d > timeout+35*time.Second {
			t.Errorf("the attempt ran %v with a %v timeout", d.Round(time.Millisecond), timeout)
		}
		if keys := e.s3.keys(outBucket, "hung-publish/"); slices.Contains(keys, "hung-publish/master.m3u8") {
			t.Errorf("master published by a timed-out job: %v", keys)
		}
	})
}

// lastArchived is the time from the run's first submit to its last
// failure, asynq's LastFailedAt (whole seconds).
func lastArchived(e *env, run *faultRun) time.Duration {
	var last time.Time
	for _, id := range run.ids {
		if s, err := e.client.Status(id, ""); err == nil && s.Info.LastFailedAt.After(last) {
			last = s.Info.LastFailedAt
		}
	}
	return last.Sub(run.start).Round(time.Second)
}

// ---------------------------------------------------------------------------
// The work directory's disk running full.

// diskEnv is an env whose worker's work directory is a small tmpfs.
type diskEnv struct {
	*env
	mnt    string
	w      *proc
	run    *faultRun
	filler string
}

func newDiskEnv(t *testing.T, size int64) *diskEnv {
	t.Helper()
	return newDiskEnvSlots(t, size, 1)
}

func newDiskEnvSlots(t *testing.T, size int64, slots int) *diskEnv {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mount tmpfs on %s: %v (needs root, or CAP_SYS_ADMIN)", mnt, err)
		}
		t.Fatalf("mount tmpfs on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	d := &diskEnv{env: newEnv(t), mnt: mnt, filler: filepath.Join(mnt, "filler")}
	d.s3.put(inBucket, "small.mp4", smallMP4)
	d.s3.put(inBucket, "long.mp4", longMP4)
	d.w = d.startWorker("ABRFLEET_WORK_DIR="+mnt, "ABRFLEET_RETRY_DELAY=2s", "ABRFLEET_BATCH_SLOTS="+strconv.Itoa(slots))
	d.run = d.faultRun(d.w)
	return d
}

// free is the space left on the tmpfs.
func (d *diskEnv) free() int64 {
	d.t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.mnt, &st); err != nil {
		d.t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fillTo leaves about free bytes on the tmpfs (a filler file takes the rest).
func (d *diskEnv) fillTo(free int64) {
	d.t.Helper()
	if err := fillLeaving(d.mnt, d.filler, free); err != nil {
		d.t.Fatal(err)
	}
}

// fillLeaving (re)creates filler, on the file system of dir, to leave
// about free bytes there.
func fillLeaving(dir, filler string, free int64) error {
	os.Remove(filler)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	n := int64(st.Bavail)*st.Bsize - free
	if n <= 0 {
		return fmt.Errorf("only %d bytes free, want to leave %d", int64(st.Bavail)*st.Bsize, free)
	}
	f, err := os.Create(filler)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, (n+4095)&^4095); err != nil {
		return fmt.Errorf("fallocate %d bytes: %w", n, err)
	}
	return nil
}

func (d *diskEnv) unfill() {
	d.t.Helper()
	if err := os.Remove(d.filler); err != nil {
		d.t.Fatal(err)
	}
}

// workerJobDirs lists the job directories under worker p's work directory
// (all when prefix is "", else those of one task).
func workerJobDirs(t *testing.T, p *proc, prefix string) []string {
	t.Helper()
	var root string
	for _, kv := range p.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "ABRFLEET_WORK_DIR="); ok {
			root = v // the last one wins, as in the worker
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "worker-"+strconv.Itoa(p.cmd.Process.Pid)))
	if err != nil {
		t.Fatalf("worker's work directory: %v", err)
	}
	var out []string
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), prefix) {
			out = append(out, en.Name())
		}
	}
	return out
}

// failOnDisk submits a job that cannot fit in the space left, waits for an
// attempt to fail with no_space, and checks what must hold then: the job
// is waiting for its retry, its job directory is gone and the space it
// took is free again, nothing of it is visible (visible says), and the
// worker serves a small job that fits. Then it frees the disk and checks
// that the job completes.
func (d *diskEnv) failOnDisk(id string, submit func(), visible func() error) faultFigures {
	t := d.t
	t.Helper()
	before := d.free()
	submit()
	var s *worker.Status
	waitFor(t, 2*time.Minute, id+" to fail", func() (bool, error) {
		var err error
		if s, err = d.client.Status(id, ""); err != nil {
			return false, nil
		}
		switch s.Info.State {
		case asynq.TaskStateArchived:
			return false, fmt.Errorf("archived: %q", s.Info.LastErr)
		case asynq.TaskStateCompleted:
			return false, errors.New("completed on a full disk")
		}
		return s.Info.State == asynq.TaskStateRetry, nil
	})
	failedAt := time.Now()
	if s.Result == nil || s.Result.Code != queue.CodeNoSpace {
		t.Errorf("result %+v, last error %q: want code %s", s.Result, s.Info.LastErr, queue.CodeNoSpace)
	}
	t.Logf("attempt %d failed: %s", s.Result.Attempt, s.Info.LastErr)
	if left := workerJobDirs(t, d.w, fmt.Sprintf("%s.%d", id, s.Result.Attempt)); len(left) > 0 {
		t.Errorf("the failed attempt's job directory is left: %v", left)
	}
	if len(workerJobDirs(t, d.w, "")) == 0 { // no attempt running: the space must be back
		if now := d.free(); now < before-64<<10 {
			t.Errorf("%d bytes free after the failure, %d before the job: space not released", now, before)
		}
	}
	if err := visible(); err != nil {
		t.Errorf("after the failure: %v", err)
	}
	// The worker lives on and serves a job that fits.
	next := d.faultRun(d.w)
	next.submit(id+"-next", "small.mp4", 0)
	if fig := next.finish(time.Minute); fig.completed != 1 {
		t.Errorf("the next job, which fits: %v", fig)
	} else {
		t.Logf("the next job, which fits: %v", fig)
	}
	if err := visible(); err != nil {
		t.Errorf("while the disk is full: %v", err)
	}
	d.unfill()
	freedAt := time.Now()
	fig := d.run.finish(2 * time.Minute)
	t.Logf("disk freed %v after the failure; the job completed %v after that", freedAt.Sub(failedAt).Round(10*time.Millisecond),
		d.run.start.Add(fig.wall).Sub(freedAt).Round(10*time.Millisecond))
	if fig.completed != 1 || fig.lost != 0 || fig.duplicated != 0 {
		t.Errorf("want the job completed once, not lost or duplicated: %v", fig)
	}
	fig.failedOnlyWith(t, queue.CodeNoSpace)
	if left := workerJobDirs(t, d.w, ""); len(left) > 0 {
		t.Errorf("job directories left: %v", left)
	}
	return fig
}

// TestDiskFullFetch: the S3 download of the input fills the work
// directory's disk.
func TestDiskFullFetch(t *testing.T) {
	d := newDiskEnv(t, 64<<20)
	d.fillTo(int64(len(longMP4)) / 2)
	fig := d.failOnDisk("disk-fetch", func() { d.run.submit("disk-fetch", "long.mp4", 0) },
		func() error { return nothingVisible(d.env, "disk-fetch") })
	t.Logf("input of %d bytes, %d free: %v", len(longMP4), int64(len(longMP4))/2, fig)
}

// TestDiskFullChild: the input fits, the transcode child's output fills
// the disk mid-transcode (FFmpeg's write returns AVERROR(ENOSPC)).
func TestDiskFullChild(t *testing.T) {
	d := newDiskEnv(t, 64<<20)
	free := int64(len(longMP4)) + 256<<10
	d.fillTo(free)
	fig := d.failOnDisk("disk-child", func() { d.run.submit("disk-child", "long.mp4", 0) },
		func() error { return nothingVisible(d.env, "disk-child") })
	t.Logf("input of %d bytes, %d free: %v", len(longMP4), free, fig)
}

// TestDiskFullMoment: the disk is full for a moment mid-transcode and
// frees itself (another job's files removed) before the transcode ends.
// Whatever the muxers wrote in that moment is lost: the attempt must fail
// with no_space, and the job complete on a retry, not publish what the
// full disk truncated.
func TestDiskFullMoment(t *testing.T) {
	d := newDiskEnv(t, 64<<20)
	d.fillTo(int64(len(longMP4)) + 256<<10)
	d.run.submit("disk-moment", "long.mp4", 0)
	// The disk is full once the output has taken the 256 KiB: hold it
	// full a moment, then free it. (The attempt may fail and free its
	// space between two looks at the disk.)
	waitFor(t, time.Minute, "the disk to fill", func() (bool, error) {
		return d.free() < 16<<10 || len(workerLines(d.w, "job failed, will retry")) > 0, nil
	})
	full := time.Now()
	time.Sleep(300 * time.Millisecond)
	d.unfill()
	t.Logf("disk full at %s, freed %v later", full.Format("15:04:05.000"), time.Since(full).Round(time.Millisecond))
	fig := d.run.finish(2 * time.Minute)
	t.Logf("disk full a moment: %v", fig)
	for _, l := range workerLines(d.w, "job failed, will retry") {
		t.Logf("attempt %d failed at %s: %s", l.Attempt, l.Time.Format("15:04:05.000"), l.Err)
	}
	if fig.completed != 1 || fig.lost != 0 || fig.duplicated != 0 {
		t.Errorf("want the job completed once, not lost or duplicated")
	}
	fig.failedOnlyWith(t, queue.CodeNoSpace)
	// Before the muxers' closes were checked, this published a first
	// segment cut to 8 KiB and an empty second one.
	for _, k := range d.s3.keys(outBucket, "disk-moment/") {
		if b, _ := d.s3.get(outBucket, k); len(b) == 0 {
			t.Errorf("%s published empty", k)
		}
	}
}

// TestDiskFullPublish: the output is local, on the same disk as the work
// directory: the transcode fits, its copy into the destination does not.
// Nothing may appear at the destination, not even a staging directory.
func TestDiskFullPublish(t *testing.T) {
	d := newDiskEnv(t, 64<<20)
	outRoot := filepath.Join(d.mnt, "out")
	payload := func(id string) *queue.Payload {
		return &queue.Payload{Version: queue.Version, JobID: id, Mode: ladder.Batch, Input: "s3://" + inBucket + "/small.mp4",
			Output: filepath.Join(outRoot, id), Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs}}
	}
	// Calibrate: what one published output of this job takes on the disk.
	cal := d.faultRun(d.w)
	cal.s3out = false
	before := d.free()
	cal.submitPayload(payload("disk-calibrate"))
	if fig := cal.finish(time.Minute); fig.completed != 1 {
		t.Fatalf("calibration job: %v", fig)
	}
	out := before - d.free()
	t.Logf("one output takes %d bytes", out)
	// Room for the input and the output in the job directory, and half a
	// copy more: the publish's copy fills the disk.
	free := int64(len(smallMP4)) + out + out/2
	d.fillTo(free)
	d.run.s3out = false
	id := "disk-publish"
	visible := func() error {
		entries, _ := os.ReadDir(outRoot)
		for _, en := range entries {
			if strings.HasPrefix(en.Name(), id) {
				return fmt.Errorf("%s visible in the output root", en.Name())
			}
		}
		return nil
	}
	fig := d.failOnDisk(id, func() { d.run.submitPayload(payload(id)) }, visible)
	t.Logf("output of %d bytes, %d free: %v", out, free, fig)
	if _, err := os.Stat(filepath.Join(outRoot, id, ".published-"+id)); err != nil {
		t.Errorf("published output: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outRoot, id, "master.m3u8")); err != nil {
		t.Errorf("published output: %v", err)
	}
	entries, _ := os.ReadDir(outRoot)
	for _, en := range entries {
		if strings.Contains(en.Name(), ".tmp-") || strings.Contains(en.Name(), ".discard-") {
			t.Errorf("staging left in the output root: %s", en.Name())
		}
	}
}

// TestDiskFullSoak: a stream of long jobs, two at a time, on a disk that
// fills up for 300 ms every 6 s (another tenant's burst). Whatever a job
// writes then is refused: each failed attempt must be no_space, nothing
// duplicated or left behind, the space all back at the end. A job that
// meets a full disk on all 4 attempts is archived: reported, counted lost.
func TestDiskFullSoak(t *testing.T) {
	if !faultSoak() {
		t.Skip("soak test: runs with ABRFLEET_SOAK=1 (make test-soak)")
	}
	const n = 30
	d := newDiskEnvSlots(t, 64<<20, 2) // room for two long jobs (13 MB input, ~4 MB output each)
	before := d.free()
	d.run.exhaustedOK = []queue.Code{queue.CodeNoSpace}
	for i := range n {
		d.run.submit(fmt.Sprintf("disk-soak-%03d", i), "long.mp4", 0)
	}
	stop, episodes := make(chan struct{}), make(chan int)
	go func() {
		k := 0
		defer func() { episodes <- k }()
		tick := time.NewTicker(6 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if fillLeaving(d.mnt, d.filler, 0) == nil {
				k++
			}
			time.Sleep(300 * time.Millisecond)
			os.Remove(d.filler)
		}
	}()
	fig := d.run.finish(time.Duration(n)*15*time.Second + 2*time.Minute)
	close(stop)
	k := <-episodes
	t.Logf("%d long jobs, 2 at a time, disk full for 300 ms every 6 s (%d times): %v", n, k, fig)
	if fig.duplicated != 0 || fig.completed+fig.exhausted != n {
		t.Error("want every job completed or archived after exhausting its retries on no_space, none duplicated")
	}
	if fig.failed[queue.CodeNoSpace] == 0 {
		t.Error("no attempt failed with no_space: the disk was never full when a job wrote")
	}
	for c := range fig.failed {
		if c != queue.CodeNoSpace {
			t.Errorf("attempts failed with %s x%d", c, fig.failed[c])
		}
	}
	if left := workerJobDirs(t, d.w, ""); len(left) > 0 {
		t.Errorf("job directories left: %v", left)
	}
	if after := d.free(); after < before-64<<10 {
		t.Errorf("%d bytes free at the end, %d at the start", after, before)
	}
}
