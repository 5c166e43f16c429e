// Package spool keeps what could not reach the database — usage records,
// fast-mode settlements — in fsync'd files under a directory, bounded in
// size, until it is replayed into the database.
//
// An entry is one JSON value on one line of a segment file. Append returns
// only after the line and the file are on disk (fsync), so an entry it
// acknowledged survives a crash. Replay hands every entry to a function
// and deletes a segment once all its entries were accepted; a crash
// between the two replays the segment's entries again, which is why what
// is spooled must be idempotent (usage records carry a record key,
// settlements a batch key): replaying twice stores them once.
package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrFull is returned by Append when the entry would take the spool past
// its size limit.
var ErrFull = errors.New("spool full")

// Spool is a bounded, fsync'd queue of JSON entries in a directory. Its
// methods are safe for concurrent use.
type Spool struct {
	dir, name string
	max       int64

	mu      sync.Mutex
	cur     *os.File // the segment Append writes to; nil until needed
	curName string
	size    int64 // bytes in every segment
	seq     int64
}

// Open opens the spool called name in dir (created if needed), holding at
// most maxBytes; the segments a previous process left are kept for Replay.
func Open(dir, name string, maxBytes int64) (*Spool, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || maxBytes <= 0 {
		return nil, fmt.Errorf("spool: a name without slashes and a positive size limit are required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, name: name, max: maxBytes}
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	for _, p := range segs {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.size += fi.Size()
	}
	return s, nil
}

// segments lists the segment files, oldest first.
func (s *Spool) segments() ([]string, error) {
	segs, err := filepath.Glob(filepath.Join(s.dir, s.name+"-*.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	slices.Sort(segs) // names carry a zero-padded time and sequence
	return segs, nil
}

// Size returns the bytes the spool holds.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Max returns the spool's size limit.
func (s *Spool) Max() int64 { return s.max }

// Append writes v as one entry and syncs it to disk. It returns ErrFull,
// and writes nothing, when the entry does not fit.
func (s *Spool) Append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("spool: encode: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size+int64(len(line)) > s.max {
		return ErrFull
	}
	if s.cur == nil {
		if err := s.openSegment(); err != nil {
			return err
		}
	}
	n, err := s.cur.Write(line)
	s.size += int64(n)
	if err == nil {
		err = s.cur.Sync()
	}
	if err != nil {
		// A partial line is skipped by Replay; start a new segment so the
		// next entry does not follow it on the same line.
		_ = s.cur.Close()
		s.cur = nil
		return fmt.Errorf("spool: write: %w", err)
	}
	return nil
}

// openSegment creates a new segment and syncs the directory so the file
// itself survives a crash. Call with s.mu held.
func (s *Spool) openSegment() error {
	s.seq++
	name := filepath.Join(s.dir, fmt.Sprintf("%s-%020d-%06d.jsonl", s.name, time.Now().UnixNano(), s.seq))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- a segment in the configured spool directory, named here
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		_ = f.Close()
		return err
	}
	s.cur, s.curName = f, name
	return nil
}

// Replay hands every entry, oldest first, to fn and deletes each segment
// once fn accepted all its entries. It stops at fn's first error and
// returns it with the number of entries accepted; the entries of the
// segment it stopped in are all replayed again next time. Entries appended
// while it runs go to a new segment, replayed next time.
func (s *Spool) Replay(fn func(entry json.RawMessage) error) (int, error) {
	s.mu.Lock()
	s.rotate()
	segs, err := s.segments()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	total := 0
	for _, seg := range segs {
		n, err := replaySegment(seg, fn)
		total += n
		if err != nil {
			return total, err
		}
		if err := s.remove(seg); err != nil {
			return total, err
		}
	}
	return total, nil
}

// rotate closes the current segment, so that Replay may take it. Call with
// s.mu held.
func (s *Spool) rotate() {
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur, s.curName = nil, ""
	}
}

// replaySegment hands a segment's complete lines to fn. A last line with
// no newline was being written when its process died (Append had not
// returned): it is skipped.
func replaySegment(name string, fn func(json.RawMessage) error) (int, error) {
	f, err := os.Open(name) // #nosec G304 -- a segment in the configured spool directory
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	n := 0
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return n, nil // a torn or empty tail
		}
		if err != nil {
			return n, fmt.Errorf("spool: read %s: %w", filepath.Base(name), err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || !json.Valid(line) {
			continue // a torn line followed by later appends
		}
		if err := fn(json.RawMessage(line)); err != nil {
			return n, err
		}
		n++
	}
}

// remove deletes a replayed segment and takes its size off the total.
func (s *Spool) remove(name string) error {
	fi, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	s.size = max(s.size-fi.Size(), 0)
	s.mu.Unlock()
	return syncDir(s.dir)
}

// Clear deletes every entry: their owner wrote them to the database
// another way (from memory) and needs them no more.
func (s *Spool) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
	segs, err := s.segments()
	if err != nil {
		return err
	}
	for _, seg := range segs {
		if err := os.Remove(seg); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.size = 0
	return syncDir(s.dir)
}

// Close closes the current segment; the entries stay for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate()
	return nil
}

// syncDir makes the creation or removal of a file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the configured spool directory
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync %s: %w", dir, err)
	}
	return nil
}
