package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"

	"github.com/chorusgw/chorus/internal/quality"
)

// bench runs the phases against one gateway.
type bench struct {
	o   options
	c   *client
	dir string
}

// Arm is one way of answering the test questions.
type Arm struct {
	Name        string   `json:"name"`
	Accuracy    float64  `json:"accuracy"`
	Cost        float64  `json:"cost"`       // dollars for all the test questions
	CostRatio   float64  `json:"cost_ratio"` // to the strong model alone
	QualityPct  float64  `json:"quality_ratio"`
	StrongShare float64  `json:"strong_share"` // share of questions the strong model answered (RouteLLM's cost measure)
	Threshold   *float64 `json:"threshold,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// Task is one dataset's results.
type Task struct {
	Train, Test int                    `json:"-"`
	Questions   map[string]int         `json:"questions"`
	Arms        []Arm                  `json:"arms"`
	Curve       []Arm                  `json:"curve"`
	Learned     *quality.LearnedReport `json:"learned"`
	Calibration *quality.Calibration   `json:"calibration,omitempty"`
	// CalibrationExpected is the same target met in expectation (margin 0).
	CalibrationExpected *quality.Calibration `json:"calibration_in_expectation,omitempty"`
	HeldOutAcc          *float64             `json:"learned_holdout_accuracy"`
	TrainFeed           map[string]int       `json:"training_feedback"`
}

// result is the whole run.
type result struct {
	Seed    uint64  `json:"seed"`
	Started string  `json:"started"`
	Seconds float64 `json:"seconds"`
	GSM8K   *Task   `json:"gsm8k"`
	MMLU    *Task   `json:"mmlu,omitempty"`
}

// models are the registry names of one task's two replay models.
type models struct{ cheap, strong string }

// column maps a registry model to its dataset column.
func (m models) column(name string) string {
	if name == m.strong {
		return strongColumn
	}
	return cheapColumn
}

// setup writes the questions as a replay file and creates the two models.
func (b *bench) setup(ctx context.Context, prefix string, qs []question) (models, error) {
	file := prefix + ".csv"
	if err := writeReplay(filepath.Join(b.dir, file), []string{cheapColumn, strongColumn}, qs); err != nil {
		return models{}, err
	}
	m := models{cheap: prefix + "-mixtral-8x7b", strong: prefix + "-gpt-4-1106"}
	if err := b.c.replayModel(ctx, m.cheap, file, cheapColumn, cheapIn, cheapOut, b.o.latencyMS); err != nil {
		return m, err
	}
	return m, b.c.replayModel(ctx, m.strong, file, strongColumn, strongIn, strongOut, b.o.latencyMS)
}

// train sends the training questions through the cascade route and posts
// each answer's true outcome as feedback, in a seeded order.
func (b *bench) train(ctx context.Context, route string, m models, qs []question) (map[string]int, error) {
	qs = append([]question(nil), qs...)
	r := rand.New(rand.NewPCG(b.o.seed, 7)) // #nosec G404 -- a reproducible order
	r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	feed := map[string]int{}
	mu := make(chan struct{}, 1)
	_, err := b.c.run(ctx, route+"-train", route, qs, b.o.concurrency, m.column, func(q question, a answer) error {
		model := a.Model
		if model == "" {
			model = answeredBy(q, a.Text, cheapColumn, strongColumn)
		}
		good := q.Right[model]
		mu <- struct{}{}
		feed[fmt.Sprintf("%s %v", shortName(model), good)]++
		<-mu
		return b.c.feedback(ctx, a.key, a.ResponseID, good)
	})
	return feed, err
}

// arm runs the test questions on a model or route.
func (b *bench) arm(ctx context.Context, name, model string, m models, qs []question) ([]outcome, error) {
	return b.c.run(ctx, name, model, qs, b.o.concurrency, m.column, nil)
}

// summarize turns outcomes into an arm, against the strong model's cost.
func summarize(name string, outs []outcome, strongModel string, strongCost float64, strongAcc float64) Arm {
	a := Arm{Name: name}
	var cost int64
	right, strong := 0, 0
	for _, o := range outs {
		cost += o.Cost
		if o.Right {
			right++
		}
		if o.Model == strongModel {
			strong++
		}
	}
	n := float64(len(outs))
	a.Accuracy = float64(right) / n
	a.Cost = float64(cost) / 1e6
	a.StrongShare = float64(strong) / n
	if strongCost > 0 {
		a.CostRatio = a.Cost / strongCost
	}
	if strongAcc > 0 {
		a.QualityPct = a.Accuracy / strongAcc
	}
	return a
}

// oracle is the perfect scorer over the measured single-model outcomes:
// the cheap answer when it is right, else the strong one (the cheap call
// is paid either way, as in a cascade).
func oracle(cheap, strong []outcome, strongModel string, strongCost, strongAcc float64) Arm {
	outs := make([]outcome, len(cheap))
	for i := range cheap {
		if cheap[i].Right {
			outs[i] = cheap[i]
		} else {
			outs[i] = outcome{Model: strongModel, Cost: cheap[i].Cost + strong[i].Cost, Right: strong[i].Right}
		}
	}
	a := summarize("oracle (a perfect scorer, upper bound)", outs, strongModel, strongCost, strongAcc)
	return a
}

// report reads the learned scorer's report from the admin API.
func (b *bench) report(ctx context.Context, scope string) (*quality.LearnedReport, error) {
	var rep quality.LearnedReport
	err := b.c.g.Admin(ctx, "GET", "/api/admin/quality/learned/scorer?scope="+scope, nil, http.StatusOK, &rep)
	return &rep, err
}

// calibration reads a route's calibration from the admin API.
func (b *bench) calibration(ctx context.Context, id int64) (*quality.Calibration, error) {
	var out struct {
		Calibration quality.Calibration `json:"calibration"`
	}
	err := b.c.g.Admin(ctx, "GET", fmt.Sprintf("/api/admin/routes/%d/calibration", id), nil, http.StatusOK, &out)
	return &out.Calibration, err
}

func shortName(column string) string {
	if column == strongColumn {
		return "gpt-4"
	}
	return "mixtral"
}

func ptrf(v float64) *float64 { return &v }
