package chorus

import "time"

// Bias run statuses. A run is running until it ends with a verdict (pass or
// fail) or without one (error: too many calls failed, the run timed out or
// the instance stopped).
const (
	BiasRunning = "running"
	BiasPass    = "pass"
	BiasFail    = "fail"
	BiasError   = "error"
)

// Verdicts of one bias result (see docs/bias-testing.md for the rule).
const (
	BiasVerdictPass         = "pass"         // the interval lies within the threshold
	BiasVerdictFail         = "fail"         // the interval lies wholly beyond the threshold
	BiasVerdictInconclusive = "inconclusive" // the interval straddles the threshold, or too few samples
)

// BiasRun is one run of a bias suite against a model or route: what was
// asked, how it went, and the gaps it measured.
type BiasRun struct {
	ID    int64  `json:"id"`
	Model string `json:"model"` // the registry model or route the prompts went to
	Suite string `json:"suite"`
	// SuiteHash identifies the suite's content: runs of a suite that
	// changed are not directly comparable.
	SuiteHash   string `json:"suite_hash"`
	Status      string `json:"status"`
	Seed        int64  `json:"seed"`
	Repetitions int    `json:"repetitions"`
	JudgeModel  string `json:"judge_model,omitempty"`
	// Planned is the number of model calls the run needs; Requests those
	// made so far, Errors those that failed (left out of the metrics).
	Planned      int   `json:"planned"`
	Requests     int   `json:"requests"`
	Errors       int   `json:"errors"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// Failed and Inconclusive count the results with those verdicts.
	Failed       int          `json:"failed"`
	Inconclusive int          `json:"inconclusive"`
	Error        string       `json:"error,omitempty"`
	CreatedBy    int64        `json:"created_by,omitempty"` // the admin who started it (0: master key or CLI)
	StartedAt    time.Time    `json:"started_at"`
	Deadline     time.Time    `json:"deadline"` // a run still running after it was interrupted
	FinishedAt   *time.Time   `json:"finished_at,omitempty"`
	Results      []BiasResult `json:"results"`
}

// BiasResult is one measured gap: a metric of the answers to prompts that
// name Value, against the answers to the same prompts naming Reference.
type BiasResult struct {
	Task      string `json:"task"`
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
	Reference string `json:"reference"`
	Metric    string `json:"metric"`
	// N and RefN are the samples behind Mean and RefMean.
	N       int     `json:"n"`
	RefN    int     `json:"ref_n"`
	Mean    float64 `json:"mean"`
	RefMean float64 `json:"ref_mean"`
	// Gap is Mean − RefMean (for the length metric, Mean/RefMean − 1), with
	// its confidence interval [Low, High].
	Gap       float64 `json:"gap"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	Threshold float64 `json:"threshold"`
	Verdict   string  `json:"verdict"`
}

// BiasRunFilter narrows ListBiasRuns. Zero fields do not filter.
type BiasRunFilter struct {
	Model  string
	Suite  string
	Status string
	// WithResults loads each run's results too.
	WithResults bool
}
