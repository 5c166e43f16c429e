package meter

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// Quote is what a request may cost at worst, before it is sent: its route
// and its body. Build one with ChatQuote or EmbedQuote.
type Quote struct {
	route *registry.Route
	chat  *provider.ChatRequest
	embed *provider.EmbeddingRequest
}

// ChatQuote quotes a chat request on its route.
func ChatQuote(rt *registry.Route, req *provider.ChatRequest) Quote {
	return Quote{route: rt, chat: req}
}

// EmbedQuote quotes an embedding request on its route.
func EmbedQuote(rt *registry.Route, req *provider.EmbeddingRequest) Quote {
	return Quote{route: rt, embed: req}
}

// The worst case of a request is its input tokens (see tokens.go) plus its
// output ceiling — max_tokens, else the target model's max_output_tokens,
// else billing.default_max_tokens; times n for n choices — priced by
// worstPrice at each deployment the strategy might call:
//
//   - a plain model, fallback and balance: one answer is paid for, from any
//     of the targets, so the most expensive single target (retries and
//     failed attempts produce no tokens to pay for);
//   - hedge: the first call and up to hedge_max (1) extra ones may all
//     produce tokens, so the sum of the hedge_max + 1 most expensive targets;
//   - ensemble: each of its ensemble_n tiers answers (the most expensive
//     target of each), and each answer is judged;
//   - cascade: every tier may be called (the most expensive target of
//     each), and each answer judged.
//
// A judge call (each "judge" scorer of the route, per answer judged) reads
// the conversation and the answer, so its input is bounded by the request's
// input plus the output ceiling plus the rubric and the judge's own prompt,
// and it writes at most judgeOutputTokens, at the judge model's most
// expensive target.

// judgeOutputTokens is what a judge writes at most (quality's judge asks
// for max_tokens 300); judgePromptTokens bounds the judge's own prompt.
const (
	judgeOutputTokens = 300
	judgePromptTokens = 1000
)

// worstCase returns q's worst case with in input tokens.
func (m *Meter) worstCase(q Quote, in int64) int64 {
	rt := q.route
	n := int64(1)
	var maxTokens *int
	if q.chat != nil {
		if q.chat.N != nil && *q.chat.N > 1 {
			n = int64(*q.chat.N)
		}
		maxTokens = q.chat.MaxTokens
	}
	cost := func(t *registry.Target) int64 {
		out := int64(0)
		if q.chat != nil {
			out = m.outputCeiling(maxTokens, t.Model) * n
		}
		return worstPrice(in, out, t.Deployment)
	}
	mostExpensive := func(ts []*registry.Target) int64 {
		var c int64
		for _, t := range ts {
			c = max(c, cost(t))
		}
		return c
	}
	if !rt.Routed {
		return mostExpensive(rt.Targets)
	}
	switch rt.Strategy {
	case chorus.StrategyHedge:
		calls := rt.Config.HedgeMax + 1
		if rt.Config.HedgeMax <= 0 {
			calls = 2
		}
		costs := make([]int64, len(rt.Targets))
		for i, t := range rt.Targets {
			costs[i] = cost(t)
		}
		slices.Sort(costs)
		var sum int64
		for i := len(costs) - 1; i >= 0 && i >= len(costs)-calls; i-- {
			sum = addSat(sum, costs[i])
		}
		return sum
	case chorus.StrategyEnsemble, chorus.StrategyCascade:
		tiers := rt.Tiers
		if k := rt.Config.EnsembleN; rt.Strategy == chorus.StrategyEnsemble && k > 0 && k < len(tiers) {
			tiers = tiers[:k]
		}
		judge := m.judgeCost(rt, in, maxTokens)
		var sum int64
		for _, tier := range tiers {
			sum = addSat(sum, addSat(mostExpensive(tier.Targets), judge))
		}
		return sum
	}
	return mostExpensive(rt.Targets)
}

// worstPrice is the most in input and out output tokens may cost at d,
// however they split into cached, cache-write and reasoning tokens
// (chorus.Prices.MaxCost).
func worstPrice(in, out int64, d *chorus.Deployment) int64 {
	return d.Prices().MaxCost(in, out)
}

// outputCeiling is the most output tokens a call to a model may produce.
func (m *Meter) outputCeiling(maxTokens *int, model *chorus.Model) int64 {
	switch {
	case maxTokens != nil && *maxTokens > 0:
		return int64(*maxTokens)
	case model != nil && model.MaxOutput > 0:
		return int64(model.MaxOutput)
	}
	return int64(m.opts.DefaultMaxTokens)
}

// judgeSpec is the part of a scorer spec (quality.Spec) that prices a judge.
type judgeSpec struct {
	Type   string `json:"type"`
	Model  string `json:"model"`
	Rubric string `json:"rubric"`
}

// judgeCost is the worst case of judging one answer on rt: every judge
// scorer's call.
func (m *Meter) judgeCost(rt *registry.Route, in int64, maxTokens *int) int64 {
	if len(rt.Config.Scorers) == 0 || m.opts.Routes == nil {
		return 0
	}
	var specs []judgeSpec
	if json.Unmarshal(rt.Config.Scorers, &specs) != nil {
		return 0
	}
	var sum int64
	for _, s := range specs {
		if s.Type != "judge" {
			continue
		}
		jr := m.opts.Routes(s.Model)
		if jr == nil {
			continue
		}
		var answer int64
		for _, t := range rt.Targets {
			answer = max(answer, m.outputCeiling(maxTokens, t.Model))
		}
		jin := addSat(addSat(in, answer), judgePromptTokens+int64(len(s.Rubric)))
		var c int64
		for _, t := range jr.Targets {
			c = max(c, worstPrice(jin, judgeOutputTokens, t.Deployment))
		}
		sum = addSat(sum, c)
	}
	return sum
}

// inputTokens returns q's input tokens: the byte bound, or (exact) the
// tokenizer's count with the margin, never above the byte bound.
func (m *Meter) inputTokens(q Quote, exact bool) int64 {
	bound := q.count(byteCount)
	if !exact {
		return bound
	}
	c := m.tok.forModel(q.upstreamModel())
	m.stats.tokenized.Add(1)
	n := q.count(c.count)
	n = int64(math.Ceil(float64(n) * (1 + m.opts.InputMargin)))
	return min(n, bound)
}

func (q Quote) count(c textCounter) int64 {
	if q.chat != nil {
		return chatInput(q.chat, c)
	}
	if q.embed != nil {
		return embedInput(q.embed, c)
	}
	return 0
}

// upstreamModel names the model whose tokenizer counts q: the first
// target's.
func (q Quote) upstreamModel() string {
	if len(q.route.Targets) > 0 {
		return q.route.Targets[0].Deployment.UpstreamModel
	}
	return ""
}

// addSat adds without overflowing.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
