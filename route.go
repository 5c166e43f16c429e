package chorus

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
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
	// MaxTokensPolicy overrides the targets' max_tokens_policy for this
	// route: MaxTokensRefuse or MaxTokensClamp. Empty: clamp when every
	// target model clamps, refuse otherwise.
	MaxTokensPolicy string `json:"max_tokens_policy,omitempty"`
	// Scorers are quality.Spec values: the cascade's and ensemble's judges,
	// and what is scored off the request path for every answer.
	Scorers json.RawMessage `json:"scorers,omitempty"`
	// Target, on a cascade with a learned scorer, replaces the fixed
	// threshold by one calibrated from held-out feedback to meet it
	// (Threshold stays the threshold until there is enough feedback).
	Target *CascadeTarget `json:"target,omitempty"`
	// Explore is the share of a cascade's requests answered by a tier picked
	// at random (the first in three cases of four), whatever the score (0):
	// the feedback on those answers shows
	// a learned scorer what each tier's answers are worth, unbiased by its
	// own choices, and is what a target is calibrated on.
	Explore float64 `json:"explore,omitempty"`
}

// CascadeTarget is what a cascade calibrates its threshold to: one of
// keep quality at least MinQualityRatio of the strongest tier's, at the
// lowest cost; or keep cost at most MaxCostRatio of the strongest tier's,
// at the best quality. Margin is how many standard errors of the
// calibration's estimate the target must be met with (0 to 3; absent: 1):
// 0 meets it in expectation, and escalates least.
type CascadeTarget struct {
	MinQualityRatio float64  `json:"min_quality_ratio,omitempty"`
	MaxCostRatio    float64  `json:"max_cost_ratio,omitempty"`
	Margin          *float64 `json:"margin,omitempty"`
}

// MarginSE is the target's margin in standard errors (1 when not given).
func (t CascadeTarget) MarginSE() float64 {
	if t.Margin == nil {
		return 1
	}
	return *t.Margin
}

// validateTarget checks a cascade's target and explore share.
func (c *RouteConfig) validateTarget(strategy string) error {
	if math.IsNaN(c.Explore) || c.Explore < 0 || c.Explore > 1 {
		return Invalid("config.explore", "config.explore must be between 0 and 1, got %g", c.Explore)
	}
	if c.Explore > 0 && strategy != StrategyCascade {
		return Invalid("config.explore", "config.explore applies to cascade routes only")
	}
	t := c.Target
	if t == nil {
		return nil
	}
	if strategy != StrategyCascade {
		return Invalid("config.target", "config.target applies to cascade routes only")
	}
	q, k := t.MinQualityRatio, t.MaxCostRatio
	switch {
	case q != 0 && k != 0:
		return Invalid("config.target", "config.target takes min_quality_ratio or max_cost_ratio, not both")
	case q == 0 && k == 0:
		return Invalid("config.target", "config.target needs min_quality_ratio (e.g. 0.95) or max_cost_ratio (e.g. 0.5)")
	case math.IsNaN(q) || q < 0 || q > 1:
		return Invalid("config.target.min_quality_ratio", "config.target.min_quality_ratio must be in (0, 1], got %g", q)
	case math.IsNaN(k) || k < 0 || k > 1:
		return Invalid("config.target.max_cost_ratio", "config.target.max_cost_ratio must be in (0, 1], got %g", k)
	case t.Margin != nil && !(*t.Margin >= 0 && *t.Margin <= 3):
		return Invalid("config.target.margin", "config.target.margin (standard errors to spare) must be between 0 and 3, got %g", *t.Margin)
	}
	var specs []struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(c.Scorers, &specs) // its shape was checked by scorerCount
	for _, s := range specs {
		if s.Type == "learned" {
			return nil
		}
	}
	return Invalid("config.target", "config.target calibrates a learned scorer's threshold: add a scorer of type \"learned\" to config.scorers")
}

