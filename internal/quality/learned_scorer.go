package quality

import (
	"context"
	"errors"
	"fmt"

	"github.com/chorusgw/chorus/internal/provider"
)

// learnedScores runs the learned specs on an answer, with the other
// scorers' results (scores, by spec index) as features; it remembers each
// answer's features for its feedback, and a judge's verdict teaches them.
func (e *Evaluator) learnedScores(ctx context.Context, sub Subject, specs []Spec, req *provider.ChatRequest, resp *provider.ChatResponse, a answer, scores []*Score) ([]Score, error) {
	var out []Score
	var others []Score
	judge := -1.0
	for i, sc := range scores {
		if sc != nil && specs[i].Type != TypeLearned {
			others = append(others, *sc)
			if specs[i].Type == TypeJudge && judge < 0 {
				judge = sc.Value
			}
		}
	}
	for i := range specs {
		s := &specs[i]
		if s.Type != TypeLearned {
			continue
		}
		if e.learner == nil {
			return nil, fmt.Errorf("%s: learned scorers are not available on this gateway", s.label())
		}
		if sub.Scope == "" {
			return nil, fmt.Errorf("%s: a learned scorer needs the route or model it learns for", s.label())
		}
		fs := Featurize(Example{Question: questionOf(req), Answer: a.text, Model: sub.Model, Scores: others, PromptOnly: s.Input == InputPrompt})
		scope := Scope(sub.Scope, s.label())
		p := e.learner.Predict(scope, fs)
		var prior []Feature
		if t := sub.Trail; t != nil && len(out) == 0 { // the first learned scorer pairs tiers
			if sub.First {
				t.First = fs
			} else {
				prior, _ = t.First.([]Feature)
			}
		}
		if resp != nil && resp.ID != "" {
			e.learner.Remember(resp.ID, scope, sub.Model, fs, prior, sub.Explored, int64(resp.Usage.InputTokens), int64(resp.Usage.OutputTokens))
			if judge >= 0 {
				if err := e.learner.judged(ctx, resp.ID, judge); err != nil {
					return nil, fmt.Errorf("%s: learn from the judge: %w", s.label(), err)
				}
			}
		}
		out = append(out, Score{Scorer: s.label(), Value: p, Reason: fmt.Sprintf("learned P(good) = %.3f", p)})
	}
	return out, nil
}

// PromptScore is a prompt-only learned scorer's prediction for a request
// before any model is called: that model's answer will be good.
func (e *Evaluator) PromptScore(scopeName, label, model string, req *provider.ChatRequest) float64 {
	if e.learner == nil {
		return 0.5
	}
	fs := Featurize(Example{Question: questionOf(req), Model: model, PromptOnly: true})
	return e.learner.Predict(Scope(scopeName, label), fs)
}

// questionOf is the text of the request's last user message.
func questionOf(req *provider.ChatRequest) string {
	if req == nil {
		return ""
	}
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == provider.RoleUser {
			return req.Messages[i].Text()
		}
	}
	return ""
}

// errNoLearned is returned when a route has no learned scorer to calibrate.
var errNoLearned = errors.New("the route has no learned scorer")
