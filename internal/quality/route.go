package quality

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// Route configs hold their scorers as a JSON array of Specs
// (chorus.RouteConfig.Scorers). This file reads them and scores answers for
// the orchestrator's cascades and ensembles.

// ParseSpecs decodes and validates a JSON array of scorer specs. Unknown
// fields are errors. Errors are EINVALID with param "<param>[i].field", so
// the admin API can point at the field (param is "config.scorers" for a
// route, "scorers" elsewhere). Empty or "null" is no scorers.
func (e *Evaluator) ParseSpecs(raw json.RawMessage, param string) ([]Spec, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, chorus.Invalid(param, "%s must be a JSON array of scorer objects", param)
	}
	specs := make([]Spec, len(items))
	for i, item := range items {
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		at := fmt.Sprintf("%s[%d]", param, i)
		if err := dec.Decode(&specs[i]); err != nil {
			return nil, chorus.Invalid(at, "%s: %s", at, decodeProblem(err))
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, chorus.Invalid(at, "%s must be one JSON object", at)
		}
	}
	if err := e.validateAll(specs, param); err != nil {
		return nil, err
	}
	return specs, nil
}

// decodeProblem says what was wrong with one spec object, in words.
func decodeProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("%s must be of type %s", te.Field, te.Type)
	case errors.As(err, &te):
		return "must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "; known fields are type, name, pattern, value, min, max, model, rubric, schema, weight and input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// maxCachedSpecs bounds the cache of parsed route scorer lists: one entry
// per distinct route config, so a handful in practice.
const maxCachedSpecs = 256

// routeSpecs returns a route config's scorers, parsed once per distinct
// config.
func (e *Evaluator) routeSpecs(raw json.RawMessage) ([]Spec, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	key := string(raw)
	if v, ok := e.specs.Load(key); ok {
		return v.([]Spec), nil
	}
	specs, err := e.ParseSpecs(raw, "config.scorers")
	if err != nil {
		return nil, err
	}
	if e.nspecs.Load() < maxCachedSpecs {
		if _, loaded := e.specs.LoadOrStore(key, specs); !loaded {
			e.nspecs.Add(1)
		}
	}
	return specs, nil
}

// SpecsFor returns what an answer to req on a route with the given scorers
// (a route config's JSON array; nil for a plain model) is scored with: the
// route's scorers, then those the request implies (AutoSpecs) whose type the
// route does not list already. The result must not be modified.
func (e *Evaluator) SpecsFor(scorers json.RawMessage, req *provider.ChatRequest) ([]Spec, error) {
	specs, err := e.routeSpecs(scorers)
	if err != nil {
		return nil, err
	}
	auto := AutoSpecs(req)
	if len(auto) == 0 {
		return specs, nil
	}
	out := specs
	for _, a := range auto {
		dup := false
		for i := range specs {
			dup = dup || specs[i].Type == a.Type
		}
		if !dup {
			out = append(out[:len(out):len(out)], a) // never append into the cached slice
		}
	}
	return out, nil
}

// RouteEvaluator scores answers for the orchestrator's cascades and
// ensembles with each route's scorers (and those the request implies). It
// satisfies orchestrate.Evaluator.
type RouteEvaluator struct {
	E *Evaluator
}

// Evaluate returns the combined score of resp. When some scorers fail the
// score is over the ones that succeeded; it is an error only when none
// could score (the orchestrator then counts the answer as 0). With no
// scorers at all every answer scores 1.
func (r RouteEvaluator) Evaluate(ctx context.Context, rt *registry.Route, req *provider.ChatRequest, resp *provider.ChatResponse) (float64, []*orchestrate.Attempt, error) {
	var raw json.RawMessage
	if rt != nil {
		raw = rt.Config.Scorers
	}
	specs, err := r.E.SpecsFor(raw, req)
	if err != nil {
		return 0, nil, err
	}
	if len(specs) == 0 {
		return 1, nil, nil
	}
	sub := Subject{Trail: orchestrate.TrailOf(ctx)}
	sub.Explored = sub.Trail != nil && sub.Trail.Explored
	if rt != nil && rt.Model != nil {
		sub.Scope, sub.Model = rt.Model.Name, answeringModel(rt, resp)
		sub.First = len(rt.Tiers) > 0 && rt.Tiers[0].Model != nil && sub.Model == rt.Tiers[0].Model.Name
	}
	res, err := r.E.EvaluateFor(ctx, sub, specs, req, resp)
	if len(res.Scores) == 0 {
		if err == nil {
			err = errors.New("no scorer produced a score")
		}
		return 0, res.Judged, err
	}
	return res.Score, res.Judged, nil
}

// answeringModel is the registry model of the route's tier whose deployment
// gave resp (by its upstream model name), else the route's own name.
func answeringModel(rt *registry.Route, resp *provider.ChatResponse) string {
	if resp != nil {
		for _, tier := range rt.Tiers {
			for _, t := range tier.Targets {
				if t.Deployment != nil && t.Deployment.UpstreamModel == resp.Model && tier.Model != nil {
					return tier.Model.Name
				}
			}
		}
	}
	return rt.Model.Name
}

// learnedSpec is the route's first learned scorer, or nil.
func (r RouteEvaluator) learnedSpec(rt *registry.Route) *Spec {
	if rt == nil || rt.Model == nil || r.E.learner == nil {
		return nil
	}
	specs, err := r.E.routeSpecs(rt.Config.Scorers)
	if err != nil {
		return nil
	}
	for i := range specs {
		if specs[i].Type == TypeLearned {
			return &specs[i]
		}
	}
	return nil
}

// Threshold calibrates a cascade's threshold to its config.target from its
// learned scorer's held-out examples (see Learner.Calibrate); ok is false
// until there are enough.
func (r RouteEvaluator) Threshold(rt *registry.Route) (float64, bool) {
	c, err := r.Calibration(rt)
	if err != nil || !c.Calibrated {
		return 0, false
	}
	return c.Threshold, true
}

// Calibration is the route's calibrated threshold and what it is expected
// to give; an error when the route is not a cascade with a target and a
// learned scorer.
func (r RouteEvaluator) Calibration(rt *registry.Route) (Calibration, error) {
	s := r.learnedSpec(rt)
	if s == nil || rt.Config.Target == nil || len(rt.Tiers) < 2 {
		return Calibration{}, errNoLearned
	}
	tier := func(t *registry.Tier) Tier {
		x := Tier{Model: t.Model.Name}
		if len(t.Targets) > 0 {
			x.Prices = t.Targets[0].Deployment.Prices()
		}
		return x
	}
	return r.E.learner.calibrated(Scope(rt.Model.Name, s.label()), tier(rt.Tiers[0]), tier(rt.Tiers[len(rt.Tiers)-1]), *rt.Config.Target), nil
}

// PreScore predicts, before calling tier i, whether its answer will pass:
// only for a route whose learned scorer is prompt-only.
func (r RouteEvaluator) PreScore(rt *registry.Route, req *provider.ChatRequest, i int) (float64, bool) {
	s := r.learnedSpec(rt)
	if s == nil || s.Input != InputPrompt || i >= len(rt.Tiers) {
		return 0, false
	}
	return r.E.PromptScore(rt.Model.Name, s.label(), rt.Tiers[i].Model.Name, req), true
}

var (
	_ orchestrate.Evaluator   = RouteEvaluator{}
	_ orchestrate.Thresholder = RouteEvaluator{}
	_ orchestrate.PreScorer   = RouteEvaluator{}
)
