package e2e_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

// scorePage is GET /api/admin/quality/scores's answer.
type scorePage struct {
	Data    []chorus.ScoreRecord `json:"data"`
	HasMore bool                 `json:"has_more"`
}

// feedbackAnswer is POST /v1/feedback's answer.
type feedbackAnswer struct {
	Object string `json:"object"`
	chorus.Feedback
}

// qualityReport is GET /api/admin/quality's answer.
type qualityReport struct {
	Object  string            `json:"object"`
	Since   time.Time         `json:"since"`
	Until   time.Time         `json:"until"`
	Formula string            `json:"formula"`
	Models  []quality.Summary `json:"models"`
	Routes  []quality.Summary `json:"routes"`
}

// waitScores polls until the answer has n scores (the runner evaluates off
// the request path and writes in batches).
func (g *gateway) waitScores(t *testing.T, responseID string, n int) []chorus.ScoreRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var p scorePage
		r := g.admin("GET", "/api/admin/quality/scores?response_id="+url.QueryEscape(responseID), nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET scores = %d %s", r.Status, r.Body)
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Data) >= n {
			if len(p.Data) > n {
				t.Fatalf("response %s has %d scores, want %d: %+v", responseID, len(p.Data), n, p.Data)
			}
			return p.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("response %s has %d scores after 10s, want %d (is the request path submitting answers? "+
				"chat.go calls s.submitScoring after a non-streamed answer)", responseID, len(p.Data), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQuality drives scoring, feedback and the quality reports through the
// real gateway: a structured-output request is scored against its own
// schema off the request path, its client rates it, and the admin API shows
// both.
func TestQuality(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	ctx := testContext(t, 60*time.Second)

	// Different seeds: the simulator derives answer IDs from the seed and a
	// per-deployment counter, so two fresh deployments would share IDs.
	good := g.simulated(g.unique("qgood"), map[string]any{"text": `{"name": "Ada", "age": 36}`, "seed": 11})
	bad := g.simulated(g.unique("qbad"), map[string]any{"text": `{"name": "Ada", "age": "old"}`, "seed": 12})
	owner := g.customer()
	sibling := g.createKey(keySpec{Name: "sibling", UserID: owner.UserID}) // the same user's other key
	stranger := g.customer()

	schema := func() openai.ChatCompletionNewParamsResponseFormatUnion {
		return openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name: "person", Strict: openai.Bool(true),
				Schema: map[string]any{
					"type": "object", "additionalProperties": false, "required": []string{"name", "age"},
					"properties": map[string]any{"name": map[string]any{"type": "string"}, "age": map[string]any{"type": "integer", "minimum": 0}},
				},
			},
		}}
	}
	ask := func(model string) string {
		t.Helper()
		resp, err := g.openAI(owner.Key).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Describe Ada as JSON.")},
			ResponseFormat: schema(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.ID == "" {
			t.Fatal("the answer has no id")
		}
		return resp.ID
	}
	goodID := ask(good.Model.Name)

	// Feedback right after the answer: its usage record may not be stored
	// yet; the gateway waits for it.
	t.Run("FeedbackCreated", func(t *testing.T) {
		r := g.do("POST", "/v1/feedback", owner.Key, map[string]any{"response_id": goodID, "rating": "thumbs_up", "comment": "exactly right"})
		if r.Status != http.StatusCreated {
			t.Fatalf("status %d %s, want 201", r.Status, r.Body)
		}
		var f feedbackAnswer
		if err := json.Unmarshal(r.Body, &f); err != nil {
			t.Fatal(err)
		}
		if f.Object != "feedback" || f.ID < 1 || f.ResponseID != goodID || f.Rating != chorus.RatingUp || f.Score != nil ||
			f.Comment != "exactly right" || f.KeyID != owner.ID || f.UserID != owner.UserID || f.Model != good.Model.Name || f.RequestID == "" {
			t.Errorf("feedback %+v", f)
		}
	})

	t.Run("ScoredAgainstTheRequestSchema", func(t *testing.T) {
		scores := g.waitScores(t, goodID, 1)
		s := scores[0]
		if s.Scorer != "json_schema" || s.Value != 1 || s.Model != good.Model.Name || s.Deployment != good.Deployment.Name ||
			s.KeyID != owner.ID || s.UserID != owner.UserID || s.RequestID == "" || !strings.Contains(s.Reason, "matches the schema") {
			t.Errorf("score %+v", s)
		}
		badID := ask(bad.Model.Name)
		s = g.waitScores(t, badID, 1)[0]
		if s.Scorer != "json_schema" || s.Value != 0 || !strings.Contains(s.Reason, "$.age") {
			t.Errorf("score of the answer that breaks the schema: %+v", s)
		}
	})

	t.Run("FeedbackReplacedBySecond", func(t *testing.T) {
		var first, second feedbackAnswer
		g.mustFeedback(t, owner.Key, map[string]any{"response_id": goodID, "rating": "up"}, http.StatusOK, &first)
		g.mustFeedback(t, owner.Key, map[string]any{"response_id": goodID, "score": 0.25}, http.StatusOK, &second)
		if second.ID != first.ID || second.Rating != "" || second.Score == nil || *second.Score != 0.25 || second.Comment != "" {
			t.Errorf("second feedback %+v, want the first row (ID %d) replaced", second, first.ID)
		}
		if second.UpdatedAt.Before(second.CreatedAt) {
			t.Errorf("updated_at %v before created_at %v", second.UpdatedAt, second.CreatedAt)
		}
	})

	t.Run("FeedbackFromTheSameUsersOtherKey", func(t *testing.T) {
		var f feedbackAnswer
		g.mustFeedback(t, sibling.Key, map[string]any{"response_id": goodID, "rating": "down"}, http.StatusCreated, &f)
		if f.KeyID != sibling.ID || f.Rating != chorus.RatingDown {
			t.Errorf("feedback %+v", f)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		tests := []struct {
			name   string
			key    string
			body   any
			status int
			typ    string
			param  string
		}{
			{"ErrAnotherUsersAnswer", stranger.Key, map[string]any{"response_id": goodID, "rating": "up"}, 404, "invalid_request_error", "response_id"},
			{"ErrUnknownID", owner.Key, map[string]any{"response_id": "chatcmpl-nope", "rating": "up"}, 404, "invalid_request_error", "response_id"},
			{"ErrBadRating", owner.Key, map[string]any{"response_id": goodID, "rating": "meh"}, 400, "invalid_request_error", "rating"},
			{"ErrNoRatingNorScore", owner.Key, map[string]any{"response_id": goodID, "comment": "hm"}, 400, "invalid_request_error", "rating"},
			{"ErrScoreRange", owner.Key, map[string]any{"response_id": goodID, "score": 1.5}, 400, "invalid_request_error", "score"},
			{"ErrScoreType", owner.Key, map[string]any{"response_id": goodID, "score": "high"}, 400, "invalid_request_error", "score"},
			{"ErrCommentLong", owner.Key, map[string]any{"response_id": goodID, "rating": "up", "comment": strings.Repeat("é", chorus.MaxFeedbackComment+1)}, 400, "invalid_request_error", "comment"},
			{"ErrNoResponseID", owner.Key, map[string]any{"rating": "up"}, 400, "invalid_request_error", "response_id"},
			{"ErrUnknownField", owner.Key, map[string]any{"response_id": goodID, "rating": "up", "stars": 5}, 400, "invalid_request_error", ""},
			{"ErrNotJSON", owner.Key, "{", 400, "invalid_request_error", ""},
			{"ErrNoKey", "", map[string]any{"response_id": goodID, "rating": "up"}, 401, "authentication_error", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				wantAPIError(t, g.do("POST", "/v1/feedback", tt.key, tt.body), tt.status, tt.typ, tt.param)
			})
		}
	})

	t.Run("AdminFeedbackList", func(t *testing.T) {
		var p struct {
			Data []chorus.Feedback `json:"data"`
		}
		g.mustAdmin("GET", "/api/admin/feedback?model="+url.QueryEscape(good.Model.Name), nil, http.StatusOK, &p)
		if len(p.Data) != 2 || p.Data[0].KeyID != owner.ID || p.Data[1].KeyID != sibling.ID {
			t.Errorf("feedback list %+v, want the owner's and the sibling key's", p.Data)
		}
		wantAPIError(t, g.do("GET", "/api/admin/feedback", owner.Key, nil), http.StatusForbidden, "permission_error", "")
		wantAPIError(t, g.do("GET", "/api/admin/quality", owner.Key, nil), http.StatusForbidden, "permission_error", "")
		wantAPIError(t, g.do("GET", "/api/admin/quality/scores", owner.Key, nil), http.StatusForbidden, "permission_error", "")
	})

	t.Run("Report", func(t *testing.T) {
		var rep qualityReport
		g.mustAdmin("GET", "/api/admin/quality?window=1h&model="+url.QueryEscape(good.Model.Name), nil, http.StatusOK, &rep)
		if rep.Object != "quality_report" || rep.Until.Sub(rep.Since) != time.Hour || rep.Formula == "" {
			t.Errorf("report header %+v", rep)
		}
		if len(rep.Models) != 1 || len(rep.Routes) != 0 {
			t.Fatalf("report %+v, want model %s alone", rep, good.Model.Name)
		}
		m := rep.Models[0]
		if m.Name != good.Model.Name || len(m.Scorers) != 1 || m.Scorers[0].Scorer != "json_schema" || m.Scorers[0].Count != 1 || m.Scorers[0].Mean != 1 {
			t.Errorf("scorers %+v", m.Scorers)
		}
		// Feedback: the owner's score 0.25 and the sibling's "down" (0).
		if f := m.Feedback; f == nil || f.Count != 2 || f.Up != 0 || f.Down != 1 || f.Mean != 0.125 {
			t.Errorf("feedback %+v", m.Feedback)
		}
		if want := (1 + 0.125) / 2; m.Quality == nil || math.Abs(*m.Quality-want) > 1e-9 {
			t.Errorf("quality %v, want %v", m.Quality, want)
		}

		var all qualityReport
		g.mustAdmin("GET", "/api/admin/quality", nil, http.StatusOK, &all)
		if len(all.Models) != 2 {
			t.Errorf("default window: %d models, want both scored models", len(all.Models))
		}
		since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		var none qualityReport
		g.mustAdmin("GET", "/api/admin/quality?since="+url.QueryEscape(since)+"&until="+url.QueryEscape(time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339)), nil, http.StatusOK, &none)
		if len(none.Models) != 0 {
			t.Errorf("a window in the future has %d models", len(none.Models))
		}
		for _, tt := range []struct{ query, param string }{
			{"window=2h", "window"}, {"since=yesterday", "since"}, {"until=soon", "until"},
			{"window=1h&since=" + url.QueryEscape(since), "window"},
		} {
			wantAPIError(t, g.admin("GET", "/api/admin/quality?"+tt.query, nil), http.StatusBadRequest, "invalid_request_error", tt.param)
		}
		wantAPIError(t, g.admin("GET", "/api/admin/quality/scores?limit=0", nil), http.StatusBadRequest, "invalid_request_error", "limit")
	})

	t.Run("ScoresPaginate", func(t *testing.T) {
		var p struct {
			Data    []chorus.ScoreRecord `json:"data"`
			HasMore bool                 `json:"has_more"`
			Next    *int64               `json:"next_after"`
		}
		g.mustAdmin("GET", "/api/admin/quality/scores?limit=1", nil, http.StatusOK, &p)
		if len(p.Data) != 1 || !p.HasMore || p.Next == nil {
			t.Fatalf("first page %+v", p)
		}
		first := p.Data[0].ID
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/quality/scores?limit=1&after=%d", *p.Next), nil, http.StatusOK, &p)
		if len(p.Data) != 1 || p.Data[0].ID <= first {
			t.Errorf("second page %+v after ID %d", p.Data, first)
		}
	})
}

// mustFeedback posts feedback with key, fails unless the status is want,
// and decodes the answer.
func (g *gateway) mustFeedback(t *testing.T, key string, body any, want int, out *feedbackAnswer) {
	t.Helper()
	r := g.do("POST", "/v1/feedback", key, body)
	if r.Status != want {
		t.Fatalf("POST /v1/feedback = %d %s, want %d", r.Status, r.Body, want)
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		t.Fatal(err)
	}
}
