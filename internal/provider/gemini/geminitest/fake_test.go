package geminitest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
)

// post sends body to the fake at path (below the base URL) with an API key
// unless noKey, and returns the status and body.
func post(t *testing.T, f *geminitest.Server, path, body string, noKey bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !noKey {
		req.Header.Set("x-goog-api-key", "k")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const helloBody = `{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}`

func TestRejects(t *testing.T) {
	tests := []struct {
		name       string
		path, body string
		noKey      bool
		wantStatus int
		wantName   string
	}{
		{"NoKey", "/models/m:generateContent", helloBody, true, 403, "PERMISSION_DENIED"},
		{"UnknownPath", "/chat/completions", helloBody, false, 404, "NOT_FOUND"},
		{"UnknownMethod", "/models/m:countTokens", helloBody, false, 404, "NOT_FOUND"},
		{"BadJSON", "/models/m:generateContent", `{"contents":`, false, 400, "INVALID_ARGUMENT"},
		{"NoContents", "/models/m:generateContent", `{}`, false, 400, "INVALID_ARGUMENT"},
		{"EmptyParts", "/models/m:generateContent", `{"contents":[{"role":"user","parts":[]}]}`, false, 400, "INVALID_ARGUMENT"},
		{"EmptyPart", "/models/m:generateContent", `{"contents":[{"role":"user","parts":[{}]}]}`, false, 400, "INVALID_ARGUMENT"},
		{"AssistantRole", "/models/m:generateContent", `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, false, 400, "INVALID_ARGUMENT"},
		{"BadBase64", "/models/m:generateContent", `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"***"}}]}]}`, false, 400, "INVALID_ARGUMENT"},
		{"UnnamedResponse", "/models/m:generateContent", `{"contents":[{"role":"user","parts":[{"functionResponse":{"response":{}}}]}]}`, false, 400, "INVALID_ARGUMENT"},
		{"ArgsArray", "/models/m:generateContent", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, false, 400, "INVALID_ARGUMENT"},
		{"SchemaWithoutJSON", "/models/m:generateContent", `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"responseJsonSchema":{}}}`, false, 400, "INVALID_ARGUMENT"},
		{"BadMode", "/models/m:generateContent", `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"REQUIRED"}}}`, false, 400, "INVALID_ARGUMENT"},
		{"EmbedModelMismatch", "/models/m:batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"x"}]}}]}`, false, 400, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := geminitest.New(t)
			f.Script(conformance.Scenario{Text: "ok"})
			status, body := post(t, f, tt.path, tt.body, tt.noKey)
			var env struct {
				Error struct {
					Code   int    `json:"code"`
					Status string `json:"status"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if status != tt.wantStatus || env.Error.Code != tt.wantStatus || env.Error.Status != tt.wantName {
				t.Errorf("got %d %s, want %d %s", status, body, tt.wantStatus, tt.wantName)
			}
			if f.Requests() != 1 {
				t.Errorf("Requests() = %d, want 1", f.Requests())
			}
		})
	}
}

func TestStreamFraming(t *testing.T) {
	sc := conformance.Scenario{Text: "a b c d e", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 2, OutputTokens: 3}}
	t.Run("SSE", func(t *testing.T) {
		for _, crlf := range []bool{false, true} {
			f := geminitest.New(t)
			f.ScriptGemini(sc, geminitest.Options{CRLF: crlf})
			_, body := post(t, f, "/models/m:streamGenerateContent?alt=sse", helloBody, false)
			sep := "\n\n"
			if crlf {
				sep = "\r\n\r\n"
			}
			events := strings.Split(strings.TrimSuffix(body, sep), sep)
			if len(events) != 3 {
				t.Fatalf("crlf=%v: %d events in %q, want 3", crlf, len(events), body)
			}
			for _, e := range events {
				data, ok := strings.CutPrefix(e, "data: ")
				if !ok || !json.Valid([]byte(data)) {
					t.Errorf("crlf=%v: event %q is not data: {json}", crlf, e)
				}
			}
			if !strings.Contains(events[2], `"finishReason":"STOP"`) || !strings.Contains(events[2], `"candidatesTokenCount":3`) {
				t.Errorf("last event %q lacks the finish reason and full usage", events[2])
			}
		}
	})
	t.Run("ArrayWithoutAltSSE", func(t *testing.T) {
		f := geminitest.New(t)
		f.Script(sc)
		_, body := post(t, f, "/models/m:streamGenerateContent", helloBody, false)
		var events []map[string]any
		if err := json.Unmarshal([]byte(body), &events); err != nil || len(events) != 3 {
			t.Errorf("body %q (%v), want a JSON array of 3 responses", body, err)
		}
	})
	t.Run("MidStreamError", func(t *testing.T) {
		f := geminitest.New(t)
		f.Script(conformance.Scenario{Text: "a b c d e", StreamErrorAfter: 1, ErrType: "UNAVAILABLE", ErrMessage: "gone"})
		_, body := post(t, f, "/models/m:streamGenerateContent?alt=sse", helloBody, false)
		events := strings.Split(strings.TrimSpace(body), "\n\n")
		if len(events) != 2 || events[1] != `data: {"error":{"code":500,"message":"gone","status":"UNAVAILABLE"}}` {
			t.Errorf("events = %q, want one content event then the error", events)
		}
	})
}

func TestCaptured(t *testing.T) {
	f := geminitest.New(t)
	f.Script(conformance.Scenario{Text: "ok"})
	body := `{
		"systemInstruction": {"parts": [{"text": "Rule one."}, {"text": "Rule two."}]},
		"contents": [
			{"role": "user", "parts": [{"text": "Look"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}, {"fileData": {"fileUri": "https://x/y.png"}}]},
			{"role": "model", "parts": [{"text": "thinking", "thought": true}, {"functionCall": {"name": "f", "args": {}}}, {"functionCall": {"id": "c2", "name": "g"}}]},
			{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"content": "done"}}}, {"functionResponse": {"id": "c2", "name": "g", "response": {"content": {"n": 1}}}}, {"text": "Next"}]}
		],
		"tools": [{"functionDeclarations": [{"name": "f"}, {"name": "g", "parametersJsonSchema": {"type": "object"}}]}],
		"generationConfig": {"maxOutputTokens": 12, "temperature": 0.5, "stopSequences": ["X"]}
	}`
	if status, resp := post(t, f, "/models/gemini-x:generateContent", body, false); status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	c := f.Last()
	if c.Model != "gemini-x" || c.Stream || c.MaxTokens != 12 || c.Temperature == nil || *c.Temperature != 0.5 ||
		len(c.Stop) != 1 || c.System != "Rule one.\nRule two." || strings.Join(c.ToolNames, ",") != "f,g" {
		t.Errorf("captured = %+v", c)
	}
	want := []conformance.CapturedMessage{
		{Role: "user", Text: "Look", Images: 2},
		{Role: "assistant", ToolCallIDs: []string{"f", "c2"}},
		{Role: "tool", Text: "done", ToolResult: "f"},
		{Role: "tool", Text: `{"n": 1}`, ToolResult: "c2"},
		{Role: "user", Text: "Next"},
	}
	if len(c.Messages) != len(want) {
		t.Fatalf("captured messages %+v, want %+v", c.Messages, want)
	}
	for i, w := range want {
		g := c.Messages[i]
		if g.Role != w.Role || g.Text != w.Text || g.Images != w.Images || g.ToolResult != w.ToolResult ||
			strings.Join(g.ToolCallIDs, ",") != strings.Join(w.ToolCallIDs, ",") {
			t.Errorf("message %d = %+v, want %+v", i, g, w)
		}
	}
}
