package quality_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/quality"
)

// memStore is an in-memory quality.LearnedStore.
type memStore struct {
	mu       sync.Mutex
	examples []*chorus.LearnedExample
	models   []*chorus.LearnedModel
	fail     error
}

func (m *memStore) InsertLearnedExample(_ context.Context, e *chorus.LearnedExample) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if e.Seq == 0 { // numbered like the store: the scope's next
		for _, x := range m.examples {
			if x.Scope == e.Scope {
				e.Seq = max(e.Seq, x.Seq)
			}
		}
		e.Seq++
	}
	c := *e
	m.examples = append(m.examples, &c)
	return nil
}

func (m *memStore) LearnedScopes(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, x := range m.examples {
		if !slices.Contains(out, x.Scope) {
			out = append(out, x.Scope)
		}
	}
	return out, nil
}

func (m *memStore) ListLearnedExamples(_ context.Context, scope string, after int64, limit int) ([]*chorus.LearnedExample, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*chorus.LearnedExample
	for _, e := range m.examples {
		if e.Scope == scope && e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) DeleteLearnedExamplesAfter(_ context.Context, scope string, seq int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.examples = slices.DeleteFunc(m.examples, func(e *chorus.LearnedExample) bool { return e.Scope == scope && e.Seq > seq })
	return nil
}

func (m *memStore) SaveLearnedModel(_ context.Context, lm *chorus.LearnedModel) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lm.Version == 0 {
		for _, x := range m.models {
			if x.Scope == lm.Scope {
				lm.Version = max(lm.Version, x.Version)
			}
		}
		lm.Version++
	}
	c := *lm
	m.models = append(m.models, &c)
	return nil
}

func (m *memStore) LearnedModel(_ context.Context, scope string, v int64) (*chorus.LearnedModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, lm := range m.models {
		if lm.Scope == scope && lm.Version == v {
			return lm, nil
		}
	}
	return nil, &chorus.Error{Code: chorus.ENOTFOUND, Message: "no version"}
}

func (m *memStore) LatestLearnedModels(context.Context) ([]*chorus.LearnedModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	latest := map[string]*chorus.LearnedModel{}
	for _, lm := range m.models {
		if l := latest[lm.Scope]; l == nil || lm.Version > l.Version {
			latest[lm.Scope] = lm
		}
	}
	var out []*chorus.LearnedModel
	for _, lm := range latest {
		out = append(out, lm)
	}
	return out, nil
}

func (m *memStore) ListLearnedModels(_ context.Context, scope string) ([]*chorus.LearnedModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*chorus.LearnedModel
	for _, lm := range m.models {
		if lm.Scope == scope {
			out = append(out, lm)
		}
	}
	return out, nil
}

// gsm8k is a row of the committed sample: the question, each model's
// answer and whether it was right.
type gsm8k struct {
	q                 string
	cheap, strong     string
	cheapOK, strongOK bool
}

