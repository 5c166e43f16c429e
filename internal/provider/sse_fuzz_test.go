package provider_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/chorusgw/chorus/internal/provider"
)

type sseEvent struct {
	name string
	data string
}

// readAll reads every event from r, at most one per input byte plus one:
// a reader that returns more is not consuming its input.
func readAll(t *testing.T, r io.Reader, limit int) ([]sseEvent, error) {
	t.Helper()
	s := provider.NewSSEReader(r)
	var out []sseEvent
	for range limit + 1 {
		name, data, err := s.Next()
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{name, string(data)})
	}
	t.Fatalf("more than %d events from %d bytes", limit, limit)
	return nil, nil
}

// FuzzSSEReader checks that the SSE parser never panics, always ends, never
// dispatches an empty event, and frames a stream the same whether it
// arrives whole or one byte at a time (upstreams split events anywhere).
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n",
		"event: message_start\ndata: {}\n\nevent: ping\n\n",
		"data: a\r\ndata: b\r\n\r\n: comment\r\n\r\ndata: [DONE]\n\n",
		"data:no-space\nid: 1\nretry: 5\n\n",
		"data: last event without its blank line",
		"event: e\n", ":\n\n\n", "data\n\n", "\r\n\r\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		whole, werr := readAll(t, bytes.NewReader(b), len(b))
		split, serr := readAll(t, iotest.OneByteReader(bytes.NewReader(b)), len(b))
		if !errors.Is(werr, io.EOF) && !errors.Is(werr, io.ErrUnexpectedEOF) {
			t.Fatalf("whole: err = %v, want io.EOF", werr)
		}
		if !errors.Is(werr, serr) {
			t.Fatalf("err whole = %v, one byte at a time = %v", werr, serr)
		}
		if len(whole) != len(split) {
			t.Fatalf("%d events whole, %d one byte at a time", len(whole), len(split))
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("event %d: whole %+v, one byte at a time %+v", i, whole[i], split[i])
			}
			if whole[i].name == "" && whole[i].data == "" && !bytes.Contains(b, []byte("data")) {
				t.Fatalf("event %d dispatched with neither a name nor data", i)
			}
		}
	})
}
