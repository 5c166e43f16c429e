package main

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// curveThresholds are the fixed thresholds of the quality-versus-cost curve.
var curveThresholds = []float64{0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95}

// ruleScorers are the cascades with the rule scorers Chorus ships that
// apply to free-text answers (json_valid, json_schema and the judge do not
// apply here: no JSON is asked for, and no judge model is reachable
// offline).
var ruleScorers = []struct {
	name    string
	scorers []map[string]any
}{
	{"regex: ends in a number", []map[string]any{{"type": "regex", "pattern": `[0-9][0-9,.]*[^0-9A-Za-z]*$`}}},
	{"regex: GSM8K '#### n' line", []map[string]any{{"type": "regex", "pattern": `(?m)^#### *-?[0-9]`}}},
	{"length: 80 to 1200 characters", []map[string]any{{"type": "length", "min": 80, "max": 1200}}},
	{"refusal", []map[string]any{{"type": "refusal"}}},
	{"not_contains: however", []map[string]any{{"type": "not_contains", "value": "however"}}},
}

// gsm8k trains a cascade's learned scorer through feedback on the training
// questions, then measures every arm on the test questions.
func (b *bench) gsm8k(ctx context.Context, train, test []question) (*Task, error) {
	all := append(append([]question(nil), train...), test...)
	m, err := b.setup(ctx, "gsm8k", all)
	if err != nil {
		return nil, err
	}
	t := &Task{Questions: map[string]int{"train": len(train), "test": len(test)}}
	const route = "gsm8k-cascade"
	learned := []map[string]any{{"type": "learned"}}
	id, err := b.c.route(ctx, 0, route, []string{m.cheap, m.strong}, map[string]any{"scorers": learned, "explore": b.o.explore})
	if err != nil {
		return nil, err
	}
	if t.TrainFeed, err = b.train(ctx, route, m, train); err != nil {
		return nil, err
	}
	if t.Learned, err = b.report(ctx, route+":learned"); err != nil {
		return nil, err
	}
	t.HeldOutAcc = t.Learned.Accuracy
	return t, b.measure(ctx, t, m, test, id, route, learned, true)
}

// measure runs the test arms: each model alone, the oracle, the rule
// scorers' cascades (when rules), the learned cascade calibrated to the
// target, and the curve across fixed thresholds.
func (b *bench) measure(ctx context.Context, t *Task, m models, test []question, id int64, route string, learned []map[string]any, rules bool) error {
	cheap, err := b.arm(ctx, route+"-cheap", m.cheap, m, test)
	if err != nil {
		return err
	}
	strong, err := b.arm(ctx, route+"-strong", m.strong, m, test)
	if err != nil {
		return err
	}
	s := summarize("GPT-4 alone", strong, m.strong, 0, 0)
	sc, sa := s.Cost, s.Accuracy
	s = summarize("GPT-4 alone", strong, m.strong, sc, sa)
	t.Arms = append(t.Arms, summarize("Mixtral alone", cheap, m.strong, sc, sa), s, oracle(cheap, strong, m.strong, sc, sa))
	if rules {
		for i, r := range ruleScorers {
			name := fmt.Sprintf("%s-rule%d", route, i)
			if _, err := b.c.route(ctx, 0, name, []string{m.cheap, m.strong}, map[string]any{"scorers": r.scorers}); err != nil {
				return err
			}
			outs, err := b.arm(ctx, name, name, m, test)
			if err != nil {
				return err
			}
			a := summarize("cascade, "+r.name+" (threshold 0.7)", outs, m.strong, sc, sa)
			t.Arms = append(t.Arms, a)
		}
	}
	// The learned scorer, its threshold calibrated to the target: with one
	// standard error to spare (the default), then in expectation.
	for _, margin := range []float64{1, 0} {
		target := map[string]any{"min_quality_ratio": b.o.target, "margin": margin}
		cfg := map[string]any{"scorers": learned, "target": target}
		if _, err := b.c.route(ctx, id, route, []string{m.cheap, m.strong}, cfg); err != nil {
			return err
		}
		c, err := b.calibration(ctx, id)
		if err != nil {
			return err
		}
		if margin == 1 {
			t.Calibration = c
		} else {
			t.CalibrationExpected = c
		}
		outs, err := b.arm(ctx, fmt.Sprintf("%s-target-m%g", route, margin), route, m, test)
		if err != nil {
			return err
		}
		how := "with one standard error to spare"
		if margin == 0 {
			how = "in expectation (margin 0)"
		}
		a := summarize(fmt.Sprintf("cascade, learned scorer, target min_quality_ratio %.2f %s", b.o.target, how), outs, m.strong, sc, sa)
		if c.Calibrated {
			a.Threshold = ptrf(c.Threshold)
			a.Note = fmt.Sprintf("threshold %.3f calibrated on %d+%d feedback answers; expected quality ratio %.3f, cost ratio %.3f",
				c.Threshold, c.Examples, c.Paired, c.ExpectedQualityRatio, c.ExpectedCostRatio)
		} else {
			a.Note = "not calibrated: " + c.Reason
		}
		t.Arms = append(t.Arms, a)
		if margin == 1 {
			// Random routing at the same share of strong answers, for scale.
			t.Arms = append(t.Arms, randomArm(cheap, strong, m.strong, a.StrongShare, sc, sa, b.o.seed))
		}
	}
	for _, th := range curveThresholds {
		cfg := map[string]any{"scorers": learned, "threshold": th}
		if _, err := b.c.route(ctx, id, route, []string{m.cheap, m.strong}, cfg); err != nil {
			return err
		}
		outs, err := b.arm(ctx, fmt.Sprintf("%s-t%.2f", route, th), route, m, test)
		if err != nil {
			return err
		}
		c := summarize(fmt.Sprintf("learned, threshold %.2f", th), outs, m.strong, sc, sa)
		c.Threshold = ptrf(th)
		t.Curve = append(t.Curve, c)
	}
	return nil
}

