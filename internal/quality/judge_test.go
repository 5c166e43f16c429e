package quality_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

// fakeJudge answers every judge call with reply (or err), after delay.
type fakeJudge struct {
	reply string
	err   error
	delay time.Duration
	calls *atomic.Int64
	seen  func(model string, req *provider.ChatRequest)
}

func (f fakeJudge) call(ctx context.Context, model string, req *provider.ChatRequest) (*provider.ChatResponse, []*orchestrate.Attempt, error) {
	resp, err := f.reply1(ctx, model, req)
	return resp, nil, err
}

func (f fakeJudge) reply1(ctx context.Context, model string, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	if f.calls != nil {
		f.calls.Add(1)
	}
	if f.seen != nil {
		f.seen(model, req)
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	return answer(f.reply), nil
}

func TestJudge(t *testing.T) {
	spec := quality.Spec{Type: quality.TypeJudge, Model: "grader", Rubric: "The answer names the capital of France."}
	tests := []struct {
		name   string
		reply  string
		want   float64
		reason string
	}{
		{"BareNumber", "8", 0.8, "8/10"},
		{"BareNumberOutOfTen", " 7/10. ", 0.7, "7/10"},
		{"JSON", `{"score": 7, "reason": "ok"}`, 0.7, "ok"},
		{"JSONInProse", "Here is my grade:\n```json\n{\"score\": 10, \"reason\": \"exactly right\"}\n```", 1, "exactly right"},
		{"JSONFractional", `{"score": 6.5, "reason": "partly"}`, 0.65, "6.5/10"},
		{"JSONScoreString", `{"score": "9", "reason": "good"}`, 0.9, "good"},
		{"JSONSkipsObjectsWithoutScore", `{"note": "x"} then {"score": 3, "reason": "weak"}`, 0.3, "weak"},
		{"Labelled", "Score: 4/10 because it hedges", 0.4, "because it hedges"},
		{"Zero", `{"score": 0, "reason": "wrong"}`, 0, "wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := quality.NewEvaluator(fakeJudge{reply: tt.reply}.call)
			got := scoreOne(t, e, spec, request("What is the capital of France?"), answer("Paris."))
			if diff := got.Value - tt.want; diff > 1e-12 || diff < -1e-12 {
				t.Errorf("value = %v, want %v", got.Value, tt.want)
			}
			if !strings.Contains(got.Reason, tt.reason) || !strings.Contains(got.Reason, "grader") {
				t.Errorf("reason = %q, want it to name the judge and mention %q", got.Reason, tt.reason)
			}
		})
	}

	errTests := []struct {
		name string
		j    fakeJudge
		ctx  time.Duration
		msg  string
	}{
		{"ErrGarbage", fakeJudge{reply: "The answer seems fine to me."}, 0, "no score"},
		{"ErrOutOfRange", fakeJudge{reply: `{"score": 42}`}, 0, "outside 0..10"},
		{"ErrNegative", fakeJudge{reply: `{"score": -1}`}, 0, "outside 0..10"},
		{"ErrJudgeFails", fakeJudge{err: errors.New("upstream 500")}, 0, "upstream 500"},
		{"ErrTimeout", fakeJudge{reply: "9", delay: 5 * time.Second}, 50 * time.Millisecond, "deadline exceeded"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			e := quality.NewEvaluator(tt.j.call)
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			specs := []quality.Spec{spec, {Type: quality.TypeContains, Value: "paris"}}
			start := time.Now()
			res, err := e.Evaluate(ctx, specs, request("q"), answer("Paris."))
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "judge") {
				t.Fatalf("err = %v, want a judge error mentioning %q", err, tt.msg)
			}
			if len(res.Scores) != 1 || res.Scores[0].Scorer != "contains" || res.Score != 1 {
				t.Errorf("result = %+v, want the contains score alone, combined over the scorers that succeeded", res)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("Evaluate took %v: it must respect ctx", time.Since(start))
			}
		})
	}

	t.Run("Prompt", func(t *testing.T) {
		var gotModel string
		var gotReq *provider.ChatRequest
		e := quality.NewEvaluator(fakeJudge{reply: "5", seen: func(m string, r *provider.ChatRequest) { gotModel, gotReq = m, r }}.call)
		scoreOne(t, e, spec, request("What is the capital of France?"), answer("Paris."))
		if gotModel != "grader" || gotReq == nil || len(gotReq.Messages) != 2 {
			t.Fatalf("judge called with model %q, request %+v", gotModel, gotReq)
		}
		sys, user := gotReq.Messages[0].Text(), gotReq.Messages[1].Text()
		for _, want := range []string{`"score"`, "0", "10", "never instructions"} {
			if !strings.Contains(sys, want) {
				t.Errorf("system prompt lacks %q: %s", want, sys)
			}
		}
		for _, want := range []string{spec.Rubric, "What is the capital of France?", "<answer>\nParis.\n</answer>"} {
			if !strings.Contains(user, want) {
				t.Errorf("user prompt lacks %q: %s", want, user)
			}
		}
		if gotReq.Temperature == nil || *gotReq.Temperature != 0 || gotReq.MaxTokens == nil || gotReq.Stream {
			t.Errorf("judge request settings: %+v", gotReq)
		}
	})

	t.Run("ConcurrentJudges", func(t *testing.T) {
		var calls atomic.Int64
		e := quality.NewEvaluator(fakeJudge{reply: "10", delay: 200 * time.Millisecond, calls: &calls}.call)
		specs := []quality.Spec{spec, spec, spec, spec}
		start := time.Now()
		res, err := e.Evaluate(context.Background(), specs, request("q"), answer("Paris."))
		if err != nil || len(res.Scores) != 4 || calls.Load() != 4 {
			t.Fatalf("got %+v, %v, %d calls", res, err, calls.Load())
		}
		if d := time.Since(start); d > 600*time.Millisecond {
			t.Errorf("four 200 ms judges took %v: they should run concurrently", d)
		}
	})

	t.Run("ToolCallAnswerNotSent", func(t *testing.T) {
		var calls atomic.Int64
		e := quality.NewEvaluator(fakeJudge{reply: "10", calls: &calls}.call)
		resp := &provider.ChatResponse{Choices: []provider.Choice{{Message: provider.Message{Role: provider.RoleAssistant,
			ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}}}}
		got := scoreOne(t, e, spec, request("q"), resp)
		if got.Value != 0 || calls.Load() != 0 {
			t.Errorf("got %+v after %d judge calls; want 0 without calling the judge", got, calls.Load())
		}
	})
}
