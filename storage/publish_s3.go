package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

const (
	masterName   = "master.m3u8"
	manifestName = "manifest.json"
)

type s3Publisher struct {
	client *s3.Client
	tm     *tm.Client
	cfg    S3Config
}

// NewS3Publisher publishes under the prefix dst.Key. Every object but
// master.m3u8 and manifest.json goes first (files of at least one part size
// one at a time as parallel multipart uploads, smaller ones in parallel;
// c.Concurrency bounds requests in flight), then manifest.json, then
// master.m3u8, whose existence signals publication. All objects carry
// x-amz-meta-abrfleet-job: jobID; the master is written with
// If-None-Match: * where the store supports it.
//
// A failed publish leaves no master, so the output stays invisible, and a
// retry re-uploads everything (overwriting identical objects). Two different
// jobs publishing to one prefix at once may interleave their segments; only
// one master wins, and the sequential case is reported as ErrConflict.
func NewS3Publisher(client *s3.Client, c S3Config) Publisher {
	return &s3Publisher{client: client, tm: newTransfer(client, c), cfg: c}
}

func (p *s3Publisher) Publish(ctx context.Context, dir string, dst Location, jobID string) error {
	if dst.Scheme != "s3" {
		return opErr("publish", dst.String(), fmt.Errorf("%w: want an s3 destination", ErrInvalidLocation))
	}
	if err := validJobID(jobID); err != nil {
		return opErr("publish", dst.String(), err)
	}
	master := dst.object(masterName)
	if err := p.checkMaster(ctx, dst.Bucket, master, jobID); err != nil {
		return err
	}
	big, small, last, err := p.scan(dir)
	if err != nil {
		return opErr("publish", dir, err)
	}
	meta := map[string]string{jobMetaKey: jobID}
	put := func(ctx context.Context, rel string, ifNoneMatch *string) error {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return opErr("publish", dir, err)
		}
		defer f.Close()
		return upload(ctx, p.tm, dst.Bucket, dst.object(rel), f, meta, ifNoneMatch)
	}

	for _, rel := range big { // each already has c.Concurrency parts in flight
		if err := put(ctx, rel, nil); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.cfg.concurrency())
	for _, rel := range small {
		g.Go(func() error { return put(gctx, rel, nil) })
	}
	if err := g.Wait(); err != nil {
		return err
	}

	for _, rel := range last[:len(last)-1] { // manifest.json, if any
		if err := put(ctx, rel, nil); err != nil {
			return err
		}
	}
	err = put(ctx, masterName, aws.String("*"))
	var resp interface{ HTTPStatusCode() int }
	switch {
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusPreconditionFailed:
		if cerr := p.checkMaster(ctx, dst.Bucket, master, jobID); cerr != nil {
			return cerr // a concurrent publish won the race
		}
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotImplemented:
		err = put(ctx, masterName, nil) // the store lacks conditional writes; checkMaster must do
	}
	return err
}

// checkMaster returns nil when no master exists, else ErrAlreadyPublished
// or ErrConflict from its job metadata.
func (p *s3Publisher) checkMaster(ctx context.Context, bucket, key, jobID string) error {
	h, err := head(ctx, p.client, bucket, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
	case h.Metadata[jobMetaKey] == jobID:
		err = ErrAlreadyPublished
	default:
		err = fmt.Errorf("%w: published by %q", ErrConflict, h.Metadata[jobMetaKey])
	}
	return opErr("publish", s3URL(bucket, key), err)
}

// scan lists dir's regular files as slash paths: big (at least a part) and
// small ones, then last: manifest.json if present, and master.m3u8 (required).
func (p *s3Publisher) scan(dir string) (big, small, last []string, err error) {
	hasManifest, hasMaster := false, false
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		switch rel = filepath.ToSlash(rel); rel {
		case masterName:
			hasMaster = true
			return nil
		case manifestName:
			hasManifest = true
			return nil
		}
		fi, err := d.Info()
		switch {
		case err != nil:
			return err
		case fi.Size() >= p.cfg.partSize():
			big = append(big, rel)
		default:
			small = append(small, rel)
		}
		return nil
	})
	if hasManifest {
		last = append(last, manifestName)
	}
	if err == nil && !hasMaster {
		err = fmt.Errorf("no %s: %w", masterName, fs.ErrNotExist)
	}
	return big, small, append(last, masterName), err
}
