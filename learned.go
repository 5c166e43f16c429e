package chorus

import (
	"encoding/json"
	"time"
)

// Sources of a learned scorer's labelled examples.
const (
	LearnedFromFeedback = "feedback" // a client's rating of an answer the scorer saw
	LearnedFromExplore  = "explore"  // feedback on an answer a cascade served to explore
	LearnedFromJudge    = "judge"    // a judge scorer's verdict on the answer
	LearnedFromImport   = "import"   // an operator's labelled example
)

// LearnedExample is one labelled example of a learned quality scorer: the
// features of an answer (as the quality package hashes them) and how good
// it was. Seq numbers a scope's examples from 1; rolling a scorer back
// deletes the examples after the version's Seq.
type LearnedExample struct {
	Scope      string          `json:"scope"`
	Seq        int64           `json:"seq"`
	ResponseID string          `json:"response_id,omitempty"`
	Model      string          `json:"model"`
	Source     string          `json:"source"`
	Label      float64         `json:"label"`  // in [0, 1]
	Weight     float64         `json:"weight"` // of the example in training
	Holdout    bool            `json:"holdout"`
	Features   json.RawMessage `json:"features"`
	// PriorFeatures, for an answer of a cascade's later tier, are the
	// features of the first tier's answer to the same request: calibration
	// pairs the two.
	PriorFeatures json.RawMessage `json:"prior_features,omitempty"`
	// Tokens of the answer, for the cost a cascade's target calibrates on.
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CreatedAt    time.Time `json:"created_at"`
}

// LearnedModel is one saved version of a learned scorer's weights: Seq is
// the last example it had learned from.
type LearnedModel struct {
	Scope     string          `json:"scope"`
	Version   int64           `json:"version"`
	Seq       int64           `json:"seq"`
	Note      string          `json:"note,omitempty"`
	Snapshot  json.RawMessage `json:"snapshot,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}
