package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
)

// A live stream outlives the worker that runs it. When that worker dies
// (the task is re-delivered once its lease has expired) or hands the task
// back on shutdown, the next attempt continues the same playlists: the HLS
// muxer appends its segments after an EXT-X-DISCONTINUITY and numbers on
// from the last one listed, so no published segment is rewritten.
//
// The output location is the same for every attempt: a local destination
// is written in place, and an S3 one is mirrored from each attempt's own
// working directory to the same prefix. Two attempts never write it at
// once: a live job is handed back only once its child has exited, and a
// task whose worker died is re-delivered 15 s after its lease expired at
// the soonest (recover.go; asynq's own recoverer waits 30 s), while a
// worker that could not renew the lease cancels the attempt within 5 s of
// its expiry and the child stops within killGrace.
//
// What the next attempt reads is the input as it is then: a network feed
// continues from the present, a file standing for a feed starts over.

// mediaPlaylist is the name of each rung's playlist, <rung>/index.m3u8, in
// the layout transcode writes.
const mediaPlaylist = "index.m3u8"

// maxPlaylistBytes bounds a media playlist fetched to resume a stream. A
// 12-hour stream of 2 s segments lists 21,600 of them in about 1 MiB.
const maxPlaylistBytes = 16 << 20

// resumeLive reports whether this attempt continues the stream of an
// earlier attempt, and prepares outDir for that. It does when the task ran
// before and the output holds media playlists; a first delivery never
// appends to what it finds there (another job's stream, or a finished one),
// and a re-delivery with no playlists has nothing to continue.
//
// For an S3 output only the playlists are fetched into outDir: the
// segments they list stay in the bucket, and outDir gets a sparse
// placeholder of each segment's size (one listing of the prefix), which is
// all the muxer and the master playlist's bandwidth figures read. up adopts
// them, so it publishes the playlists without sending a segment again.
// A resume thus costs the playlists and a listing, however long the stream
// has run (it used to download and upload every segment so far).
func (w *Worker) resumeLive(ctx context.Context, a *attempt, dst storage.Location, outDir string, lad ladder.Ladder, up *storage.LiveUploader) (bool, error) {
	if !a.ranBefore {
		return false, nil
	}
	var (
		found []string
		err   error
	)
	switch dst.Scheme {
	case "file":
		found, err = localPlaylists(outDir, lad)
	case "s3":
		found, err = w.fetchStream(ctx, dst, outDir, lad, up)
	default:
		err = &JobError{Code: queue.CodeInvalidPayload, Op: "output", Err: fmt.Errorf("scheme %q", dst.Scheme), Permanent: true}
	}
	if err != nil {
		return false, err
	}
	if len(found) == 0 {
		a.log.Info("live job ran before but left no playlists: starting the stream afresh")
		return false, nil
	}
	a.log.Info("resuming the live stream after a discontinuity", "playlists", found)
	return true, nil
}

// localPlaylists lists the rungs of lad whose media playlist exists in dir.
func localPlaylists(dir string, lad ladder.Ladder) ([]string, error) {
	var found []string
	for _, r := range lad.Rungs {
		name := filepath.Join(dir, r.Name, mediaPlaylist)
		_, err := os.Stat(name)
		switch {
		case err == nil:
			found = append(found, name)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume: stat " + name, Err: err}
		}
	}
	return found, nil
}

// fetchStream copies the media playlists of lad's rungs under the S3 prefix
// dst into dir, puts a placeholder of the right size for each segment they
// list, and has up adopt those segments (see resumeLive). It returns the
// playlists found.
func (w *Worker) fetchStream(ctx context.Context, dst storage.Location, dir string, lad ladder.Ladder, up *storage.LiveUploader) ([]string, error) {
	var found, segments []string
	for _, r := range lad.Rungs {
		rel := path.Join(r.Name, mediaPlaylist)
		name := filepath.Join(dir, filepath.FromSlash(rel))
		src := storage.Location{Scheme: "s3", Bucket: dst.Bucket, Key: objectKey(dst.Key, rel)}
		if _, err := storage.Fetch(ctx, w.s3, src, name, maxPlaylistBytes); errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume", Err: err,
				Permanent: errors.Is(err, storage.ErrTooLarge) || errors.Is(err, storage.ErrInvalidLocation)}
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, &JobError{Code: queue.CodeInternal, Op: "resume: read " + name, Err: err}
		}
		// Only this job writes there: a playlist it cannot read will not
		// become readable by retrying.
		pl, err := hls.ParseMediaPlaylist(data)
		if err != nil {
			return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume: " + joinLocation(dst, rel), Err: err, Permanent: true}
		}
		for _, s := range pl.Segments {
			seg, ok := segmentPath(r.Name, s.URI)
			if !ok {
				return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume: " + joinLocation(dst, rel),
					Err: fmt.Errorf("segment %q is not a file beside the playlist", s.URI), Permanent: true}
			}
			segments = append(segments, seg)
		}
		found = append(found, joinLocation(dst, rel))
	}
	if len(segments) == 0 {
		return found, nil
	}
	sizes, err := storage.ListSizes(ctx, w.s3, dst)
	if err != nil {
		return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume", Err: err}
	}
	for _, seg := range segments {
		size, ok := sizes[seg]
		if !ok {
			// Listed by a playlist the uploader published only after the
			// segment: it was there. Deleted since, or not visible yet.
			return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume: " + joinLocation(dst, seg),
				Err: errors.New("segment listed in its playlist but not in the bucket")}
		}
		if err := placeholder(filepath.Join(dir, filepath.FromSlash(seg)), size); err != nil {
			return nil, &JobError{Code: queue.CodeOutputWriteFailed, Op: "resume", Err: err}
		}
	}
	up.Adopt(segments...)
	return found, nil
}

// placeholder creates name as a sparse file of size bytes: it stands for a
// segment that is in the bucket already and is never uploaded.
func placeholder(name string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// segmentPath resolves the segment URI of the playlist of rung to a slash
// path under the output's root; ok is false for anything that is not a
// relative path inside the rung's directory.
func segmentPath(rung, uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Path == "" || path.IsAbs(u.Path) {
		return "", false
	}
	p := path.Join(rung, u.Path)
	return p, strings.HasPrefix(p, rung+"/")
}

// objectKey maps a slash path under the output onto the S3 prefix, as
// storage.LiveUploader does when it uploads it.
func objectKey(prefix, rel string) string {
	if prefix == "" {
		return rel
	}
	return strings.TrimSuffix(prefix, "/") + "/" + rel
}
