package chorus

import (
	"encoding/json"
	"time"
)

// Routing strategies.
const (
	StrategyFallback = "fallback" // an ordered chain: move on when a target fails
	StrategyBalance  = "balance"  // spread traffic across targets (weighted, least in flight, latency-aware)
	StrategyHedge    = "hedge"    // send a second call when the first is slow; first good answer wins
	StrategyCascade  = "cascade"  // cheapest first; escalate while quality is below the threshold
	StrategyEnsemble = "ensemble" // call several in parallel, a judge picks the best
)

// Strategies returns every routing strategy, in a new slice the caller may
// keep or change.
func Strategies() []string {
	return []string{StrategyFallback, StrategyBalance, StrategyHedge, StrategyCascade, StrategyEnsemble}
}

// ValidStrategy reports whether s is one of Strategies.
func ValidStrategy(s string) bool {
	switch s {
	case StrategyFallback, StrategyBalance, StrategyHedge, StrategyCascade, StrategyEnsemble:
		return true
	}
	return false
}

// Balance modes of StrategyBalance.
const (
	BalanceWeighted      = "weighted"
	BalanceLeastInFlight = "least_inflight"
	BalanceLatency       = "latency" // EWMA latency with power-of-two-choices
)

// Route is a public model name that routes over several models with a
// strategy. It shares the namespace of model names: clients ask for it as
// "model".
type Route struct {
	ID          int64         `json:"id"`
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Strategy    string        `json:"strategy"`
	Targets     []RouteTarget `json:"targets"` // in order: the chain, the cascade's tiers (cheapest first)
	Config      RouteConfig   `json:"config"`
	Enabled     bool          `json:"enabled"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// RouteTarget is one model a route may call.
type RouteTarget struct {
	Model  string `json:"model"`            // a registry model name
	Weight int    `json:"weight,omitempty"` // for balance; 0 means 1
}

// RouteConfig tunes a route's strategy. Zero values mean the defaults
// written next to each field.
type RouteConfig struct {
	Retries    int     `json:"retries,omitempty"`          // extra attempts on the same target before moving on (0)
	BackoffMS  int     `json:"backoff_ms,omitempty"`       // base of exponential backoff with full jitter (100)
	DeadlineMS int     `json:"deadline_ms,omitempty"`      // whole-request deadline (the server's upstream timeout)
	Balance    string  `json:"balance,omitempty"`          // balance mode (weighted)
	Quality    bool    `json:"quality_weighted,omitempty"` // balance: multiply weights by each model's observed quality
	HedgeDelay int     `json:"hedge_delay_ms,omitempty"`   // hedge: fixed delay; 0 means the primary's observed p95
	HedgeMax   int     `json:"hedge_max,omitempty"`        // hedge: extra calls at most (1)
	Threshold  float64 `json:"threshold,omitempty"`        // cascade: the score an answer needs to be returned (0.7)
	EnsembleN  int     `json:"ensemble_n,omitempty"`       // ensemble: how many targets to call (all)
	CacheTTL   int     `json:"cache_ttl_s,omitempty"`      // response cache: > 0 caches answers this many seconds, < 0 opts out
	// Scorers are quality.Spec values: the cascade's and ensemble's judges,
	// and what is scored off the request path for every answer.
	Scorers json.RawMessage `json:"scorers,omitempty"`
}

// UsageAttempt is one upstream call made for a request, with its own
// tokens and cost: a request's usage is the sum of its attempts.
type UsageAttempt struct {
	Deployment   string   `json:"deployment"`
	Provider     string   `json:"provider"`
	Model        string   `json:"model"`   // the registry model of the deployment
	Outcome      string   `json:"outcome"` // ok, error, canceled (a hedge's loser), rejected (below a cascade's threshold), not_chosen (an ensemble's loser)
	Status       int      `json:"status,omitempty"`
	Error        string   `json:"error,omitempty"`
	InputTokens  int64    `json:"input_tokens"`
	OutputTokens int64    `json:"output_tokens"`
	Cost         int64    `json:"cost"`
	LatencyMS    float64  `json:"latency_ms"`
	Score        *float64 `json:"score,omitempty"`
}