func readSample(t testing.TB) []gsm8k {
	t.Helper()
	f, err := os.Open("../provider/replay/testdata/gsm8k_sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []gsm8k
	for _, r := range rows[1:] {
		c, _ := strconv.ParseBool(r[1])
		s, _ := strconv.ParseBool(r[2])
		out = append(out, gsm8k{q: r[0], cheap: r[3], strong: r[4], cheapOK: c, strongOK: s})
	}
	return out
}

func label(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}

// TestLearnerLearns trains on real answers of the sample and checks that
// the scorer ranks held-out answers better than chance.
func TestLearnerLearns(t *testing.T) {
	rows := readSample(t)
	st := &memStore{}
	l := quality.NewLearner(quality.LearnerOptions{Store: st, Holdout: 0.3})
	ctx := context.Background()
	const scope = "gsm:learned"
	if p := l.Predict(scope, quality.Featurize(quality.Example{Question: "q"})); p != 0.5 {
		t.Fatalf("an untrained scorer predicts %v, want 0.5", p)
	}
	var xs []quality.ImportedExample
	for _, r := range rows {
		xs = append(xs, quality.ImportedExample{Example: quality.Example{Question: r.q, Answer: r.cheap, Model: "mixtral"}, Label: label(r.cheapOK)})
	}
	n, err := l.Import(ctx, scope, xs)
	if err != nil || n != len(rows) {
		t.Fatalf("import: %d, %v", n, err)
	}
	rep := l.Report(scope)
	if rep == nil || rep.Examples != int64(len(rows)) || rep.Holdout == 0 || rep.Train+rep.Holdout != len(rows) {
		t.Fatalf("report %+v", rep)
	}
	if rep.AUC == nil || *rep.AUC < 0.6 {
		t.Fatalf("held-out AUC %v: no better than chance", rep.AUC)
	}
	if rep.Brier == nil || *rep.Brier > 0.25 || len(rep.Calibration) == 0 || rep.Version != 1 {
		t.Fatalf("brier %v, calibration %v, version %d", rep.Brier, rep.Calibration, rep.Version)
	}
	if len(st.examples) != len(rows) || len(st.models) != 1 {
		t.Fatalf("stored %d examples, %d versions", len(st.examples), len(st.models))
	}
	t.Run("HoldoutIsStable", func(t *testing.T) {
		l2 := quality.NewLearner(quality.LearnerOptions{Holdout: 0.3})
		if _, err := l2.Import(ctx, scope, xs); err != nil {
			t.Fatal(err)
		}
		if got := l2.Report(scope); got.Holdout != rep.Holdout || *got.AUC != *rep.AUC {
			t.Fatalf("a second learner held out %d (AUC %v), the first %d (AUC %v)", got.Holdout, *got.AUC, rep.Holdout, *rep.AUC)
		}
	})
	t.Run("LoadRestores", func(t *testing.T) {
		l2 := quality.NewLearner(quality.LearnerOptions{Store: st, Holdout: 0.3})
		if err := l2.Load(ctx); err != nil {
			t.Fatal(err)
		}
		fs := quality.Featurize(xs[0].Example)
		if a, b := l.Predict(scope, fs), l2.Predict(scope, fs); a != b {
			t.Fatalf("restored scorer predicts %v, the original %v", b, a)
		}
		if got := l2.Report(scope); got.Examples != rep.Examples || got.Holdout != rep.Holdout {
			t.Fatalf("restored report %+v", got)
		}
	})
	t.Run("RollbackForgets", func(t *testing.T) {
		fs := quality.Featurize(xs[0].Example)
		before := l.Predict(scope, fs)
		// Junk: every answer labelled bad.
		var junk []quality.ImportedExample
		for _, x := range xs {
			junk = append(junk, quality.ImportedExample{Example: x.Example, Label: 0})
		}
		if _, err := l.Import(ctx, scope, junk); err != nil {
			t.Fatal(err)
		}
		if after := l.Predict(scope, fs); after >= before {
			t.Fatalf("junk did not lower the prediction: %v then %v", before, after)
		}
		m, err := l.Rollback(ctx, scope, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != 3 || l.Predict(scope, fs) != before {
			t.Fatalf("rollback: version %d, prediction %v, want %v", m.Version, l.Predict(scope, fs), before)
		}
		if got := l.Report(scope); got.Examples != int64(len(rows)) {
			t.Fatalf("after rollback %d examples, want %d", got.Examples, len(rows))
		}
		if len(st.examples) != len(rows) {
			t.Fatalf("store kept %d examples, want %d", len(st.examples), len(rows))
		}
		if _, err := l.Rollback(ctx, scope, 99); chorus.ErrorCode(err) != chorus.ENOTFOUND {
			t.Fatalf("rollback to a missing version: %v", err)
		}
	})
}

func TestLearnerFeedback(t *testing.T) {
	ctx := context.Background()
	l := quality.NewLearner(quality.LearnerOptions{})
	fs := quality.Featurize(quality.Example{Question: "2+2?", Answer: "4", Model: "m"})
	l.Remember("chatcmpl-1", "r:learned", "m", fs, nil, true, 10, 2)
	ok, err := l.Feedback(ctx, &chorus.Feedback{ResponseID: "chatcmpl-1", Rating: chorus.RatingUp})
	if err != nil || !ok {
		t.Fatalf("feedback on a remembered answer: %v %v", ok, err)
	}
	if ok, err := l.Feedback(ctx, &chorus.Feedback{ResponseID: "chatcmpl-1", Rating: chorus.RatingDown}); !ok || err != nil {
		t.Fatalf("second feedback: %v %v", ok, err)
	}
	ok, err = l.Feedback(ctx, &chorus.Feedback{ResponseID: "chatcmpl-unknown", Rating: chorus.RatingDown})
	if err != nil || ok {
		t.Fatalf("feedback on an unknown answer: %v %v", ok, err)
	}
	score := 0.25
	l.Remember("chatcmpl-2", "r:learned", "m", fs, nil, false, 10, 2)
	if _, err := l.Feedback(ctx, &chorus.Feedback{ResponseID: "chatcmpl-2", Score: &score}); err != nil {
		t.Fatal(err)
	}
	rep := l.Report("r:learned")
	if rep.Examples != 2 || rep.Sources[chorus.LearnedFromExplore] != 1 || rep.Sources[chorus.LearnedFromFeedback] != 1 {
		t.Fatalf("report %+v", rep)
	}
	if err := l.Learn(ctx, quality.Labelled{Scope: "r:learned", Label: 2}); chorus.ErrorCode(err) != chorus.EINVALID {
		t.Fatalf("label 2: %v", err)
	}
	t.Run("PendingIsBounded", func(t *testing.T) {
		l := quality.NewLearner(quality.LearnerOptions{PendingSize: 3})
		for i := range 5 {
			l.Remember(fmt.Sprint("id", i), "s:learned", "m", fs, nil, false, 1, 1)
		}
		for i, want := range []bool{false, false, true, true, true} {
			ok, _ := l.Feedback(ctx, &chorus.Feedback{ResponseID: fmt.Sprint("id", i), Rating: chorus.RatingUp})
			if ok != want {
				t.Fatalf("id%d remembered %v, want %v", i, ok, want)
			}
		}
	})
}

func TestCalibrate(t *testing.T) {
	rows := readSample(t)
	ctx := context.Background()
	cheap := quality.Tier{Model: "mixtral", Prices: chorus.Prices{Input: 600_000, Output: 600_000}}
	strong := quality.Tier{Model: "gpt-4", Prices: chorus.Prices{Input: 10_000_000, Output: 30_000_000}}
	l := quality.NewLearner(quality.LearnerOptions{Holdout: 0.3})
	const scope = "c:learned"
	t.Run("ErrNoExamples", func(t *testing.T) {
		c := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MinQualityRatio: 0.95})
		if c.Calibrated || c.Reason == "" || c.Threshold <= 1 {
			t.Fatalf("%+v", c)
		}
	})
	var xs []quality.ImportedExample
	for _, r := range rows {
		xs = append(xs, quality.ImportedExample{Example: quality.Example{Question: r.q, Answer: r.cheap, Model: "mixtral"}, Label: label(r.cheapOK)})
	}
	if _, err := l.Import(ctx, scope, xs); err != nil {
		t.Fatal(err)
	}
	t.Run("ErrNoStrongLabels", func(t *testing.T) {
		c := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MinQualityRatio: 0.95})
		if c.Calibrated {
			t.Fatalf("calibrated without the strong tier's quality: %+v", c)
		}
	})
	xs = xs[:0]
	for _, r := range rows {
		xs = append(xs, quality.ImportedExample{Example: quality.Example{Question: r.q, Answer: r.strong, Model: "gpt-4"}, Label: label(r.strongOK)})
	}
	if _, err := l.Import(ctx, scope, xs); err != nil {
		t.Fatal(err)
	}
	q := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MinQualityRatio: 0.95})
	if !q.Calibrated || q.ExpectedQualityRatio < 0.95 || q.ExpectedCostRatio >= 1 || q.Examples < 100 {
		t.Fatalf("quality target: %+v", q)
	}
	k := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MaxCostRatio: 0.3})
	if !k.Calibrated || k.ExpectedCostRatio > 0.3 || k.Threshold < q.Threshold && k.ExpectedCostRatio > q.ExpectedCostRatio {
		t.Fatalf("cost target: %+v (quality target %+v)", k, q)
	}
	if k.ExpectedQuality > q.ExpectedQuality {
		t.Fatalf("a tighter budget gave better quality: %v > %v", k.ExpectedQuality, q.ExpectedQuality)
	}
	// The margin: met in expectation (0) escalates no more than with one
	// standard error to spare, and two escalate no less.
	zero, two := 0.0, 2.0
	q0 := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MinQualityRatio: 0.95, Margin: &zero})
	q2 := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MinQualityRatio: 0.95, Margin: &two})
	if !q0.Calibrated || q0.ExpectedQualityRatio < 0.95 || q0.Escalated > q.Escalated || q2.Escalated < q.Escalated {
		t.Fatalf("margins 0, 1, 2 escalate %v, %v, %v (expected quality ratio %v at 0)", q0.Escalated, q.Escalated, q2.Escalated, q0.ExpectedQualityRatio)
	}
	if q0.Escalated == q2.Escalated {
		t.Fatalf("the margin changed nothing: %+v", q0)
	}
	impossible := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MaxCostRatio: 0.001})
	if impossible.Reason == "" {
		t.Fatalf("an impossible budget: %+v", impossible)
	}
	// The curve: escalating more never costs less, it ends escalating
	// everything, and the chosen threshold's figures lie on it or between
	// two of its points.
	if len(q.Curve) < 5 || len(q.Curve) > 21 {
		t.Fatalf("curve of %d points", len(q.Curve))
	}
	for i, p := range q.Curve {
		if i > 0 && (p.Escalated < q.Curve[i-1].Escalated || p.CostRatio < q.Curve[i-1].CostRatio || p.Threshold <= q.Curve[i-1].Threshold) {
			t.Fatalf("curve not ordered at %d: %+v", i, q.Curve)
		}
	}
	if last := q.Curve[len(q.Curve)-1]; last.Escalated != 1 || math.Abs(last.QualityRatio-1) > 1e-9 {
		t.Fatalf("the curve ends at %+v, not escalating everything", last)
	}
	if first := q.Curve[0]; first.CostRatio > q.ExpectedCostRatio || q.ExpectedCostRatio > q.Curve[len(q.Curve)-1].CostRatio {
		t.Fatalf("chosen cost ratio %v outside the curve %+v", q.ExpectedCostRatio, q.Curve)
	}
	if q.Paired != 0 || !strings.Contains(q.Reason, "upper estimate") {
		t.Fatalf("imported answers are not paired, and the estimate says so: %+v", q)
	}
	t.Run("Paired", func(t *testing.T) {
		l := quality.NewLearner(quality.LearnerOptions{Holdout: 0.3})
		const scope = "p:learned"
		for i, r := range rows {
			cf := quality.Featurize(quality.Example{Question: r.q, Answer: r.cheap, Model: "mixtral"})
			x := quality.Labelled{Scope: scope, ResponseID: fmt.Sprint("c", i), Model: "mixtral", Features: cf, Label: label(r.cheapOK),
				Source: chorus.LearnedFromExplore, Unbiased: true, In: 50, Out: 80}
			if i%3 == 0 { // a third of the requests explored the strong tier, after scoring the cheap answer
				x = quality.Labelled{Scope: scope, ResponseID: fmt.Sprint("s", i), Model: "gpt-4",
					Features: quality.Featurize(quality.Example{Question: r.q, Answer: r.strong, Model: "gpt-4"}), Prior: cf,
					Label: label(r.strongOK), Source: chorus.LearnedFromExplore, Unbiased: true, In: 50, Out: 100}
			}
			if err := l.Learn(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		c := l.Calibrate(scope, cheap, strong, chorus.CascadeTarget{MinQualityRatio: 0.9})
		if !c.Calibrated || c.Paired < 40 || c.Reason != "" || c.ExpectedQualityRatio < 0.9 {
			t.Fatalf("%+v", c)
		}
	})
}

// fbSource is an in-memory quality.FeedbackSource: the feedback table
// every instance writes to.
type fbSource struct {
	mu   sync.Mutex
	rows []*chorus.Feedback
}

func (f *fbSource) add(responseID string, rating string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows = append(f.rows, &chorus.Feedback{ID: int64(len(f.rows) + 1), ResponseID: responseID, Rating: rating})
}

func (f *fbSource) MaxFeedbackID(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.rows)), nil
}

