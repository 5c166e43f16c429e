package chorus

import "time"

// UsageFilter narrows ListUsage. Zero fields do not filter.
type UsageFilter struct {
	KeyID      *int64
	UserID     *int64
	TeamID     *int64
	ResponseID string    // the answer ID the client saw
	Model      *string   // the public model name ("" for requests refused before one was resolved)
	Status     *int      // the HTTP status returned
	Since      time.Time // created at or after
	Until      time.Time // created before
}

// Usage report dimensions: what UsageQuery.GroupBy may name.
const (
	DimTeam       = "team"
	DimKey        = "key"
	DimUser       = "user"
	DimModel      = "model"
	DimDeployment = "deployment"
	DimProvider   = "provider"
	DimStatus     = "status"
)

// UsageDims lists the dimensions in the order reports use.
func UsageDims() []string {
	return []string{DimTeam, DimKey, DimUser, DimModel, DimDeployment, DimProvider, DimStatus}
}

// Rollup granularities: UsageQuery.Interval.
const (
	IntervalHour = "hour"
	IntervalDay  = "day"
)

// UsageQuery asks a usage report of the rollups: totals over [Since,
// Until) grouped by GroupBy, per Interval when set. Zero filters do not
// filter.
type UsageQuery struct {
	Interval string   // IntervalHour, IntervalDay, or "" for one row per group over the range
	GroupBy  []string // Dim* names
	Since    time.Time
	Until    time.Time
	TeamID   *int64
	KeyID    *int64
	UserID   *int64
	Model    *string
	Provider *string
	// Percentiles asks for the latency and TTFT percentiles, which read
	// the rollups' sketches.
	Percentiles bool
}

// UsageRow is one row of a usage report. Dimensions not grouped by are
// zero or "".
type UsageRow struct {
	// ID is the row's position in the report (1-based), the page cursor.
	ID                int64      `json:"id"`
	Bucket            *time.Time `json:"bucket,omitempty"`
	TeamID            *int64     `json:"team_id,omitempty"`
	KeyID             *int64     `json:"key_id,omitempty"`
	UserID            *int64     `json:"user_id,omitempty"`
	Model             *string    `json:"model,omitempty"`
	Deployment        *string    `json:"deployment,omitempty"`
	Provider          *string    `json:"provider,omitempty"`
	Status            *int       `json:"status,omitempty"`
	Requests          int64      `json:"requests"`
	Errors            int64      `json:"errors"`
	InputTokens       int64      `json:"input_tokens"`
	OutputTokens      int64      `json:"output_tokens"`
	CachedInputTokens int64      `json:"cached_input_tokens"`
	CacheWriteTokens  int64      `json:"cache_write_tokens"`
	ReasoningTokens   int64      `json:"reasoning_tokens"`
	Cost              int64      `json:"cost"`          // micro-credits at the deployments' prices (Usage.Cost)
	Revenue           int64      `json:"revenue"`       // micro-credits billed
	ProviderCost      int64      `json:"provider_cost"` // micro-credits the providers' calls cost
	Margin            int64      `json:"margin"`        // Revenue − ProviderCost
	Saved             int64      `json:"saved"`         // micro-credits the cache and cascades saved
	CacheHits         int64      `json:"cache_hits"`
	EnergyWh          float64    `json:"energy_wh"`
	CO2eGrams         float64    `json:"co2e_g"`
	// WhPer1kTokens is EnergyWh per 1,000 input and output tokens; 0
	// without tokens.
	WhPer1kTokens float64 `json:"wh_per_1k_tokens"`
	LatencyMSMean float64 `json:"latency_ms_mean"`
	TTFTMSMean    float64 `json:"ttft_ms_mean"` // over streamed requests with a first token
	// Percentiles (UsageQuery.Percentiles), within the sketches' ±2%.
	LatencyMSP50 *float64 `json:"latency_ms_p50,omitempty"`
	LatencyMSP95 *float64 `json:"latency_ms_p95,omitempty"`
	LatencyMSP99 *float64 `json:"latency_ms_p99,omitempty"`
	TTFTMSP50    *float64 `json:"ttft_ms_p50,omitempty"`
	TTFTMSP95    *float64 `json:"ttft_ms_p95,omitempty"`
	TTFTMSP99    *float64 `json:"ttft_ms_p99,omitempty"`
}