// randomArm sends a random share of the questions (seeded) to the strong
// model: what a router that knows nothing reaches at that share.
func randomArm(cheap, strong []outcome, strongModel string, share, sc, sa float64, seed uint64) Arm {
	r := rand.New(rand.NewPCG(seed, 99)) // #nosec G404 -- a reproducible baseline
	outs := make([]outcome, len(cheap))
	for i := range cheap {
		if r.Float64() < share {
			outs[i] = outcome{Model: strongModel, Cost: cheap[i].Cost + strong[i].Cost, Right: strong[i].Right}
		} else {
			outs[i] = cheap[i]
		}
	}
	return summarize(fmt.Sprintf("random escalation of %.0f%% (a router that knows nothing)", share*100), outs, strongModel, sc, sa)
}

// mmlu trains a prompt-only learned scorer (the cascade decides before
// calling the cheap model) on half the MMLU questions and measures on the
// other half. MMLU has no answer texts: the replay answers are a
// placeholder, and the decision reads only the question.
func (b *bench) mmlu(ctx context.Context, d *dataset) (*Task, error) {
	if err := checkModels(d); err != nil {
		return nil, err
	}
	qs := d.Questions
	if n := b.o.mmluN; n > 0 && n < len(qs) {
		qs = append([]question(nil), qs...)
		r := rand.New(rand.NewPCG(b.o.seed, 11)) // #nosec G404 -- a reproducible sample
		r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
		qs = qs[:n]
	}
	train, test := split(qs, b.o.seed)
	m, err := b.setup(ctx, "mmlu", qs)
	if err != nil {
		return nil, err
	}
	t := &Task{Questions: map[string]int{"train": len(train), "test": len(test)}}
	const route = "mmlu-cascade"
	learned := []map[string]any{{"type": "learned", "input": "prompt"}}
	id, err := b.c.route(ctx, 0, route, []string{m.cheap, m.strong}, map[string]any{"scorers": learned, "explore": b.o.explore})
	if err != nil {
		return nil, err
	}
	if t.TrainFeed, err = b.train(ctx, route, m, train); err != nil {
		return nil, err
	}
	if t.Learned, err = b.report(ctx, route+":learned"); err != nil {
		return nil, err
	}
	t.HeldOutAcc = t.Learned.Accuracy
	return t, b.measure(ctx, t, m, test, id, route, learned, false)
}
