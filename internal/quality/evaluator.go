// Package quality scores answers: cheap deterministic scorers (valid JSON,
// JSON Schema, regex, contains, length, refusal) and an LLM judge. The
// Evaluator runs them, inline for cascades and ensembles or off the request
// path through a Runner that stores the scores; Stats keeps a read-only
// snapshot of per-model quality for the router.
package quality

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

// Scorer types.
const (
	TypeJSONValid   = "json_valid"
	TypeJSONSchema  = "json_schema"
	TypeRegex       = "regex"
	TypeContains    = "contains"
	TypeNotContains = "not_contains"
	TypeLength      = "length"
	TypeRefusal     = "refusal"
	TypeJudge       = "judge"
	TypeLearned     = "learned" // learned.go: P(good) learned from feedback
)

// Inputs of a learned scorer.
const (
	InputAnswer = "answer" // the question, the answer, the other scorers' results, the model (the default)
	InputPrompt = "prompt" // the question and the model only: a cascade decides before calling a tier
)

// Types returns every scorer type, in a new slice the caller may keep or
// change.
func Types() []string {
	return []string{TypeJSONValid, TypeJSONSchema, TypeRegex, TypeContains, TypeNotContains, TypeLength, TypeRefusal, TypeJudge, TypeLearned}
}

// Limits on scorer specs, checked by Validate.
const (
	MaxSpecs     = 32
	maxPattern   = 4096
	maxValue     = 4096
	maxRubric    = 8192
	maxSchema    = 256 << 10
	maxWeight    = 1000
	maxLengthArg = 10_000_000
)

// Spec configures one scorer (JSON in route configs and the admin API).
type Spec struct {
	Type    string          `json:"type"`              // one of Types
	Name    string          `json:"name,omitempty"`    // label in scores and aggregates; defaults to Type
	Pattern string          `json:"pattern,omitempty"` // regex (RE2 syntax)
	Value   string          `json:"value,omitempty"`   // contains / not_contains (case-insensitive)
	Min     int             `json:"min,omitempty"`     // length bounds, in characters (runes)
	Max     int             `json:"max,omitempty"`     // 0 means no upper bound
	Model   string          `json:"model,omitempty"`   // judge: a registry model name
	Rubric  string          `json:"rubric,omitempty"`  // judge: what a good answer is
	Schema  json.RawMessage `json:"schema,omitempty"`  // json_schema: explicit schema (else the request's response_format schema)
	Weight  float64         `json:"weight,omitempty"`  // in the combined score; 0 means 1
	Input   string          `json:"input,omitempty"`   // learned: InputAnswer (default) or InputPrompt
}

// label is the scorer name stored with its scores.
func (s *Spec) label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Type
}

