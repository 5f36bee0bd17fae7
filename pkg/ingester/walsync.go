package ingester

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// walSyncer fsyncs a tenant's WAL and out-of-order WBL before a push is
// acknowledged, for -ingester.wal-fsync. The TSDB has no fsync per commit
// and does not expose its WAL: the syncer opens the newest segment file
// itself, since fsync(2) flushes a file's data whichever descriptor wrote
// it. Concurrent pushes share one fsync (group commit): a push waits for
// an fsync that started after its records were written.
type walSyncer struct {
	dirs []string // the WAL and WBL directories

	requested atomic.Uint64 // tickets handed out, one per push
	mu        sync.Mutex    // one fsync at a time; guards the fields below
	synced    uint64        // every ticket up to it is on disk
	segments  map[string]*syncedSegment
}

// syncedSegment is the newest segment file of one directory, opened by
// the syncer.
type syncedSegment struct {
	index int
	f     *os.File
}

func newWALSyncer(tenantDir string) *walSyncer {
	return &walSyncer{
		dirs:     []string{filepath.Join(tenantDir, "wal"), filepath.Join(tenantDir, "wbl")},
		segments: map[string]*syncedSegment{},
	}
}

// sync returns once every record written before the call is on disk.
func (s *walSyncer) sync() error {
	ticket := s.requested.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.synced >= ticket {
		return nil // An fsync that started after our records covered them.
	}
	upTo := s.requested.Load()
	for _, dir := range s.dirs {
		if err := s.syncDir(dir); err != nil {
			return err
		}
	}
	s.synced = upTo
	return nil
}

// syncDir fsyncs the segments of dir written since the last call: the one
// it has open and any newer one, and dir itself when a segment is new.
// A missing directory (no WBL yet) is nothing to sync.
func (s *walSyncer) syncDir(dir string) error {
	seg := s.segments[dir]
	if seg == nil {
		last, err := lastSegment(dir)
		if errors.Is(err, os.ErrNotExist) || (err == nil && last < 0) {
			return nil
		}
		if err != nil {
			return err
		}
		if seg, err = openSegment(dir, last); err != nil {
			return err
		}
		s.segments[dir] = seg
		if err := syncPath(dir); err != nil {
			return err
		}
	}
	for {
		if err := seg.f.Sync(); err != nil {
			return fmt.Errorf("fsyncing WAL segment %s: %w", seg.f.Name(), err)
		}
		// The WAL moved on to the next segment (full, or truncated after
		// a compaction): sync it too, and its directory entry.
		next := segmentPath(dir, seg.index+1)
		if _, err := os.Stat(next); errors.Is(err, os.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("looking for WAL segment %s: %w", next, err)
		}
		nseg, err := openSegment(dir, seg.index+1)
		if err != nil {
			return err
		}
		_ = seg.f.Close() // Read-only: nothing to lose.
		seg = nseg
		s.segments[dir] = seg
		if err := syncPath(dir); err != nil {
			return err
		}
	}
}

// close closes the open segment files.
func (s *walSyncer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for dir, seg := range s.segments {
		_ = seg.f.Close() // Read-only: nothing to lose.
		delete(s.segments, dir)
	}
}

func segmentPath(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("%08d", index))
}

func openSegment(dir string, index int) (*syncedSegment, error) {
	f, err := os.Open(segmentPath(dir, index))
	if err != nil {
		return nil, fmt.Errorf("opening WAL segment to fsync it: %w", err)
	}
	return &syncedSegment{index: index, f: f}, nil
}

// lastSegment returns the highest segment number in dir, -1 when none.
func lastSegment(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return -1, err
	}
	last := -1
	for _, e := range entries {
		if k, err := strconv.Atoi(e.Name()); err == nil && k > last {
			last = k
		}
	}
	return last, nil
}

// syncPath fsyncs a directory, making its entries durable.
func syncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening WAL directory to fsync it: %w", err)
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