// UsageAttempt is one upstream call made for a request, with its own
// tokens and cost: a request's usage is the sum of its attempts.
type UsageAttempt struct {
	Deployment   string `json:"deployment"`
	Provider     string `json:"provider"`
	Model        string `json:"model"`   // the registry model of the deployment
	Outcome      string `json:"outcome"` // ok, error, canceled (a hedge's loser), rejected (below a cascade's threshold), not_chosen (an ensemble's loser)
	Status       int    `json:"status,omitempty"`
	Error        string `json:"error,omitempty"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	// The classes of tokens priced apart: parts of InputTokens (cached,
	// cache writes) and of OutputTokens (reasoning).
	CachedInputTokens int64    `json:"cached_input_tokens,omitempty"`
	CacheWriteTokens  int64    `json:"cache_write_tokens,omitempty"`
	ReasoningTokens   int64    `json:"reasoning_tokens,omitempty"`
	Cost              int64    `json:"cost"`
	LatencyMS         float64  `json:"latency_ms"`
	Score             *float64 `json:"score,omitempty"`
}

// Bounds of a route's shape and config.
const (
	maxRouteTargets  = 32
	maxRetries       = 10
	maxBackoffMS     = 60_000
	maxDeadlineMS    = 3_600_000
	maxHedgeDelayMS  = 600_000
	maxTargetWeight  = 1_000_000
	maxCacheTTL      = 30 * 24 * 3600
	defaultThreshold = 0.7
)

// Validate checks a route on its own, without I/O: its name, description,
// strategy, targets and config ranges, and that a cascade or ensemble has a
// scorer (the scorers' own settings are the quality package's to check). It
// fills the defaults the strategy needs stored (a hedge's hedge_max 1, a
// cascade's threshold 0.7; "null" scorers become none). Errors are EINVALID
// naming the field at fault.
func (r *Route) Validate() error {
	if err := ValidName("name", r.Name); err != nil {
		return err
	}
	if len(r.Description) > 2000 {
		return Invalid("description", "description must be at most 2000 characters")
	}
	if !ValidStrategy(r.Strategy) {
		return Invalid("strategy", "strategy must be one of %v, got %q", Strategies(), r.Strategy)
	}
	if err := r.validateTargets(); err != nil {
		return err
	}
	n, err := r.Config.scorerCount()
	if err != nil {
		return err
	}
	return r.validateConfig(n)
}

// validateTargets checks the targets' count, names, weights and that none
// is listed twice.
func (r *Route) validateTargets() error {
	n := len(r.Targets)
	if n == 0 || n > maxRouteTargets {
		return Invalid("targets", "targets must list 1 to %d models, got %d", maxRouteTargets, n)
	}
	seen := make(map[string]int, n)
	for i, t := range r.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if err := ValidName(field+".model", t.Model); err != nil {
			return err
		}
		if j, dup := seen[t.Model]; dup {
			return Invalid(field+".model", "%s.model: model %q is already targets[%d]", field, t.Model, j)
		}
		seen[t.Model] = i
		if t.Weight < 0 || t.Weight > maxTargetWeight {
			return Invalid(field+".weight", "%s.weight must be between 0 and %d (0 means 1)", field, maxTargetWeight)
		}
	}
	// Hedge, cascade and ensemble race or compare two models or more.
	if n < 2 && r.Strategy != StrategyFallback && r.Strategy != StrategyBalance {
		return Invalid("targets", "a %s route needs at least 2 targets, got %d", r.Strategy, n)
	}
	return nil
}

// balanceModes are the values of RouteConfig.Balance ("" means weighted).
func balanceModes() []string {
	return []string{BalanceWeighted, BalanceLeastInFlight, BalanceLatency}
}

// validateConfig checks the config's ranges against the strategy and the
// number of targets and scorers, and fills the stored defaults.
func (r *Route) validateConfig(scorers int) error {
	c, n := &r.Config, len(r.Targets)
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"retries", c.Retries, maxRetries},
		{"backoff_ms", c.BackoffMS, maxBackoffMS},
		{"deadline_ms", c.DeadlineMS, maxDeadlineMS},
		{"hedge_delay_ms", c.HedgeDelay, maxHedgeDelayMS},
	} {
		if f.v < 0 || f.v > f.limit {
			return Invalid("config."+f.name, "config.%s must be between 0 and %d, got %d", f.name, f.limit, f.v)
		}
	}
	if c.Balance != "" && !slices.Contains(balanceModes(), c.Balance) {
		return Invalid("config.balance", "config.balance must be one of %v, got %q", balanceModes(), c.Balance)
	}
	if r.Strategy == StrategyHedge && c.HedgeMax == 0 {
		c.HedgeMax = 1
	}
	if c.HedgeMax < 0 || c.HedgeMax > n-1 {
		return Invalid("config.hedge_max", "config.hedge_max must be between 0 and %d (one less than the targets), got %d", max(n-1, 0), c.HedgeMax)
	}
	if math.IsNaN(c.Threshold) || c.Threshold < 0 || c.Threshold > 1 {
		return Invalid("config.threshold", "config.threshold must be between 0 and 1, got %g", c.Threshold)
	}
	if r.Strategy == StrategyCascade && c.Threshold == 0 {
		c.Threshold = defaultThreshold
	}
	if c.CacheTTL < -1 || c.CacheTTL > maxCacheTTL {
		return Invalid("config.cache_ttl_s", "config.cache_ttl_s must be -1 (never cache), 0 (the default) or up to %d seconds, got %d", maxCacheTTL, c.CacheTTL)
	}
	if c.EnsembleN != 0 && (c.EnsembleN < 2 || c.EnsembleN > n) {
		return Invalid("config.ensemble_n", "config.ensemble_n must be 0 (all targets) or between 2 and %d, got %d", n, c.EnsembleN)
	}
	if c.MaxTokensPolicy != "" {
		if err := validMaxTokensPolicy("config.max_tokens_policy", c.MaxTokensPolicy); err != nil {
			return err
		}
	}
	if (r.Strategy == StrategyEnsemble || r.Strategy == StrategyCascade) && scorers == 0 {
		return Invalid("config.scorers", "a %s route needs at least one scorer to judge its answers", r.Strategy)
	}
	return c.validateTarget(r.Strategy)
}

// scorerCount checks that Scorers is a JSON array and returns its length.
// "null" is stored as no scorers.
func (c *RouteConfig) scorerCount() (int, error) {
	if len(c.Scorers) == 0 || string(c.Scorers) == "null" {
		c.Scorers = nil
		return 0, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(c.Scorers, &items); err != nil {
		return 0, Invalid("config.scorers", "config.scorers must be a JSON array of objects")
	}
	return len(items), nil
}
