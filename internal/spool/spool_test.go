package spool_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/chorusgw/chorus/internal/spool"
)

type entry struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

func mustOpen(t *testing.T, dir string, max int64) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, "test", max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// replayAll returns the entries Replay hands over.
func replayAll(t *testing.T, s *spool.Spool) []entry {
	t.Helper()
	var got []entry
	if _, err := s.Replay(func(raw json.RawMessage) error {
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSpool(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), 1<<20)
		for i := range 5 {
			if err := s.Append(entry{Key: "k", N: i}); err != nil {
				t.Fatal(err)
			}
		}
		got := replayAll(t, s)
		if len(got) != 5 || got[0].N != 0 || got[4].N != 4 {
			t.Fatalf("replayed %+v, want 5 entries in order", got)
		}
		if s.Size() != 0 {
			t.Fatalf("size %d after replay, want 0", s.Size())
		}
		if got := replayAll(t, s); len(got) != 0 {
			t.Fatalf("second replay handed %d entries: segments not removed", len(got))
		}
	})
	t.Run("SurvivesReopen", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir, 1<<20)
		_ = s.Append(entry{Key: "a"})
		_ = s.Append(entry{Key: "b"})
		_ = s.Close() // the process ends; a new one opens the directory
		again := mustOpen(t, dir, 1<<20)
		if again.Size() == 0 {
			t.Fatal("a reopened spool counts no bytes")
		}
		if got := replayAll(t, again); len(got) != 2 || got[1].Key != "b" {
			t.Fatalf("replayed %+v after reopen, want a, b", got)
		}
	})
	t.Run("ErrFull", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), 64)
		var err error
		n := 0
		for ; n < 10 && err == nil; n++ {
			err = s.Append(entry{Key: "0123456789"})
		}
		if !errors.Is(err, spool.ErrFull) {
			t.Fatalf("Append past the limit = %v, want ErrFull", err)
		}
		if s.Size() > 64 {
			t.Fatalf("size %d past the limit 64", s.Size())
		}
		if got := replayAll(t, s); len(got) != n-1 {
			t.Fatalf("replayed %d, want the %d accepted", len(got), n-1)
		}
		if err := s.Append(entry{Key: "room again"}); err != nil {
			t.Fatalf("Append after replay freed room: %v", err)
		}
	})
	t.Run("FailedReplayKeepsEntries", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), 1<<20)
		_ = s.Append(entry{N: 1})
		_ = s.Append(entry{N: 2})
		calls := 0
		n, err := s.Replay(func(json.RawMessage) error {
			calls++
			if calls == 2 {
				return errors.New("database unreachable")
			}
			return nil
		})
		if err == nil || n != 1 {
			t.Fatalf("Replay = %d, %v; want 1 and the error", n, err)
		}
		if got := replayAll(t, s); len(got) != 2 {
			t.Fatalf("replayed %d after a failed replay, want both again (the first is idempotent)", len(got))
		}
	})
	t.Run("TornTailSkipped", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir, 1<<20)
		_ = s.Append(entry{Key: "whole"})
		_ = s.Close()
		segs, _ := filepath.Glob(filepath.Join(dir, "test-*.jsonl"))
		if len(segs) != 1 {
			t.Fatalf("%d segments, want 1", len(segs))
		}
		f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString(`{"key":"tor`) // the process died inside a write
		_ = f.Close()
		again := mustOpen(t, dir, 1<<20)
		if got := replayAll(t, again); len(got) != 1 || got[0].Key != "whole" {
			t.Fatalf("replayed %+v, want only the whole entry", got)
		}
	})
	t.Run("Clear", func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), 1<<20)
		_ = s.Append(entry{})
		if err := s.Clear(); err != nil {
			t.Fatal(err)
		}
		if s.Size() != 0 || len(replayAll(t, s)) != 0 {
			t.Fatal("entries left after Clear")
		}
	})
}
