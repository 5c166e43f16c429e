package quality_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
)

func TestLearnedSpec(t *testing.T) {
	with := quality.NewEvaluator(nil)
	with.UseLearner(quality.NewLearner(quality.LearnerOptions{}))
	without := quality.NewEvaluator(nil)
	for _, tt := range []struct {
		name, raw, param string
		e                *quality.Evaluator
	}{
		{"OK", `[{"type": "learned"}]`, "", with},
		{"OKPrompt", `[{"type": "learned", "input": "prompt", "name": "router"}]`, "", with},
		{"ErrInput", `[{"type": "learned", "input": "question"}]`, "config.scorers[0].input", with},
		{"ErrInputOnRegex", `[{"type": "regex", "pattern": "x", "input": "prompt"}]`, "config.scorers[0].input", with},
		{"ErrNoLearner", `[{"type": "learned"}]`, "config.scorers[0].type", without},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.e.ParseSpecs(json.RawMessage(tt.raw), "config.scorers")
			var ce *chorus.Error
			switch {
			case tt.param == "" && err != nil:
				t.Fatal(err)
			case tt.param != "" && (!asError(err, &ce) || ce.Param != tt.param):
				t.Fatalf("err = %v, want one about %s", err, tt.param)
			}
		})
	}
}

func asError(err error, ce **chorus.Error) bool {
	e, ok := err.(*chorus.Error)
	*ce = e
	return ok
}

// cascadeRoute is a two-tier route with the given scorers and config.
func cascadeRoute(scorers string, cfg chorus.RouteConfig) *registry.Route {
	cfg.Scorers = json.RawMessage(scorers)
	tier := func(name string, in, out int64) *registry.Tier {
		m := &chorus.Model{Name: name}
		d := &chorus.Deployment{Name: name + "-dep", UpstreamModel: "up-" + name, InputPrice: in, OutputPrice: out}
		return &registry.Tier{Model: m, Targets: []*registry.Target{{Deployment: d, Model: m}}}
	}
	return &registry.Route{Model: &chorus.Model{Name: "gsm"}, Strategy: chorus.StrategyCascade, Config: cfg, Routed: true,
		Tiers: []*registry.Tier{tier("mixtral", 600_000, 600_000), tier("gpt-4", 10_000_000, 30_000_000)}}
}

