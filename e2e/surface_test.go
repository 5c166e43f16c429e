package e2e_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// TestSurface covers the rest of the client-facing surface: odd model
// names, streamed n>1, deployment headers, Azure, embeddings through every
// upstream kind, request IDs and request validation details.
func TestSurface(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("org/model-x", map[string]any{"text": "slash works"})
	g.simulated("sim", map[string]any{"output_tokens": 12, "seed": 5})

	oai := openaitest.New(t)
	cred := g.createCredential("oai-cred", "openai", "sk-headers")
	hm := g.createModel(modelSpec{Name: "with-headers"})
	g.createDeployment(deploymentSpec{ModelID: hm.ID, Name: "with-headers-dep", Provider: "openai", UpstreamModel: "gpt-h",
		BaseURL: oai.URL(), CredentialID: &cred.ID, Headers: map[string]string{"X-Team": "e2e", "OpenAI-Organization": "org-42"}})

	az := openaitest.NewAzure(t)
	azc := g.createCredential("azure-cred", "azure", "azure-secret-key")
	am := g.createModel(modelSpec{Name: "azure-gpt"})
	g.createDeployment(deploymentSpec{ModelID: am.ID, Name: "azure-dep", Provider: "azure", UpstreamModel: "my-deployment",
		BaseURL: az.URL(), CredentialID: &azc.ID, Settings: map[string]any{"api_version": "2024-10-21"}})

	gem := geminitest.New(t)
	gem.Script(conformance.Scenario{Embeddings: [][]float32{{0.5, -0.25, 1}, {0.125, 2, -3}}, Usage: provider.Usage{InputTokens: 6}})
	gc := g.createCredential("gem-cred", "gemini", "goog-key")
	ge := g.createModel(modelSpec{Name: "gem-embed", Kind: chorus.KindEmbedding})
	g.createDeployment(deploymentSpec{ModelID: ge.ID, Name: "gem-embed-dep", Provider: "gemini", UpstreamModel: "text-embedding-004",
		BaseURL: gem.URL(), CredentialID: &gc.ID})
	oe := g.createModel(modelSpec{Name: "oai-embed", Kind: chorus.KindEmbedding})
	g.createDeployment(deploymentSpec{ModelID: oe.ID, Name: "oai-embed-dep", Provider: "openai", UpstreamModel: "text-embedding-3-small",
		BaseURL: oai.URL(), CredentialID: &cred.ID})

	key := g.customer()
	c := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)

	t.Run("ModelNameWithSlash", func(t *testing.T) {
		resp, err := c.Chat.Completions.New(ctx, chatParams("org/model-x", "hi"))
		if err != nil || resp.Choices[0].Message.Content != "slash works" {
			t.Fatalf("chat: %v %+v", err, resp)
		}
		m, err := c.Models.Get(ctx, "org/model-x")
		if err != nil || m.ID != "org/model-x" {
			t.Errorf("get org/model-x = %+v, %v", m, err)
		}
		r := g.do("GET", "/v1/models/"+url.PathEscape("org/model-x"), key.Key, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"org/model-x"`) {
			t.Errorf("GET with an escaped slash: %d %s", r.Status, r.Body)
		}
	})

	t.Run("StreamN2", func(t *testing.T) {
		p := chatParams("sim", "two answers")
		p.N = openai.Int(2)
		plain, err := c.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		p.StreamOptions.IncludeUsage = openai.Bool(true)
		s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p))
		if len(s.acc.Choices) != 2 {
			t.Fatalf("streamed choices = %d, want 2", len(s.acc.Choices))
		}
		for i, ch := range s.acc.Choices {
			if ch.Index != int64(i) || ch.Message.Content != plain.Choices[i].Message.Content || ch.FinishReason != "stop" {
				t.Errorf("streamed choice %d = %d %q %q, want %q", i, ch.Index, ch.Message.Content, ch.FinishReason, plain.Choices[i].Message.Content)
			}
		}
		if s.usageChunks != 1 || s.acc.Usage.CompletionTokens != 24 {
			t.Errorf("usage %+v in %d chunks, want 24 completion tokens once", s.acc.Usage, s.usageChunks)
		}
	})

	t.Run("DeploymentHeaders", func(t *testing.T) {
		if _, err := c.Chat.Completions.New(ctx, chatParams("with-headers", "hi"), option.WithHeader("X-Client-Secret", "do-not-forward")); err != nil {
			t.Fatal(err)
		}
		h := oai.Last().Header
		if h.Get("X-Team") != "e2e" || h.Get("OpenAI-Organization") != "org-42" || h.Get("Authorization") != "Bearer sk-headers" {
			t.Errorf("upstream headers = %v, want the deployment's", h)
		}
		if h.Get("X-Client-Secret") != "" {
			t.Error("a client header was forwarded to the upstream")
		}
	})

	t.Run("Azure", func(t *testing.T) {
		p := chatParams("azure-gpt", "hi")
		p.StreamOptions.IncludeUsage = openai.Bool(true)
		resp, err := c.Chat.Completions.New(ctx, chatParams("azure-gpt", "hi"))
		if err != nil || resp.Choices[0].Message.Content != "Hello from the fake." {
			t.Fatalf("chat: %v %+v", err, resp)
		}
		last := az.Last()
		if last.Path != "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21" {
			t.Errorf("upstream path = %q", last.Path)
		}
		if last.Header.Get("Api-Key") != "azure-secret-key" || last.Header.Get("Authorization") != "" {
			t.Errorf("upstream auth: api-key %q authorization %q", last.Header.Get("Api-Key"), last.Header.Get("Authorization"))
		}
		s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p))
		if s.acc.Choices[0].Message.Content != "Hello from the fake." || s.usageChunks != 1 {
			t.Errorf("stream: %q, %d usage chunks", s.acc.Choices[0].Message.Content, s.usageChunks)
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		for _, tc := range []struct {
			model string
			want  [][]float32
		}{
			{"oai-embed", [][]float32{{0.1, 0.2, 0.3}, {0.1, 0.2, 0.3}}},
			{"gem-embed", [][]float32{{0.5, -0.25, 1}, {0.125, 2, -3}}},
		} {
			for _, format := range []openai.EmbeddingNewParamsEncodingFormat{"", openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
				e, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: tc.model, EncodingFormat: format,
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first", "second"}}})
				if err != nil {
					t.Fatalf("%s %q: %v", tc.model, format, err)
				}
				if len(e.Data) != 2 {
					t.Fatalf("%s %q: %d vectors", tc.model, format, len(e.Data))
				}
				for i, d := range e.Data {
					got := make([]float64, len(tc.want[i]))
					for j, f := range tc.want[i] {
						got[j] = float64(f)
					}
					if !equalFloat32(d.Embedding, got) || d.Index != int64(i) {
						t.Errorf("%s %q: vector %d = %v (index %d), want %v", tc.model, format, i, d.Embedding, d.Index, tc.want[i])
					}
				}
			}
		}
		if in := gem.Last().Inputs; len(in) != 2 || in[0] != "first" || in[1] != "second" {
			t.Errorf("gemini got inputs %v", in)
		}
	})

	t.Run("RequestID", func(t *testing.T) {
		for _, bad := range []string{"has space", strings.Repeat("x", 200), "tab\there"} {
			r := g.do("GET", "/v1/models", key.Key, nil, "X-Request-Id", bad)
			if got := r.Header.Get("X-Request-Id"); !requestIDPattern.MatchString(got) {
				t.Errorf("X-Request-Id %q was answered with %q, want a fresh req_ ID", bad, got)
			}
		}
		r := g.do("POST", "/v1/chat/completions", "sk-wrong-0000000000000000", `{}`)
		if r.Status != 401 || !requestIDPattern.MatchString(r.Header.Get("X-Request-Id")) {
			t.Errorf("401 answer: %d, X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
		}
	})

	t.Run("Validation", func(t *testing.T) {
		cases := []struct {
			name, body, param string
		}{
			{"MaxTokensZero", `{"model":"sim","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens"},
			{"NegativeN", `{"model":"sim","n":-1,"messages":[{"role":"user","content":"hi"}]}`, "n"},
			{"BadRole", `{"model":"sim","messages":[{"role":"wizard","content":"hi"}]}`, "messages[0].role"},
			{"NoModel", `{"messages":[{"role":"user","content":"hi"}]}`, "model"},
			{"StopTooMany", `{"model":"sim","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"hi"}]}`, "stop"},
			{"TopP", `{"model":"sim","top_p":2,"messages":[{"role":"user","content":"hi"}]}`, "top_p"},
			{"TemperatureType", `{"model":"sim","temperature":"hot","messages":[{"role":"user","content":"hi"}]}`, "temperature"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				wantAPIError(t, g.do("POST", "/v1/chat/completions", key.Key, tc.body), 400, "invalid_request_error", tc.param)
			})
		}
		ac := g.anthropic(key.Key)
		p := messageParams("sim", "hi")
		p.Temperature = anthropic.Float(1.5)
		_, err := ac.Messages.New(ctx, p)
		wantAnthropicError(t, err, 400, "invalid_request_error")
	})

	t.Run("UsageFilters", func(t *testing.T) {
		// Wait for the writer to settle (it flushes every 200 ms).
		recs := g.listUsage(key.ID)
		for range 20 {
			time.Sleep(250 * time.Millisecond)
			again := g.listUsage(key.ID)
			if len(again) == len(recs) && len(recs) > 0 {
				break
			}
			recs = again
		}
		if len(recs) == 0 {
			t.Fatal("no usage recorded")
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		past := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		var p usagePage
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/usage?key_id=%d&since=%s", key.ID, future), nil, http.StatusOK, &p)
		if len(p.Data) != 0 {
			t.Errorf("since the future: %d records", len(p.Data))
		}
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/usage?key_id=%d&until=%s", key.ID, past), nil, http.StatusOK, &p)
		if len(p.Data) != 0 {
			t.Errorf("until an hour ago: %d records", len(p.Data))
		}
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/usage?user_id=%d&since=%s", key.UserID, past), nil, http.StatusOK, &p)
		if len(p.Data) != len(recs) {
			t.Errorf("by user since an hour ago: %d records, want %d", len(p.Data), len(recs))
		}
	})
}