func (s *Spec) weight() float64 {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

// Score is one scorer's verdict: Value in [0,1] with a reason a human can read.
type Score struct {
	Scorer string  `json:"scorer"`
	Value  float64 `json:"value"`
	Reason string  `json:"reason"`
}

// Result is every score and their weighted mean. When no scorer succeeded,
// Scores is empty and Score is 0: callers that compare scores (cascades)
// should check len(Scores) before trusting Score.
type Result struct {
	Score  float64 `json:"score"`
	Scores []Score `json:"scores"`
	// Judged lists the upstream calls judge scorers made, for the usage of
	// the request being scored.
	Judged []*orchestrate.Attempt `json:"-"`
}

// Judge calls a registry model for LLM-as-judge (the wiring supplies it; it
// routes through the gateway's own orchestrator). It returns the upstream
// calls it made, also when it fails.
type Judge func(ctx context.Context, model string, req *provider.ChatRequest) (*provider.ChatResponse, []*orchestrate.Attempt, error)

// maxCachedRegexps bounds the compiled-pattern cache: patterns come from
// route configs, so a few dozen is typical; beyond the bound, patterns are
// compiled on each use rather than kept.
const maxCachedRegexps = 1024

// Evaluator runs scorers. It is safe for concurrent use.
type Evaluator struct {
	judge   Judge
	learner *Learner

	regexps sync.Map // pattern → *regexp.Regexp
	nre     atomic.Int64
	schemas sync.Map // explicit schema text → *compiledSchema
	nschema atomic.Int64
	specs   sync.Map // route config scorers text → []Spec
	nspecs  atomic.Int64
}

// NewEvaluator returns an evaluator whose judge scorers call judge (nil: judge
// scorers fail validation).
func NewEvaluator(judge Judge) *Evaluator {
	return &Evaluator{judge: judge}
}

// UseLearner makes learned scorers available, learning in l. Call it
// before the evaluator is used.
func (e *Evaluator) UseLearner(l *Learner) { e.learner = l }

// Learner returns the learner of learned scorers, or nil.
func (e *Evaluator) Learner() *Learner { return e.learner }

// Validate checks specs as a route config or the admin API gives them. Errors
// are *chorus.Error EINVALID with param "scorers[i].field".
func (e *Evaluator) Validate(specs []Spec) error {
	return e.validateAll(specs, "scorers")
}

// validateAll is Validate with params under param.
func (e *Evaluator) validateAll(specs []Spec, param string) error {
	if len(specs) > MaxSpecs {
		return chorus.Invalid(param, "at most %d scorers are allowed, got %d", MaxSpecs, len(specs))
	}
	for i := range specs {
		if err := e.validate(&specs[i], fmt.Sprintf("%s[%d]", param, i)); err != nil {
			return err
		}
	}
	return nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$`)

func (e *Evaluator) validate(s *Spec, p string) error {
	bad := func(field, format string, args ...any) error {
		return chorus.Invalid(p+"."+field, p+"."+field+": "+format, args...)
	}
	// Fields a type does not use are an error: a pattern on a contains
	// scorer is a mistake, not something to ignore.
	uses := map[string][]string{
		TypeJSONValid: {}, TypeRefusal: {}, TypeJSONSchema: {"schema"}, TypeRegex: {"pattern"},
		TypeContains: {"value"}, TypeNotContains: {"value"}, TypeLength: {"min", "max"}, TypeJudge: {"model", "rubric"},
		TypeLearned: {"input"},
	}
	fields, ok := uses[s.Type]
	if !ok {
		return bad("type", "unknown scorer type %q; known types are %v", s.Type, Types())
	}
	set := map[string]bool{"pattern": s.Pattern != "", "value": s.Value != "", "min": s.Min != 0, "max": s.Max != 0,
		"model": s.Model != "", "rubric": s.Rubric != "", "schema": len(s.Schema) > 0, "input": s.Input != ""}
	for _, f := range []string{"pattern", "value", "min", "max", "model", "rubric", "schema", "input"} {
		if set[f] && !slices.Contains(fields, f) {
			return bad(f, "%s does not apply to a %s scorer", f, s.Type)
		}
	}
	if s.Name != "" && !namePattern.MatchString(s.Name) {
		return bad("name", "name must be 1-64 characters of letters, digits and _ . : / -, got %q", s.Name)
	}
	if !(s.Weight >= 0 && s.Weight <= maxWeight) {
		return bad("weight", "weight must be between 0 and %d (0 means 1), got %v", maxWeight, s.Weight)
	}
	switch s.Type {
	case TypeRegex:
		if s.Pattern == "" || len(s.Pattern) > maxPattern {
			return bad("pattern", "pattern is required and must be at most %d bytes", maxPattern)
		}
		if _, err := regexp.Compile(s.Pattern); err != nil {
			return bad("pattern", "pattern is not a valid regular expression (RE2 syntax): %v", err)
		}
	case TypeContains, TypeNotContains:
		if s.Value == "" || len(s.Value) > maxValue {
			return bad("value", "value is required and must be at most %d bytes", maxValue)
		}
	case TypeLength:
		if s.Min < 0 || s.Min > maxLengthArg {
			return bad("min", "min must be between 0 and %d, got %d", maxLengthArg, s.Min)
		}
		if s.Max < 0 || s.Max > maxLengthArg {
			return bad("max", "max must be between 0 and %d (0 means no maximum), got %d", maxLengthArg, s.Max)
		}
		if s.Max > 0 && s.Min > s.Max {
			return bad("min", "min (%d) is greater than max (%d)", s.Min, s.Max)
		}
		if s.Min == 0 && s.Max == 0 {
			return bad("max", "a length scorer needs min, max or both")
		}
	case TypeJudge:
		if e.judge == nil {
			return bad("type", "judge scorers are not available on this gateway")
		}
		if s.Model == "" {
			return bad("model", "a judge scorer needs model: the registry model that grades answers")
		}
		if s.Rubric == "" || len(s.Rubric) > maxRubric {
			return bad("rubric", "a judge scorer needs a rubric (what a good answer is), at most %d bytes", maxRubric)
		}
	case TypeLearned:
		if e.learner == nil {
			return bad("type", "learned scorers are not available on this gateway")
		}
		if s.Input != "" && s.Input != InputAnswer && s.Input != InputPrompt {
			return bad("input", "input must be %q (the default) or %q, got %q", InputAnswer, InputPrompt, s.Input)
		}
	case TypeJSONSchema:
		if len(s.Schema) > maxSchema {
			return bad("schema", "schema must be at most %d bytes", maxSchema)
		}
		if len(s.Schema) > 0 {
			if _, err := compileSchema(s.Schema); err != nil {
				return bad("schema", "%v", err)
			}
		}
	}
	return nil
}

// AutoSpecs returns the scorers a request implies on its own: json_valid for
// response_format json_object, json_schema (against the request's schema)
// for json_schema.
func AutoSpecs(req *provider.ChatRequest) []Spec {
	if req == nil || req.ResponseFormat == nil {
		return nil
	}
	switch req.ResponseFormat.Type {
	case "json_object":
		return []Spec{{Type: TypeJSONValid}}
	case "json_schema":
		return []Spec{{Type: TypeJSONSchema}}
	}
	return nil
}

// Evaluate runs specs on resp's first choice. Deterministic scorers run in
// order on the caller's goroutine; judge scorers run concurrently when there
// is more than one. A scorer that fails (a judge that errs or times out, a
// request without the schema a json_schema scorer needs) leaves its score
// out: Evaluate returns the scores that succeeded, their weighted mean, and
// the failures joined into one error.
func (e *Evaluator) Evaluate(ctx context.Context, specs []Spec, req *provider.ChatRequest, resp *provider.ChatResponse) (Result, error) {
	return e.EvaluateFor(ctx, Subject{}, specs, req, resp)
}

// Subject says whose answer is scored: what learned scorers learn under.
type Subject struct {
	Scope    string // the route's name, or the model's for an answer without a route
	Model    string // the registry model that answered
	Explored bool   // a cascade served the answer to explore, whatever its score
	// Trail, in a cascade, pairs a later tier's answer with the first
	// tier's: the learned scorer keeps the first answer's features there
	// (First: this answer is the first tier's).
	Trail *orchestrate.Trail
	First bool
}

// EvaluateFor is Evaluate for an answer on a route or model. Learned
// scorers run last, on the other scorers' results, and when a route has
// one its prediction is the combined score: the other scorers are its
// inputs (the mean of several learned scorers when there are several).
func (e *Evaluator) EvaluateFor(ctx context.Context, sub Subject, specs []Spec, req *provider.ChatRequest, resp *provider.ChatResponse) (Result, error) {
	a := answerOf(resp)
	scores := make([]*Score, len(specs))
	errs := make([]error, len(specs))
	var judges []int
	for i := range specs {
		s := &specs[i]
		if s.Type == TypeJudge {
			judges = append(judges, i)
			continue
		}
		if s.Type == TypeLearned {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("%s: %w", s.label(), err)
			continue
		}
		sc, err := e.score(s, req, a)
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", s.label(), err)
			continue
		}
		scores[i] = &sc
	}
	judged := make([][]*orchestrate.Attempt, len(specs))
	runJudge := func(i int) {
		sc, calls, err := e.judgeScore(ctx, &specs[i], req, a)
		judged[i] = calls
		if err != nil {
			errs[i] = fmt.Errorf("%s: %w", specs[i].label(), err)
			return
		}
		scores[i] = &sc
	}
	if len(judges) == 1 {
		runJudge(judges[0])
	} else if len(judges) > 1 {
		var wg sync.WaitGroup
		for _, i := range judges {
			wg.Go(func() { runJudge(i) })
		}
		wg.Wait()
	}
	var res Result
	for _, calls := range judged {
		res.Judged = append(res.Judged, calls...)
	}
	var sum, weights float64
	for i, sc := range scores {
		if sc == nil {
			continue
		}
		res.Scores = append(res.Scores, *sc)
		w := specs[i].weight()
		sum += w * sc.Value
		weights += w
	}
	if weights > 0 {
		res.Score = clamp01(sum / weights)
	}
	if learned, err := e.learnedScores(ctx, sub, specs, req, resp, a, scores); err != nil {
		errs = append(errs, err)
	} else if len(learned) > 0 {
		sum = 0
		for _, sc := range learned {
			sum += sc.Value
		}
		res.Score = clamp01(sum / float64(len(learned)))
		res.Scores = append(res.Scores, learned...)
	}
	return res, errors.Join(errs...)
}

// score runs one deterministic scorer.
func (e *Evaluator) score(s *Spec, req *provider.ChatRequest, a answer) (Score, error) {
	var v float64
	var reason string
	var err error
	switch s.Type {
	case TypeJSONValid:
		v, reason = scoreJSONValid(a)
	case TypeJSONSchema:
		v, reason, err = e.scoreJSONSchema(s, req, a)
	case TypeRegex:
		v, reason, err = e.scoreRegex(s, a)
	case TypeContains:
		v, reason = scoreContains(s, a, true)
	case TypeNotContains:
		v, reason = scoreContains(s, a, false)
	case TypeLength:
		v, reason = scoreLength(s, a)
	case TypeRefusal:
		v, reason = scoreRefusal(a)
	default:
		err = fmt.Errorf("unknown scorer type %q", s.Type)
	}
	if err != nil {
		return Score{}, err
	}
	return Score{Scorer: s.label(), Value: v, Reason: reason}, nil
}

// regexp returns the compiled pattern, cached while the cache is small.
func (e *Evaluator) regexp(pattern string) (*regexp.Regexp, error) {
	if re, ok := e.regexps.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if e.nre.Load() < maxCachedRegexps {
		if _, loaded := e.regexps.LoadOrStore(pattern, re); !loaded {
			e.nre.Add(1)
		}
	}
	return re, nil
}

// schema returns the compiled schema. Explicit schemas (from route configs)
// are cached like patterns; a request's own schema is compiled each time,
// and bounded like an explicit one since it is client input.
func (e *Evaluator) schema(raw json.RawMessage, cache bool) (*compiledSchema, error) {
	if len(raw) > maxSchema {
		return nil, fmt.Errorf("schema must be at most %d bytes, got %d", maxSchema, len(raw))
	}
	if !cache {
		return compileSchema(raw)
	}
	key := string(raw)
	if n, ok := e.schemas.Load(key); ok {
		return n.(*compiledSchema), nil
	}
	n, err := compileSchema(raw)
	if err != nil {
		return nil, err
	}
	if e.nschema.Load() < maxCachedRegexps {
		if _, loaded := e.schemas.LoadOrStore(key, n); !loaded {
			e.nschema.Add(1)
		}
	}
	return n, nil
}

// answer is what the scorers look at: the first choice of a response.
type answer struct {
	text      string
	toolCalls int
	finish    provider.FinishReason
	missing   bool // the response had no choice at all
}

func answerOf(resp *provider.ChatResponse) answer {
	if resp == nil || len(resp.Choices) == 0 {
		return answer{missing: true}
	}
	c := &resp.Choices[0]
	return answer{text: c.Message.Text(), toolCalls: len(c.Message.ToolCalls), finish: c.FinishReason}
}

func clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}
