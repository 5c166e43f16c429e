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
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "; known fields are type, name, pattern, value, min, max, model, rubric, schema and weight"
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
	res, err := r.E.Evaluate(ctx, specs, req, resp)
	if len(res.Scores) == 0 {
		if err == nil {
			err = errors.New("no scorer produced a score")
		}
		return 0, res.Judged, err
	}
	return res.Score, res.Judged, nil
}
