package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// LiveUploader mirrors a live HLS output directory to S3 while it is being
// produced: segments as they are listed, and a playlist only after every
// file it lists. It is safe for concurrent use; Syncs are serialized.
type LiveUploader struct {
	tm  *tm.Client
	dst Location
	dir string

	mu   sync.Mutex
	sent map[string]stamp // slash path under dir -> version uploaded, or adopted
}

type stamp struct{ size, mtime int64 }

// adopted is the stamp of a file at the destination already (Adopt): no
// file on disk has it, and uploadFiles never sends such a file.
var adopted = stamp{-1, -1}

func stampOf(fi fs.FileInfo) stamp { return stamp{fi.Size(), fi.ModTime().UnixNano()} }

// NewLiveUploader uploads dir to the prefix dst.Key; dst must be an s3
// location (Sync reports ErrInvalidLocation otherwise).
func NewLiveUploader(client *s3.Client, dst Location, dir string) *LiveUploader {
	return &LiveUploader{tm: newTransfer(client, S3Config{}), dst: dst, dir: dir, sent: map[string]stamp{}}
}

// Adopt records files that are already at the destination (slash paths
// under dir, such as the segments of a stream being resumed), so that
// playlists listing them are published without sending them again. An
// adopted file is never uploaded from dir, whatever dir holds under its
// name: a resumed stream keeps only size placeholders of its earlier
// segments locally (see ListSizes).
func (u *LiveUploader) Adopt(rels ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, rel := range rels {
		u.sent[rel] = adopted
	}
}

// ListSizes returns the size of every object under the prefix loc.Key,
// keyed by its slash path below the prefix. loc must be an s3 location.
func ListSizes(ctx context.Context, client *s3.Client, loc Location) (map[string]int64, error) {
	if loc.Scheme != "s3" {
		return nil, opErr("list", loc.String(), fmt.Errorf("%w: want an s3 location", ErrInvalidLocation))
	}
	prefix := loc.object("") // "" or ending in "/"
	sizes := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &loc.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, opErr("list", loc.String(), notFound(err))
		}
		for _, o := range page.Contents {
			if o.Key != nil && o.Size != nil {
				sizes[strings.TrimPrefix(*o.Key, prefix)] = *o.Size
			}
		}
	}
	return sizes, nil
}

// Sync uploads the files that media playlists list (plus every init.mp4)
// and that are new or changed since their last upload, then each media
// playlist whose listed files are all uploaded, then master.m3u8 once the
// playlists it lists are, then manifest.json (which the transcode writes,
// atomically, as the stream ends) once master.m3u8 is up to date. Files
// nothing lists yet (such as *.tmp or segments being written) are left
// alone, and so is a playlist caught mid-write (no final newline). Call it
// periodically, and once after the producer finishes; a failed Sync keeps
// what it managed to upload.
func (u *LiveUploader) Sync(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dst.Scheme != "s3" {
		return opErr("sync", u.dst.String(), fmt.Errorf("%w: want an s3 destination", ErrInvalidLocation))
	}
	media, master, inits, err := readPlaylists(u.dir)
	if err != nil {
		return opErr("sync", u.dir, err)
	}
	files := inits
	for _, pl := range media {
		files = append(files, pl.refs...)
	}
	if err := u.uploadFiles(ctx, files); err != nil {
		return err
	}
	if master != nil {
		media = append(media, master) // after the media playlists it lists
	}
	for _, pl := range media {
		if u.sent[pl.rel] == pl.stamp || !u.uploaded(pl.refs) {
			continue
		}
		if err := upload(ctx, u.tm, u.dst.Bucket, u.dst.object(pl.rel), bytes.NewReader(pl.body), nil, nil); err != nil {
			return err
		}
		u.sent[pl.rel] = pl.stamp
	}
	if master != nil && u.sent[master.rel] == master.stamp {
		return u.uploadFiles(ctx, []string{manifestName})
	}
	return nil
}

func (u *LiveUploader) uploaded(refs []string) bool {
	for _, r := range refs {
		if _, ok := u.sent[r]; !ok {
			return false
		}
	}
	return true
}

