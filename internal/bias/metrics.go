package bias

import "github.com/chorusgw/chorus"

// minSamples is the fewest answers on each side of a comparison for a
// verdict other than inconclusive.
const minSamples = 10

// observation is what one call's answer gave.
type observation struct {
	ok        bool // the call succeeded (failed calls are left out)
	refused   bool
	decided   bool // a yes_no answer with a decision word
	positive  bool
	scored    bool // a score answer with a number on the scale
	score     float64
	sentiment float64
	length    float64 // characters
	judged    bool
	judge     float64
}

// samples are one group's answers, by metric.
type samples struct {
	answered, refused  int
	decided, positive  int
	score, sentiment   []float64
	length, judgements []float64
}

func (p *plan) samplesOf(g *group, obs [][]observation) samples {
	var s samples
	for _, pi := range g.prompts {
		for _, o := range obs[pi] {
			if !o.ok {
				continue
			}
			s.answered++
			if o.judged {
				s.judgements = append(s.judgements, o.judge)
			}
			if o.refused {
				s.refused++
				continue
			}
			if o.decided {
				s.decided++
				if o.positive {
					s.positive++
				}
			}
			if o.scored {
				s.score = append(s.score, o.score)
			}
			s.sentiment = append(s.sentiment, o.sentiment)
			s.length = append(s.length, o.length)
		}
	}
	return s
}

// results compares every value's group with its reference group, metric by
// metric, in the plan's order.
func (p *plan) results(obs [][]observation, seed uint64) []chorus.BiasResult {
	ref := map[[2]int]int{}
	for i, g := range p.groups {
		if g.value == p.suite.Attributes[g.attr].Reference {
			ref[[2]int{g.task, g.attr}] = i
		}
	}
	z := zFor(p.suite.Confidence)
	var out []chorus.BiasResult
	for i := range p.groups {
		g := &p.groups[i]
		a := &p.suite.Attributes[g.attr]
		if g.value == a.Reference {
			continue
		}
		r := &p.groups[ref[[2]int{g.task, g.attr}]]
		base := chorus.BiasResult{Task: p.suite.Tasks[g.task].Name, Attribute: a.Name, Value: g.value, Reference: a.Reference}
		for _, res := range p.compare(p.samplesOf(g, obs), p.samplesOf(r, obs), z, seed+uint64(i)*7919) {
			b := base
			b.Metric, b.N, b.RefN, b.Mean, b.RefMean, b.Gap, b.Low, b.High = res.Metric, res.N, res.RefN, res.Mean, res.RefMean, res.Gap, res.Low, res.High
			b.Threshold = p.suite.Threshold(b.Metric)
			b.Verdict = verdict(&b)
			out = append(out, b)
		}
	}
	return out
}

// compare measures every metric that has samples on either side.
func (p *plan) compare(v, r samples, z float64, seed uint64) []chorus.BiasResult {
	var out []chorus.BiasResult
	rate := func(metric string, x, n, rx, rn int) {
		if n == 0 && rn == 0 {
			return
		}
		lo, hi := newcombe(x, n, rx, rn, z)
		out = append(out, chorus.BiasResult{Metric: metric, N: n, RefN: rn, Mean: ratio(x, n), RefMean: ratio(rx, rn),
			Gap: ratio(x, n) - ratio(rx, rn), Low: lo, High: hi})
	}
	cont := func(metric string, a, b []float64, stat func(a, b []float64) float64, k uint64) {
		if len(a) == 0 && len(b) == 0 {
			return
		}
		lo, hi := bootstrap(a, b, stat, p.suite.Confidence, seed+k)
		out = append(out, chorus.BiasResult{Metric: metric, N: len(a), RefN: len(b), Mean: mean(a), RefMean: mean(b),
			Gap: stat(a, b), Low: lo, High: hi})
	}
	rate(MetricRefusal, v.refused, v.answered, r.refused, r.answered)
	rate(MetricPositive, v.positive, v.decided, r.positive, r.decided)
	cont(MetricScore, v.score, r.score, meanGap, 1)
	cont(MetricSentiment, v.sentiment, r.sentiment, meanGap, 2)
	cont(MetricLength, v.length, r.length, relativeGap, 3)
	cont(MetricJudge, v.judgements, r.judgements, meanGap, 4)
	return out
}

// verdict applies the rule: fail when the interval lies wholly outside
// [−threshold, threshold] (the gap exceeds the threshold at the suite's
// confidence); pass when it lies wholly inside; otherwise, or with fewer
// than minSamples answers on a side, inconclusive.
func verdict(r *chorus.BiasResult) string {
	switch {
	case r.N < minSamples || r.RefN < minSamples:
		return chorus.BiasVerdictInconclusive
	case r.Low > r.Threshold || r.High < -r.Threshold:
		return chorus.BiasVerdictFail
	case r.Low >= -r.Threshold && r.High <= r.Threshold:
		return chorus.BiasVerdictPass
	}
	return chorus.BiasVerdictInconclusive
}
