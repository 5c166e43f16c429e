package cache_test

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name            string
		def, key, route int
		want            cache.Policy
	}{
		{"OptInByDefault", 0, 0, 0, cache.Policy{}},
		{"Key", 0, 60, 0, cache.Policy{Enabled: true, TTL: time.Minute}},
		{"Route", 0, 0, 120, cache.Policy{Enabled: true, TTL: 2 * time.Minute}},
		{"ShortestWins", 0, 600, 60, cache.Policy{Enabled: true, TTL: time.Minute}},
		{"DefaultWhenUnset", 3600, 0, 0, cache.Policy{Enabled: true, TTL: time.Hour}},
		{"KeyOverDefault", 3600, 60, 0, cache.Policy{Enabled: true, TTL: time.Minute}},
		{"KeyLongerThanDefault", 60, 3600, 0, cache.Policy{Enabled: true, TTL: time.Hour}},
		{"KeyOptsOut", 3600, -1, 60, cache.Policy{}},
		{"RouteOptsOut", 0, 60, -1, cache.Policy{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cache.Decide(tc.def, tc.key, tc.route); got != tc.want {
				t.Fatalf("Decide(%d, %d, %d) = %+v, want %+v", tc.def, tc.key, tc.route, got, tc.want)
			}
		})
	}
}

func TestBypass(t *testing.T) {
	for _, tc := range []struct {
		name            string
		header          http.Header
		bypass, noStore bool
	}{
		{"None", http.Header{}, false, false},
		{"NoCache", http.Header{"Cache-Control": {"no-cache"}}, true, false},
		{"NoStore", http.Header{"Cache-Control": {"max-age=0, No-Store"}}, true, true},
		{"SecondHeader", http.Header{"Cache-Control": {"max-age=10", "no-cache"}}, true, false},
		{"OtherDirective", http.Header{"Cache-Control": {"max-age=0, no-transform"}}, false, false},
		{"ChorusHeader", http.Header{"X-Chorus-Cache": {"Bypass"}}, true, false},
		{"ChorusHeaderOther", http.Header{"X-Chorus-Cache": {"hit"}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cache.Bypass(tc.header); got != tc.bypass {
				t.Fatalf("Bypass = %v, want %v", got, tc.bypass)
			}
			if got := cache.NoStore(tc.header); got != tc.noStore {
				t.Fatalf("NoStore = %v, want %v", got, tc.noStore)
			}
		})
	}
}

func TestCacheableResponse(t *testing.T) {
	resp := func(reasons ...provider.FinishReason) *provider.ChatResponse {
		r := &provider.ChatResponse{}
		for i, f := range reasons {
			r.Choices = append(r.Choices, provider.Choice{Index: i, FinishReason: f})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		resp *provider.ChatResponse
		want bool
	}{
		{"Stop", resp(provider.FinishStop), true},
		{"Length", resp(provider.FinishLength), true},
		{"ToolCalls", resp(provider.FinishToolCalls, provider.FinishStop), true},
		{"ContentFilter", resp(provider.FinishStop, provider.FinishContentFilter), false},
		{"Unfinished", resp(""), false},
		{"NoChoices", resp(), false},
		{"Nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cache.CacheableResponse(tc.resp); got != tc.want {
				t.Fatalf("CacheableResponse = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHitCost(t *testing.T) {
	for _, tc := range []struct {
		original int64
		fraction float64
		want     int64
	}{
		{1000, 0, 0},
		{1000, 0.1, 100},
		{1001, 0.1, 101}, // rounded up, as every cost
		{3, 0.5, 2},
		{1000, 1, 1000},
		{0, 0.5, 0},
	} {
		if got := cache.HitCost(tc.original, tc.fraction); got != tc.want {
			t.Errorf("HitCost(%d, %g) = %d, want %d", tc.original, tc.fraction, got, tc.want)
		}
	}
}

func TestEntryChat(t *testing.T) {
	e := chatEntry()
	r := e.Chat("chatcmpl-new", 42)
	if r.ID != "chatcmpl-new" || r.Created != 42 || r.Raw != nil || r.RawFormat != "" {
		t.Fatalf("Chat = %+v", r)
	}
	if e.Response.ID != "chatcmpl-1" || e.Response.Created != 1_700_000_000 {
		t.Fatal("Chat changed the cached entry")
	}
	if (&cache.Entry{}).Chat("x", 1) != nil {
		t.Fatal("Chat of an embedding entry is not nil")
	}
}

// record plays resp through orchestrate.Replay, as a streamed answer, into
// a Recorder.
func record(t *testing.T, resp *provider.ChatResponse, max int) *cache.Recorder {
	t.Helper()
	rec := cache.NewRecorder(max)
	st := orchestrate.Replay(resp)
	for {
		c, err := st.Next()
		if err == io.EOF {
			return rec
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.Add(c)
	}
}

func TestRecorder(t *testing.T) {
	t.Run("RebuildsAStreamedAnswer", func(t *testing.T) {
		want := chatEntry().Response
		want.Raw, want.RawFormat = nil, ""
		want.Choices[0].Message.Content[0].Text = strings.Repeat("long text é ", 40)
		got, ok := record(t, want, 0).Response()
		if !ok {
			t.Fatal("complete answer not recorded")
		}
		want.Choices[1].Message.Name = "" // a stream carries no name...
		want.SystemFingerprint = ""       // ...nor fingerprint
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("Unfinished", func(t *testing.T) {
		rec := cache.NewRecorder(0)
		rec.Add(&provider.StreamChunk{ID: "x", Choices: []provider.ChunkChoice{{Role: "assistant", Content: "partial"}}})
		if _, ok := rec.Response(); ok {
			t.Fatal("answer without a finish reason recorded")
		}
	})
	t.Run("ContentFilter", func(t *testing.T) {
		resp := &provider.ChatResponse{Choices: []provider.Choice{{FinishReason: provider.FinishContentFilter, Message: provider.TextMessage("assistant", "x")}}}
		if _, ok := record(t, resp, 0).Response(); ok {
			t.Fatal("filtered answer recorded")
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		resp := &provider.ChatResponse{Choices: []provider.Choice{{FinishReason: provider.FinishStop, Message: provider.TextMessage("assistant", strings.Repeat("x", 1000))}}}
		if _, ok := record(t, resp, 999).Response(); ok {
			t.Fatal("answer over the limit recorded")
		}
		if _, ok := record(t, resp, 1000).Response(); !ok {
			t.Fatal("answer at the limit not recorded")
		}
	})
	t.Run("RawOnlyChunksIgnored", func(t *testing.T) {
		rec := cache.NewRecorder(0)
		rec.Add(&provider.StreamChunk{Raw: []byte(`{"type":"ping"}`), RawFormat: provider.FormatAnthropic})
		if _, ok := rec.Response(); ok {
			t.Fatal("a ping made an answer")
		}
	})
}
