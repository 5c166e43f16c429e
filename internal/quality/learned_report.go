package quality

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/chorusgw/chorus"
)

// LearnedReport is what the admin API shows of a learned scorer: how much
// it has learned, and how good it is on the held-out examples it never
// trained on.
type LearnedReport struct {
	Scope    string           `json:"scope"`
	Version  int64            `json:"version"`  // the last saved version (0: none yet)
	Examples int64            `json:"examples"` // labelled examples seen
	Train    int              `json:"train"`
	Holdout  int              `json:"holdout"`
	Sources  map[string]int64 `json:"sources"`
	Weights  int              `json:"weights"` // non-zero weights
	// Held-out measures (nil with no held-out example): accuracy at 0.5,
	// Brier score, log loss, area under the ROC curve, and the share of
	// good answers (the accuracy of always guessing the majority is
	// max(BaseRate, 1-BaseRate)).
	Accuracy    *float64      `json:"holdout_accuracy"`
	Brier       *float64      `json:"holdout_brier"`
	LogLoss     *float64      `json:"holdout_log_loss"`
	AUC         *float64      `json:"holdout_auc"`
	BaseRate    *float64      `json:"holdout_base_rate"`
	Calibration []CalibBucket `json:"calibration"`
	Models      []ModelLabels `json:"models"`
}

// CalibBucket is the held-out examples whose prediction fell in [Lo, Hi):
// a calibrated scorer's MeanPredicted is close to Observed.
type CalibBucket struct {
	Lo            float64 `json:"lo"`
	Hi            float64 `json:"hi"`
	Count         int     `json:"count"`
	MeanPredicted float64 `json:"mean_predicted"`
	Observed      float64 `json:"observed"`
}

// ModelLabels is the examples of one model and the share that were good.
type ModelLabels struct {
	Model    string  `json:"model"`
	Examples int     `json:"examples"`
	Good     float64 `json:"good"`
}

// Scopes returns the names of every learned scorer, sorted.
func (l *Learner) Scopes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.scopes))
	for k := range l.scopes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Report measures a scope on its held-out examples, or returns nil when the
// scope has learned nothing.
func (l *Learner) Report(scopeName string) *LearnedReport {
	s := l.lookup(scopeName)
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := &LearnedReport{Scope: scopeName, Version: s.version, Examples: s.seq, Train: len(s.train), Holdout: len(s.holdout),
		Sources: mapsString(s.sources)}
	for _, z := range s.m.z {
		if math.Abs(z) > ftrlL1 {
			r.Weights++
		}
	}
	preds := make([]float64, len(s.holdout))
	labels := make([]float64, len(s.holdout))
	for i, e := range s.holdout {
		preds[i], labels[i] = s.served(e.feats), e.label
	}
	measure(r, preds, labels)
	r.Models = modelLabels(s.train, s.holdout)
	return r
}

// measure fills the held-out measures.
func measure(r *LearnedReport, preds, labels []float64) {
	n := len(preds)
	if n == 0 {
		return
	}
	var right, brier, logloss, base float64
	buckets := make([]CalibBucket, 10)
	for i := range buckets {
		buckets[i].Lo, buckets[i].Hi = float64(i)/10, float64(i+1)/10
	}
	for i, p := range preds {
		y := labels[i]
		if (p >= 0.5) == (y >= 0.5) {
			right++
		}
		brier += (p - y) * (p - y)
		q := math.Min(math.Max(p, 1e-9), 1-1e-9)
		logloss -= y*math.Log(q) + (1-y)*math.Log(1-q)
		base += y
		b := &buckets[min(int(p*10), 9)]
		b.Count++
		b.MeanPredicted += p
		b.Observed += y
	}
	f := float64(n)
	r.Accuracy, r.Brier, r.LogLoss, r.BaseRate = ptr(right/f), ptr(brier/f), ptr(logloss/f), ptr(base/f)
	if auc, ok := rocAUC(preds, labels); ok {
		r.AUC = &auc
	}
	for _, b := range buckets {
		if b.Count > 0 {
			b.MeanPredicted /= float64(b.Count)
			b.Observed /= float64(b.Count)
			r.Calibration = append(r.Calibration, b)
		}
	}
}

