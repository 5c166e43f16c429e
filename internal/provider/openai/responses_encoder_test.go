package openai_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/responses"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// sseEvents splits encoder output into SDK stream events, checking the SSE
// event name agrees with the data's type.
func sseEvents(t *testing.T, out []byte) []responses.ResponseStreamEventUnion {
	t.Helper()
	var evs []responses.ResponseStreamEventUnion
	for _, block := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
		head, data, ok := strings.Cut(block, "\ndata: ")
		if !ok {
			t.Fatalf("malformed event %q", block)
		}
		var ev responses.ResponseStreamEventUnion
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if head != "event: "+ev.Type {
			t.Errorf("SSE %q carries data of type %q", head, ev.Type)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestResponsesStreamEncoderFail(t *testing.T) {
	meta := openai.ResponseMeta{ID: "resp_f", CreatedAt: 1, Model: "m"}
	t.Run("BeforeStart", func(t *testing.T) {
		e := openai.NewResponsesStreamEncoder(nil, meta)
		evs := sseEvents(t, e.Fail(nil, "rate_limit_exceeded", "slow down"))
		if len(evs) != 1 || evs[0].Type != "error" || evs[0].Code != "rate_limit_exceeded" || evs[0].Message != "slow down" || evs[0].SequenceNumber != 0 {
			t.Errorf("events = %+v", evs)
		}
	})
	t.Run("MidStream", func(t *testing.T) {
		e := openai.NewResponsesStreamEncoder(nil, meta)
		out := e.Start(nil)
		out = e.Encode(out, &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "Hel"}}})
		out = e.Fail(out, "server_error", "upstream broke")
		out = e.Finish(out, nil) // ignored after Fail
		evs := sseEvents(t, out)
		last := evs[len(evs)-1]
		if last.Type != "response.failed" || int(last.SequenceNumber) != len(evs)-1 {
			t.Fatalf("last event = %s #%d of %d", last.Type, last.SequenceNumber, len(evs))
		}
		r := last.AsResponseFailed().Response
		if r.Status != responses.ResponseStatusFailed || r.Error.Code != "server_error" || r.Error.Message != "upstream broke" || len(r.Output) != 1 {
			t.Errorf("failed response = %+v", r)
		}
		if !strings.Contains(string(e.Response()), `"status":"failed"`) {
			t.Errorf("Response() = %s", e.Response())
		}
	})
}

func TestResponsesStreamEncoderIncomplete(t *testing.T) {
	e := openai.NewResponsesStreamEncoder(nil, openai.ResponseMeta{ID: "resp_i", Model: "m"})
	out := e.Encode(nil, &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "cut"}}})
	out = e.Encode(out, &provider.StreamChunk{Choices: []provider.ChunkChoice{{FinishReason: provider.FinishLength}}, Usage: &provider.Usage{InputTokens: 2, OutputTokens: 9, CacheWriteTokens: 1}})
	evs := sseEvents(t, e.Finish(out, nil))
	if evs[0].Type != "response.created" || evs[1].Type != "response.in_progress" {
		t.Errorf("stream starts with %s, %s", evs[0].Type, evs[1].Type)
	}
	last := evs[len(evs)-1]
	r := last.AsResponseIncomplete().Response
	if last.Type != "response.incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Usage.OutputTokens != 9 ||
		r.Usage.InputTokensDetails.CacheWriteTokens != 1 || r.Output[0].AsMessage().Status != "incomplete" {
		t.Errorf("last = %s %+v", last.Type, r)
	}
	if obj := e.Response(); !json.Valid(obj) || !strings.Contains(string(obj), `"status":"incomplete"`) {
		t.Errorf("Response() = %s", obj)
	}
}

func TestCompletedResponse(t *testing.T) {
	for _, tc := range []struct {
		event string
		ok    bool
	}{
		{`{"type":"response.completed","sequence_number":9,"response":{"id":"r"}}`, true},
		{`{"type":"response.failed","response":{"id":"r"}}`, true},
		{`{"type":"response.created","response":{"id":"r"}}`, false},
		{`{"type":"response.completed","response":null}`, false},
		{`not json`, false},
	} {
		got, ok := openai.CompletedResponse([]byte(tc.event))
		if ok != tc.ok || ok && string(got) != `{"id":"r"}` {
			t.Errorf("CompletedResponse(%s) = %s, %v", tc.event, got, ok)
		}
	}
}

func BenchmarkDecodeResponsesRequest(b *testing.B) {
	body := []byte(conversationBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openai.DecodeResponsesRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}