func (f *fbSource) ListFeedback(_ context.Context, _ chorus.FeedbackFilter, p chorus.Page) ([]*chorus.Feedback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*chorus.Feedback
	for _, r := range f.rows {
		if r.ID > p.After && len(out) < p.Limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// TestLearnerFleet runs two instances' learners on one store: feedback the
// other instance received teaches the instance that scored the answer
// (SyncFeedback), once; what one learns the other learns by Sync, and
// neither learns its own example twice.
func TestLearnerFleet(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	fb := &fbSource{}
	fb.add("chatcmpl-old", chorus.RatingUp) // before the instances started: not replayed
	a := quality.NewLearner(quality.LearnerOptions{Store: st})
	b := quality.NewLearner(quality.LearnerOptions{Store: st})
	for _, l := range []*quality.Learner{a, b} {
		if n, err := l.SyncFeedback(ctx, fb); n != 0 || err != nil {
			t.Fatalf("first SyncFeedback = %d, %v; want 0 (it starts at the newest)", n, err)
		}
	}
	fs := quality.Featurize(quality.Example{Question: "2+2?", Answer: "4", Model: "m"})
	a.Remember("chatcmpl-1", "r:learned", "m", fs, nil, false, 10, 2)

	// The client's feedback reaches b, which did not score the answer.
	if ok, err := b.Feedback(ctx, &chorus.Feedback{ResponseID: "chatcmpl-1", Rating: chorus.RatingUp}); ok || err != nil {
		t.Fatalf("b.Feedback = %v, %v; want unknown to b", ok, err)
	}
	fb.add("chatcmpl-1", chorus.RatingUp)
	if n, err := b.SyncFeedback(ctx, fb); n != 0 || err != nil {
		t.Fatalf("b.SyncFeedback = %d, %v; want 0", n, err)
	}
	if n, err := a.SyncFeedback(ctx, fb); n != 1 || err != nil {
		t.Fatalf("a.SyncFeedback = %d, %v; want 1", n, err)
	}
	if n, err := a.SyncFeedback(ctx, fb); n != 0 || err != nil {
		t.Fatalf("a.SyncFeedback again = %d, %v; want 0 (an answer teaches once)", n, err)
	}
	if got := a.Report("r:learned").Examples; got != 1 {
		t.Fatalf("a learned %d examples, want 1", got)
	}

	// b learns a's example; a does not learn it twice.
	if n, err := b.Sync(ctx); n != 1 || err != nil {
		t.Fatalf("b.Sync = %d, %v; want 1", n, err)
	}
	if n, err := a.Sync(ctx); n != 0 || err != nil {
		t.Fatalf("a.Sync = %d, %v; want 0 (its own example)", n, err)
	}
	// b's own example goes the other way, numbered after a's.
	b.Remember("chatcmpl-2", "r:learned", "m", fs, nil, false, 10, 2)
	if _, err := b.Feedback(ctx, &chorus.Feedback{ResponseID: "chatcmpl-2", Rating: chorus.RatingDown}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Sync(ctx); n != 1 || err != nil {
		t.Fatalf("a.Sync = %d, %v; want 1 (b's example)", n, err)
	}
	for name, l := range map[string]*quality.Learner{"a": a, "b": b} {
		if got := l.Report("r:learned").Examples; got != 2 {
			t.Errorf("%s has %d examples, want 2", name, got)
		}
	}
	seqs := map[int64]bool{}
	for _, e := range st.examples {
		seqs[e.Seq] = true
	}
	if len(seqs) != 2 || !seqs[1] || !seqs[2] {
		t.Errorf("stored examples numbered %v, want 1 and 2", seqs)
	}
}
