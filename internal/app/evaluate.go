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
	return func(ctx context.Context, model string, req *provider.ChatRequest) (*provider.ChatResponse, []*orchestrate.Attempt, error) {
		rt := reg.Snapshot().Route(model)
		if rt == nil {
			return nil, nil, fmt.Errorf("judge model %q is not in the registry", model)
		}
		// A scored route as a judge would score its judge's answers with
		// judges of its own, without end.
		if rt.Routed && (rt.Strategy == chorus.StrategyCascade || rt.Strategy == chorus.StrategyEnsemble) {
			return nil, nil, fmt.Errorf("judge model %q is itself a scored route; judges must be models or simple routes", model)
		}
		res, err := orch.Chat(ctx, rt, req)
		if err != nil {
			return nil, res.Attempts, err
		}
		return res.Response, res.Attempts, nil
	}
}

// validateScorers checks a route's scorers when it is written.
func validateScorers(e *quality.Evaluator) func(raw json.RawMessage) error {
	return func(raw json.RawMessage) error {
		_, err := e.ParseSpecs(raw, "config.scorers")
		return err
	}
}
