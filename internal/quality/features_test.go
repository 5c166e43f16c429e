package quality_test

import (
	"slices"
	"testing"

	"github.com/chorusgw/chorus/internal/quality"
)

func TestFeaturize(t *testing.T) {
	x := quality.Example{Question: "Tom has 3 apples and buys 4 more. How many?", Answer: "3 + 4 = 7\n#### 7", Model: "m1",
		Scores: []quality.Score{{Scorer: "regex", Value: 1}}}
	a, b := quality.Featurize(x), quality.Featurize(x)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("not deterministic or empty: %d vs %d features", len(a), len(b))
	}
	t.Run("ModelMatters", func(t *testing.T) {
		y := x
		y.Model = "m2"
		if slices.Equal(quality.Featurize(y), a) {
			t.Fatal("the model is not a feature")
		}
	})
	t.Run("PromptOnlyIgnoresAnswer", func(t *testing.T) {
		p := x
		p.PromptOnly = true
		q := p
		q.Answer = "something else entirely 42"
		if !slices.Equal(quality.Featurize(p), quality.Featurize(q)) {
			t.Fatal("a prompt-only example changed with its answer")
		}
		if len(quality.Featurize(p)) >= len(a) {
			t.Fatal("prompt-only has as many features as the full example")
		}
	})
	t.Run("WrongArithmeticChangesFeatures", func(t *testing.T) {
		w := x
		w.Answer = "3 + 4 = 8\n#### 8"
		if slices.Equal(quality.Featurize(w), a) {
			t.Fatal("a wrong step gives the same features as a right one")
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		long := x
		for range 12 {
			long.Answer += long.Answer
		}
		for _, f := range quality.Featurize(long) {
			if f.Index >= 1<<18 {
				t.Fatalf("index %d outside the feature space", f.Index)
			}
		}
	})
}

func BenchmarkLearnedScore(b *testing.B) {
	x := quality.Example{Question: "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?",
		Answer: "Janet starts with 16 eggs per day.\nShe eats 3 for breakfast, so she has 16 - 3 = 13 eggs left.\nShe uses 4 for baking, so she has 13 - 4 = 9 eggs left.\nShe sells these 9 eggs at the farmers' market for 9 * $2 = $<<9*2=18>>18.\n#### 18",
		Model:  "mixtral"}
	l := quality.NewLearner(quality.LearnerOptions{})
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Predict("r:learned", quality.Featurize(x))
	}
}
