package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
)

// judge returns the LLM-as-judge caller: it sends the judge prompt to a
// registry model through the orchestrator, like any request, and reports the
// calls so the scored request's usage includes them.
func judge(reg *registry.Registry, orch *orchestrate.Orchestrator) quality.Judge {
	return func(ctx context.Context, model string, req *provider.ChatRequest) (*provider.ChatResponse, error) {
		rt := reg.Snapshot().Route(model)
		if rt == nil {
			return nil, fmt.Errorf("judge model %q is not in the registry", model)
		}
		if rt.Routed && (rt.Strategy == chorus.StrategyCascade || rt.Strategy == chorus.StrategyEnsemble) && orchestrate.Judging(ctx) {
			return nil, fmt.Errorf("judge model %q is itself a scored route; judges must be models or simple routes", model)
		}
		res, err := orch.Chat(ctx, rt, req)
		orchestrate.Record(ctx, res.Attempts)
		if err != nil {
			return nil, err
		}
		return res.Response, nil
	}
}

// routeEvaluator scores answers for cascades and ensembles with the route's
// scorers plus those the request implies (JSON validity and schema).
type routeEvaluator struct{ e *quality.Evaluator }

var _ orchestrate.Evaluator = routeEvaluator{}

// Evaluate returns the weighted mean score. With no scorer at all every
// answer passes; a scorer that fails counts as 0 only when none succeeded.
func (r routeEvaluator) Evaluate(ctx context.Context, rt *registry.Route, req *provider.ChatRequest, resp *provider.ChatResponse) (float64, error) {
	specs, err := routeScorers(rt.Config.Scorers)
	if err != nil {
		return 0, err
	}
	specs = append(specs, quality.AutoSpecs(req)...)
	if len(specs) == 0 {
		return 1, nil
	}
	res, err := r.e.Evaluate(ctx, specs, req, resp)
	if err != nil && len(res.Scores) == 0 {
		return 0, err
	}
	return res.Score, nil
}

// routeScorers parses a route's scorer specs.
func routeScorers(raw json.RawMessage) ([]quality.Spec, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var specs []quality.Spec
	if err := json.Unmarshal(raw, &specs); err != nil {
		return nil, fmt.Errorf("route scorers: %w", err)
	}
	return specs, nil
}

// validateScorers checks a route's scorers when it is written.
func validateScorers(e *quality.Evaluator) func(raw json.RawMessage) error {
	return func(raw json.RawMessage) error {
		specs, err := routeScorers(raw)
		if err != nil {
			return chorus.Invalid("config.scorers", "scorers must be an array of scorer objects: %v", err)
		}
		return e.Validate(specs)
	}
}
