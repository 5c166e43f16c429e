package mockupstream_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/bench/mockupstream"
)

func post(t *testing.T, h http.Handler, path, body string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	b, _ := io.ReadAll(rec.Body)
	return rec, string(b)
}

func TestChat(t *testing.T) {
	s := mockupstream.New(mockupstream.Options{Chunks: 3})
	rec, body := post(t, s, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got struct {
		Object string `json:"object"`
		Usage  struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	if got.Object != "chat.completion" || got.Usage.PromptTokens != mockupstream.PromptTokens ||
		got.Usage.CompletionTokens != mockupstream.CompletionTokens {
		t.Fatalf("got %+v", got)
	}
}

func TestChatStream(t *testing.T) {
	s := mockupstream.New(mockupstream.Options{Chunks: 3})
	for _, tc := range []struct {
		name      string
		body      string
		wantUsage bool
	}{
		{"OK", `{"model":"m","stream": true}`, false},
		{"IncludeUsage", `{"model":"m","stream":true,"stream_options":{"include_usage" : true}}`, true},
		{"UsageOff", `{"model":"m","stream":true,"stream_options":{"include_usage":false}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, body := post(t, s, "/v1/chat/completions", tc.body)
			if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			events := strings.Split(strings.TrimSpace(body), "\n\n")
			// role chunk, 3 content chunks, finish chunk, [usage], [DONE]
			want := 6
			if tc.wantUsage {
				want = 7
			}
			if len(events) != want || events[len(events)-1] != "data: [DONE]" {
				t.Fatalf("got %d events, want %d:\n%s", len(events), want, body)
			}
			for _, e := range events[:len(events)-1] {
				var v map[string]any
				if err := json.Unmarshal([]byte(strings.TrimPrefix(e, "data: ")), &v); err != nil {
					t.Fatalf("event %q: %v", e, err)
				}
			}
			if got := strings.Contains(body, `"usage"`); got != tc.wantUsage {
				t.Fatalf("usage chunk present: %v, want %v", got, tc.wantUsage)
			}
		})
	}
}

func TestEmbeddingsAndNotFound(t *testing.T) {
	s := mockupstream.New(mockupstream.Options{})
	rec, body := post(t, s, "/v1/embeddings", `{"model":"m","input":"hi"}`)
	if rec.Code != http.StatusOK || !json.Valid([]byte(body)) {
		t.Fatalf("embeddings: status %d, body %s", rec.Code, body)
	}
	if rec, _ := post(t, s, "/v1/other", `{}`); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown path: status %d, want 404", rec.Code)
	}
	chats, streams, embeds := s.Counts()
	if chats != 0 || streams != 0 || embeds != 1 {
		t.Fatalf("counts %d %d %d", chats, streams, embeds)
	}
}