// uploadFiles uploads the files among rels that changed since last sent;
// missing ones are skipped (a playlist listing them waits).
func (u *LiveUploader) uploadFiles(ctx context.Context, rels []string) error {
	done := make([]*stamp, len(rels)) // written by one goroutine each
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(defaultConcurrency)
	seen := map[string]bool{}
	var statErr error
	for i, rel := range rels {
		name := filepath.Join(u.dir, filepath.FromSlash(rel))
		fi, err := os.Stat(name)
		if seen[rel] || u.sent[rel] == adopted || errors.Is(err, fs.ErrNotExist) || err == nil && u.sent[rel] == stampOf(fi) {
			continue
		} else if err != nil {
			statErr = opErr("sync", name, err)
			break
		}
		seen[rel] = true
		g.Go(func() error {
			f, err := os.Open(name)
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile; a playlist listing it waits
			} else if err != nil {
				return opErr("sync", name, err)
			}
			defer f.Close()
			fi, err := f.Stat() // describes exactly what we send
			if err != nil {
				return opErr("sync", name, err)
			}
			body := io.NewSectionReader(f, 0, fi.Size())
			if err := upload(gctx, u.tm, u.dst.Bucket, u.dst.object(rel), body, nil, nil); err != nil {
				return err
			}
			st := stampOf(fi)
			done[i] = &st
			return nil
		})
	}
	err := g.Wait()
	for i, st := range done {
		if st != nil {
			u.sent[rels[i]] = *st
		}
	}
	if err == nil {
		err = statErr
	}
	return err
}

type playlist struct {
	rel   string // slash path under dir
	body  []byte
	stamp stamp
	refs  []string // local files it lists, slash paths under dir
}

// readPlaylists reads every complete *.m3u8 under dir and finds every
// init.mp4.
func readPlaylists(dir string) (media []*playlist, master *playlist, inits []string, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p != dir {
			return nil // removed by the producer meanwhile
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Name() == "init.mp4":
			inits = append(inits, rel)
		case path.Ext(rel) == ".m3u8":
			pl, err := readPlaylist(p, rel)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return err
			case pl == nil: // mid-write
			case rel == masterName:
				master = pl
			default:
				media = append(media, pl)
			}
		}
		return nil
	})
	return media, master, inits, err
}

// readPlaylist returns nil for a playlist that does not end in a newline.
func readPlaylist(name, rel string) (*playlist, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(f)
	if err != nil || len(body) == 0 || body[len(body)-1] != '\n' {
		return nil, err
	}
	fi, err := f.Stat() // the inode we read, even if since replaced
	if err != nil {
		return nil, err
	}
	return &playlist{rel: rel, body: body, stamp: stampOf(fi), refs: playlistRefs(rel, body)}, nil
}

// playlistRefs parses an HLS playlist minimally: URI lines, and the URI
// attribute of EXT-X-MAP (init segment), EXT-X-MEDIA and
// EXT-X-I-FRAME-STREAM-INF. Only relative references that stay under the
// playlist tree's root are returned, resolved against the playlist's dir.
func playlistRefs(rel string, body []byte) []string {
	var refs []string
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		uri := line
		if strings.HasPrefix(line, "#") {
			tag, attrs, _ := strings.Cut(line, ":")
			switch tag {
			case "#EXT-X-MAP", "#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF":
				uri = attrURI(attrs)
			default:
				continue
			}
		}
		if ref, ok := localRef(path.Dir(rel), uri); ok {
			refs = append(refs, ref)
		}
	}
	return refs
}

// attrURI returns the quoted URI attribute of an attribute list.
func attrURI(attrs string) string {
	for rest := attrs; ; {
		i := strings.Index(rest, `URI="`)
		if i < 0 {
			return ""
		}
		v, _, ok := strings.Cut(rest[i+len(`URI="`):], `"`)
		if ok && (i == 0 || rest[i-1] == ',') {
			return v
		}
		rest = rest[i+len(`URI="`):]
	}
}

func localRef(base, uri string) (string, bool) {
	u, err := url.Parse(uri)
	if uri == "" || err != nil || u.Scheme != "" || u.Host != "" || path.IsAbs(u.Path) || u.Path == "" {
		return "", false
	}
	p := path.Join(base, u.Path)
	return p, p != ".." && !strings.HasPrefix(p, "../")
}