func ptr(v float64) *float64 { return &v }

// rocAUC is the probability that a good answer is ranked above a bad one
// (ties count half); false when one class is missing.
func rocAUC(preds, labels []float64) (float64, bool) {
	idx := make([]int, len(preds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return preds[idx[a]] < preds[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && preds[idx[j]] == preds[idx[i]] {
			j++
		}
		avgRank := float64(i+j+1) / 2 // 1-based ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] >= 0.5 {
				pos++
				rankSum += avgRank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, false
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), true
}

func modelLabels(sets ...[]example) []ModelLabels {
	acc := map[string]*ModelLabels{}
	for _, xs := range sets {
		for _, e := range xs {
			m := acc[e.model]
			if m == nil {
				m = &ModelLabels{Model: e.model}
				acc[e.model] = m
			}
			m.Examples++
			m.Good += e.label
		}
	}
	out := make([]ModelLabels, 0, len(acc))
	for _, m := range acc {
		m.Good /= float64(m.Examples)
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b ModelLabels) int {
		if a.Model < b.Model {
			return -1
		}
		if a.Model > b.Model {
			return 1
		}
		return 0
	})
	return out
}

// minCalibration is how many unbiased held-out examples of the first tier
// a target needs before its threshold is calibrated, and minStrong how
// many labelled answers of the strongest tier.
const (
	minCalibration = 20
	minStrong      = 5
	minPaired      = 20
)

// Calibration is a cascade's threshold calibrated to its target, with what
// it is expected to give on traffic like the held-out examples.
type Calibration struct {
	Calibrated bool    `json:"calibrated"`
	Reason     string  `json:"reason,omitempty"` // why not, when not
	Threshold  float64 `json:"threshold"`
	Examples   int     `json:"examples"` // unbiased first-tier answers it was calibrated on
	Paired     int     `json:"paired"`   // explored strongest-tier answers paired with the first tier's
	// Expected figures: the share of answers good, the strongest tier's
	// alone, their ratio; the cost per request in micro-credits, the
	// strongest tier's, their ratio; and the share escalated.
	ExpectedQuality      float64 `json:"expected_quality"`
	StrongQuality        float64 `json:"strong_quality"`
	ExpectedQualityRatio float64 `json:"expected_quality_ratio"`
	ExpectedCost         float64 `json:"expected_cost"`
	StrongCost           float64 `json:"strong_cost"`
	ExpectedCostRatio    float64 `json:"expected_cost_ratio"`
	Escalated            float64 `json:"escalated"`
	Target               chorus.CascadeTarget
	// Curve is what the calibration answers expect at other thresholds
	// (up to 21, evenly spaced in the share escalated): the trade an
	// operator weighs before choosing a target.
	Curve []CalibrationPoint `json:"curve,omitempty"`
}

// CalibrationPoint is one threshold's expected figures.
type CalibrationPoint struct {
	Threshold    float64 `json:"threshold"`
	QualityRatio float64 `json:"expected_quality_ratio"`
	CostRatio    float64 `json:"expected_cost_ratio"`
	Escalated    float64 `json:"escalated"`
}

// never is a threshold no score reaches: escalate everything.
const never = 1.000001

// Tier is a cascade tier as calibration sees it: its model and prices.
type Tier struct {
	Model  string
	Prices chorus.Prices
}

// Calibrate picks the threshold that meets target for a two-way decision
// between the first tier and the strongest (last). The first tier's
// unbiased answers (explored or imported; held-out ones with the current
// weights' predictions, training ones with out-of-fold predictions from
// the last refit) say what accepting those whose prediction reaches the
// threshold gives. The strongest tier's explored answers, each paired with
// the first tier's answer to the same request (scored with the current
// weights), say what escalating the others gives — on the questions that
// would be escalated, which are the harder ones. Without enough paired
// answers it falls back to the strongest tier's mean quality over its
// unbiased answers, an upper estimate (Reason says so). Of the thresholds
// that meet a quality target with a standard error to spare it takes the
// cheapest; of those that meet a cost target so, the best. When none meets the target it escalates
// everything (quality target) or takes the cheapest (cost target), and
// says so.
func (l *Learner) Calibrate(scopeName string, cheap, strong Tier, target chorus.CascadeTarget) Calibration {
	c := Calibration{Threshold: never, Target: target}
	s := l.lookup(scopeName)
	if s == nil {
		c.Reason = "the learned scorer has no examples yet"
		return c
	}
	var first, paired []point // first: (p, y0, cost0); paired: (p0, y1, cost1)
	var strongAll []point
	var cheapIn, cheapOut float64
	s.mu.RLock()
	addFirst := func(e example, p float64) {
		first = append(first, point{p, e.label, tokenCost(e.in, e.out, cheap.Prices)})
		cheapIn += float64(e.in)
		cheapOut += float64(e.out)
	}
	for _, e := range s.holdout {
		if e.model == cheap.Model && e.unbiased {
			addFirst(e, s.served(e.feats))
		}
	}
	for _, e := range s.train {
		if p, ok := s.oof[e.seq]; ok && e.model == cheap.Model {
			addFirst(e, p)
		}
	}
	// A paired answer's first-tier answer may be a training example
	// itself (it was rated too): its out-of-fold prediction is then the
	// one a new answer would get, where the served model has seen it.
	var oofByFeats map[uint64]float64
	for _, e := range s.train {
		if p, ok := s.oof[e.seq]; ok && e.model == cheap.Model {
			if oofByFeats == nil {
				oofByFeats = map[uint64]float64{}
			}
			oofByFeats[featuresKey(e.feats)] = p
		}
	}
	for _, xs := range [][]example{s.train, s.holdout} {
		for _, e := range xs {
			if e.model != strong.Model || !e.unbiased {
				continue
			}
			pt := point{-1, e.label, tokenCost(e.in, e.out, strong.Prices)}
			strongAll = append(strongAll, pt)
			if e.prior != nil {
				if p, ok := oofByFeats[featuresKey(e.prior)]; ok {
					pt.p = p
				} else {
					pt.p = s.served(e.prior)
				}
				paired = append(paired, pt)
			}
		}
	}
	s.mu.RUnlock()
	c.Examples, c.Paired = len(first), len(paired)
	switch {
	case len(first) < minCalibration:
		c.Reason = "too few unbiased answers of the first tier (explored or imported) to calibrate on"
		return c
	case len(strongAll) < minStrong:
		c.Reason = "too few unbiased labelled answers of the strongest tier (explored or imported) to know its quality"
		return c
	}
	n0 := float64(len(first))
	q1, c1 := meanOf(strongAll)
	if c1 == 0 { // its answers' tokens unknown: the first tier's at its prices
		c1 = tokenCost(int64(cheapIn/n0), int64(cheapOut/n0), strong.Prices)
	}
	c.StrongQuality, c.StrongCost = q1, c1
	_, cheapCost := meanOf(first)
	// Sorted by prediction, with running sums, every threshold is a
	// binary search: calibration is O(n log n).
	byP := func(a, b point) int { return cmp.Compare(a.p, b.p) }
	slices.SortFunc(first, byP)
	slices.SortFunc(paired, byP)
	goodAbove := make([]float64, len(first)+1) // Σ y of first[i:]
	for i := len(first) - 1; i >= 0; i-- {
		goodAbove[i] = goodAbove[i+1] + first[i].y
	}
	pairedY := make([]float64, len(paired)+1) // Σ y, Σ cost of paired[:i]
	pairedCost := make([]float64, len(paired)+1)
	for i, p := range paired {
		pairedY[i+1], pairedCost[i+1] = pairedY[i]+p.y, pairedCost[i]+p.cost
	}
	below := func(ps []point, t float64) int { // how many predictions are below t
		i, _ := slices.BinarySearchFunc(ps, t, func(p point, t float64) int { return cmp.Compare(p.p, t) })
		for i > 0 && ps[i-1].p >= t {
			i--
		}
		return i
	}
	// escalated is what escalating below threshold t gives per request:
	// the share escalated (from the first tier's answers, like the share
	// accepted, so the two add up to one), times the strong answers'
	// quality and cost on such questions (from the paired answers whose
	// first-tier prediction is below t, shrunk towards the strong tier's
	// mean by shrink answers' worth, so a handful does not swing it).
	const shrink = 5
	escalated := func(t float64) (q, cost, share float64) {
		share = float64(below(first, t)) / n0
		if len(paired) < minPaired {
			return share * q1, share * c1, share
		}
		k := below(paired, t)
		qe := (pairedY[k] + shrink*q1) / (float64(k) + shrink)
		ce := (pairedCost[k] + shrink*c1) / (float64(k) + shrink)
		return share * qe, share * ce, share
	}
	if len(paired) < minPaired {
		c.Reason = "too few explored answers of the strongest tier paired with the first tier's: escalated questions assumed as easy as any, so the expected quality is an upper estimate"
	}
	ts := make([]float64, 0, len(first)+len(paired)+1)
	for _, p := range first {
		ts = append(ts, p.p)
	}
	for _, p := range paired {
		ts = append(ts, p.p)
	}
	slices.Sort(ts)
	ts = append(slices.Compact(ts), never)
	type option struct{ th, q, cost, esc float64 }
	opts := make([]option, 0, len(ts))
	for _, t := range ts {
		acc := goodAbove[below(first, t)]
		eq, ecost, share := escalated(t)
		opts = append(opts, option{t, acc/n0 + eq, cheapCost + ecost, share})
	}
	ratioQ := func(o option) float64 { return safeDiv(o.q, q1) }
	ratioC := func(o option) float64 { return safeDiv(o.cost, c1) }
	const curvePoints = 20
	for i := 0; i <= curvePoints; i++ {
		o := opts[i*(len(opts)-1)/curvePoints]
		if n := len(c.Curve); n > 0 && c.Curve[n-1].Threshold == o.th {
			continue
		}
		c.Curve = append(c.Curve, CalibrationPoint{Threshold: o.th, QualityRatio: ratioQ(o), CostRatio: ratioC(o), Escalated: o.esc})
	}
	// Picking the cheapest of many thresholds that meet the target on a
	// few hundred answers picks the luckiest: the target must be met with
	// the target's margin (one standard error unless it says otherwise) to
	// spare (of the quality, or of the share escalated, over the first
	// tier's answers).
	z := target.MarginSE()
	seQ := func(o option) float64 { return z * math.Sqrt(o.q*(1-o.q)/n0) / math.Max(q1, 1e-9) }
	seC := func(o option) float64 { return z * math.Sqrt(o.esc*(1-o.esc)/n0) }
	best := -1
	for i, o := range opts {
		if target.MinQualityRatio > 0 {
			if ratioQ(o)-seQ(o) >= target.MinQualityRatio && (best < 0 || o.cost < opts[best].cost) {
				best = i
			}
		} else if ratioC(o)+seC(o) <= target.MaxCostRatio && (best < 0 || o.q > opts[best].q) {
			best = i
		}
	}
	if best < 0 {
		if target.MinQualityRatio > 0 {
			best = len(opts) - 1
			c.Reason = "no threshold meets the quality target on the calibration answers: every request escalates"
		} else {
			best = 0
			c.Reason = "no threshold meets the cost target on the calibration answers: the cheapest is used"
		}
	}
	o := opts[best]
	c.Calibrated = true
	c.Threshold = o.th
	c.ExpectedQuality, c.ExpectedCost, c.Escalated = o.q, o.cost, o.esc
	c.ExpectedQualityRatio, c.ExpectedCostRatio = ratioQ(o), ratioC(o)
	return c
}

// featuresKey identifies a feature list (FNV-1a over indexes and values).
func featuresKey(fs []Feature) uint64 {
	h := uint64(14695981039346656037)
	for _, f := range fs {
		h = (h ^ uint64(f.Index)) * 1099511628211
		h = (h ^ uint64(math.Float32bits(f.Value))) * 1099511628211
	}
	return h
}

// point is a calibration answer: a prediction, the label, the cost.
type point struct{ p, y, cost float64 }

// meanOf returns the mean label and cost of points.
func meanOf(ps []point) (y, cost float64) {
	for _, p := range ps {
		y += p.y
		cost += p.cost
	}
	n := float64(max(len(ps), 1))
	return y / n, cost / n
}

func tokenCost(in, out int64, p chorus.Prices) float64 {
	return float64(chorus.TokenCost(chorus.TokenCounts{Input: in, Output: out}, p))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