func TestRouteEvaluatorLearned(t *testing.T) {
	ctx := context.Background()
	l := quality.NewLearner(quality.LearnerOptions{Holdout: 0.3})
	e := quality.NewEvaluator(nil)
	e.UseLearner(l)
	ev := quality.RouteEvaluator{E: e}
	rt := cascadeRoute(`[{"type": "regex", "pattern": "####"}, {"type": "learned"}]`, chorus.RouteConfig{Target: &chorus.CascadeTarget{MinQualityRatio: 0.95}})

	resp := answer("3 + 4 = 7\n#### 7")
	resp.Model = "up-mixtral"
	s, _, err := ev.Evaluate(ctx, rt, request("Tom has 3 and gets 4. How many?"), resp)
	if err != nil || s != 0.5 {
		t.Fatalf("untrained learned scorer: %v, %v (want 0.5: its prediction is the score)", s, err)
	}
	ok, err := l.Feedback(ctx, &chorus.Feedback{ResponseID: resp.ID, Rating: chorus.RatingUp})
	if err != nil || !ok {
		t.Fatalf("feedback on the scored answer: %v %v", ok, err)
	}
	if rep := l.Report("gsm:learned"); rep == nil || rep.Models[0].Model != "mixtral" {
		t.Fatalf("learned under the wrong scope or model: %+v", l.Scopes())
	}
	if _, ok := ev.Threshold(rt); ok {
		t.Fatal("calibrated with one example")
	}
	// Teach it the sample: then the target calibrates.
	var xs []quality.ImportedExample
	for _, r := range readSample(t) {
		xs = append(xs, quality.ImportedExample{Example: quality.Example{Question: r.q, Answer: r.cheap, Model: "mixtral"}, Label: label(r.cheapOK)},
			quality.ImportedExample{Example: quality.Example{Question: r.q, Answer: r.strong, Model: "gpt-4"}, Label: label(r.strongOK)})
	}
	if _, err := l.Import(ctx, "gsm:learned", xs); err != nil {
		t.Fatal(err)
	}
	th, ok := ev.Threshold(rt)
	c, err := ev.Calibration(rt)
	if !ok || err != nil || c.Threshold != th || !c.Calibrated {
		t.Fatalf("threshold %v %v, calibration %+v %v", th, ok, c, err)
	}
	if _, err := ev.Calibration(cascadeRoute(`[{"type": "regex", "pattern": "x"}]`, chorus.RouteConfig{})); err == nil {
		t.Fatal("a route without a learned scorer calibrates")
	}
	if _, ok := ev.PreScore(rt, request("q"), 0); ok {
		t.Fatal("an answer-reading scorer pre-scores")
	}
	t.Run("PromptOnly", func(t *testing.T) {
		pr := cascadeRoute(`[{"type": "learned", "input": "prompt"}]`, chorus.RouteConfig{})
		p, ok := ev.PreScore(pr, request("Tom has 3 and gets 4. How many?"), 0)
		if !ok || p <= 0 || p >= 1 {
			t.Fatalf("pre-score %v %v", p, ok)
		}
		s, _, err := ev.Evaluate(ctx, pr, request("Tom has 3 and gets 4. How many?"), resp)
		if err != nil || s != p {
			t.Fatalf("a prompt-only scorer scored the answer %v, before the call %v", s, p)
		}
	})
	t.Run("ExploredIsUnbiased", func(t *testing.T) {
		l := quality.NewLearner(quality.LearnerOptions{})
		e := quality.NewEvaluator(nil)
		e.UseLearner(l)
		ctx := exploringContext(t)
		r := answer("#### 1")
		r.ID = "chatcmpl-explored"
		if _, _, err := (quality.RouteEvaluator{E: e}).Evaluate(ctx, rt, request("q"), r); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Feedback(context.Background(), &chorus.Feedback{ResponseID: r.ID, Rating: chorus.RatingDown}); err != nil {
			t.Fatal(err)
		}
		if got := l.Report("gsm:learned").Sources[chorus.LearnedFromExplore]; got != 1 {
			t.Fatalf("explored examples %d, want 1", got)
		}
	})
	t.Run("ErrNoScope", func(t *testing.T) {
		_, err := e.Evaluate(ctx, []quality.Spec{{Type: quality.TypeLearned}}, request("q"), resp)
		if err == nil || !strings.Contains(err.Error(), "route or model") {
			t.Fatalf("err = %v", err)
		}
	})
}

// exploringContext returns a context a cascade marks as exploring, taken
// from a real cascade call.
func exploringContext(t *testing.T) context.Context {
	t.Helper()
	var got context.Context
	o := &orchestrate.Orchestrator{Health: orchestrate.NewHealth(orchestrate.DefaultBreaker(), nil), Evaluator: ctxGrabber{&got}}
	rt := cascadeRoute(`[{"type": "learned"}]`, chorus.RouteConfig{Explore: 1})
	for _, tier := range rt.Tiers {
		tier.Targets[0].Provider = echoProvider{}
	}
	if _, err := o.Chat(context.Background(), rt, request("q")); err != nil {
		t.Fatal(err)
	}
	if got == nil || !orchestrate.Exploring(got) {
		t.Fatal("no exploring context")
	}
	return got
}

type ctxGrabber struct{ ctx *context.Context }

func (g ctxGrabber) Evaluate(ctx context.Context, _ *registry.Route, _ *provider.ChatRequest, _ *provider.ChatResponse) (float64, []*orchestrate.Attempt, error) {
	*g.ctx = ctx
	return 1, nil, nil
}

// echoProvider answers at once with a fixed text.
type echoProvider struct{}

func (echoProvider) Chat(context.Context, *provider.ChatRequest) (*provider.ChatResponse, error) {
	return answer("ok"), nil
}

func (echoProvider) ChatStream(context.Context, *provider.ChatRequest) (provider.Stream, error) {
	return nil, errors.New("not streamed")
}
