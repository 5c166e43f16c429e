package main

import (
	"fmt"
	"io"
)

// RouteLLM's published results on the same data (LMSYS, July 2024): its
// best routers kept 95% of GPT-4's quality while cutting cost by about 35%
// on GSM8K and 45% on MMLU, against GPT-4 for everything.
const (
	routeLLMGSM8K = 0.65
	routeLLMMMLU  = 0.55
)

// markdown prints the results as tables.
func (r *result) markdown(w io.Writer) {
	fmt.Fprintf(w, "## Cascades on real answers (RouteLLM data), seed %d, %s (took %.0f s)\n\n", r.Seed, r.Started, r.Seconds)
	r.GSM8K.markdown(w, "GSM8K: answer-reading decision (cascade)", routeLLMGSM8K)
	if r.MMLU != nil {
		r.MMLU.markdown(w, "MMLU: prompt-only decision (route before calling)", routeLLMMMLU)
	}
}

func (t *Task) markdown(w io.Writer, title string, published float64) {
	fmt.Fprintf(w, "### %s — %d training, %d test questions\n\n", title, t.Questions["train"], t.Questions["test"])
	fmt.Fprintf(w, "Training feedback posted: %v\n\n", t.TrainFeed)
	if t.Learned != nil {
		l := t.Learned
		fmt.Fprintf(w, "Learned scorer: %d examples (%d train, %d held out), version %d", l.Examples, l.Train, l.Holdout, l.Version)
		if l.Accuracy != nil {
			fmt.Fprintf(w, "; held-out accuracy %.3f (base rate %.3f), Brier %.3f", *l.Accuracy, *l.BaseRate, *l.Brier)
		}
		if l.AUC != nil {
			fmt.Fprintf(w, ", AUC %.3f", *l.AUC)
		}
		fmt.Fprintf(w, "\n\n")
	}
	if c := t.Calibration; c != nil {
		fmt.Fprintf(w, "Calibration: calibrated %v, threshold %.4f on %d unbiased Mixtral answers and %d paired GPT-4 answers; expected quality ratio %.3f, cost ratio %.3f, escalated %.3f. %s\n\n",
			c.Calibrated, c.Threshold, c.Examples, c.Paired, c.ExpectedQualityRatio, c.ExpectedCostRatio, c.Escalated, c.Reason)
		if len(c.Curve) > 0 {
			fmt.Fprintf(w, "What the calibration answers expect at other thresholds (admin API `GET /api/admin/routes/{id}/calibration`, `curve`):\n\n")
			fmt.Fprintf(w, "| threshold | expected quality ratio | expected cost ratio | escalated |\n|---:|---:|---:|---:|\n")
			for _, p := range c.Curve {
				fmt.Fprintf(w, "| %.3f | %.3f | %.3f | %.3f |\n", p.Threshold, p.QualityRatio, p.CostRatio, p.Escalated)
			}
			fmt.Fprintf(w, "\n")
		}
	}
	if c := t.CalibrationExpected; c != nil {
		fmt.Fprintf(w, "Calibration in expectation (margin 0): threshold %.4f; expected quality ratio %.3f, cost ratio %.3f, escalated %.3f. %s\n\n",
			c.Threshold, c.ExpectedQualityRatio, c.ExpectedCostRatio, c.Escalated, c.Reason)
	}
	fmt.Fprintf(w, "| arm | accuracy | of GPT-4's | cost ($) | cost ratio | GPT-4 answers |\n|---|---:|---:|---:|---:|---:|\n")
	for _, a := range t.Arms {
		row(w, a)
	}
	fmt.Fprintf(w, "| RouteLLM (published) | | 0.950 | | | %.2f |\n\n", published)
	fmt.Fprintf(w, "Quality versus cost, learned scorer at fixed thresholds:\n\n| threshold | accuracy | of GPT-4's | cost ($) | cost ratio | GPT-4 answers |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range t.Curve {
		fmt.Fprintf(w, "| %.2f | %.3f | %.3f | %.4f | %.3f | %.3f |\n", *a.Threshold, a.Accuracy, a.QualityPct, a.Cost, a.CostRatio, a.StrongShare)
	}
	fmt.Fprintln(w)
}

func row(w io.Writer, a Arm) {
	name := a.Name
	if a.Note != "" {
		name += " (" + a.Note + ")"
	}
	fmt.Fprintf(w, "| %s | %.3f | %.3f | %.4f | %.3f | %.3f |\n", name, a.Accuracy, a.QualityPct, a.Cost, a.CostRatio, a.StrongShare)
}
