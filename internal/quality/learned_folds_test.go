package quality

import (
	"context"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
)

// servedByFull serves by the full model instead of the fold models: the
// behaviour before fold serving, for TestServedMatchesCalibration to show
// the difference.
var servedByFull = false

// TestServedMatchesCalibration: a threshold calibrated on out-of-fold
// scores escalates the share it was calibrated to escalate on new
// answers. On real answers (the RouteLLM GSM8K sample), over random
// halves, the share of new answers scored below the out-of-fold median
// stays near one half when fold models serve; served by the full model it
// strays (its scores sit higher or lower by a margin that changes with
// every refit).
func TestServedMatchesCalibration(t *testing.T) {
	f, err := os.Open("../provider/replay/testdata/gsm8k_sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows = rows[1:]
	gap := func() float64 {
		var sum float64
		const rounds = 12
		for seed := range uint64(rounds) {
			rs := slices.Clone(rows)
			rand.New(rand.NewPCG(seed, 3)).Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] }) // #nosec G404 -- test split
			train, test := rs[:len(rs)/2], rs[len(rs)/2:]
			l := NewLearner(LearnerOptions{Holdout: 0.001})
			var xs []ImportedExample
			for _, r := range train {
				ok, _ := strconv.ParseBool(r[1])
				y := 0.0
				if ok {
					y = 1
				}
				xs = append(xs, ImportedExample{Example: Example{Question: r[0], Answer: r[3], Model: "mixtral"}, Label: y})
			}
			if _, err := l.Import(context.Background(), "s", xs); err != nil {
				t.Fatal(err)
			}
			s := l.lookup("s")
			var oof []float64
			for _, p := range s.oof {
				oof = append(oof, p)
			}
			if len(oof) < len(train)*9/10 || len(s.folds) != folds {
				t.Fatalf("%d out-of-fold scores for %d examples, %d fold models", len(oof), len(train), len(s.folds))
			}
			slices.Sort(oof)
			median := oof[len(oof)/2]
			below := 0
			for _, r := range test {
				fs := Featurize(Example{Question: r[0], Answer: r[3], Model: "mixtral"})
				p := l.Predict("s", fs)
				if servedByFull {
					p = s.m.predict(fs)
				}
				if p < median {
					below++
				}
			}
			sum += math.Abs(float64(below)/float64(len(test)) - 0.5)
		}
		return sum / rounds
	}
	folded := gap()
	servedByFull = true
	full := gap()
	servedByFull = false
	t.Logf("mean |share below the calibrated median - 1/2| on new answers: fold models %.3f, full model %.3f", folded, full)
	if folded > 0.08 {
		t.Errorf("served by fold models, a threshold at the out-of-fold median escalates a share off by %.3f on average", folded)
	}
	if folded >= full {
		t.Errorf("fold models (%.3f) no closer to the calibration than the full model (%.3f)", folded, full)
	}
}
