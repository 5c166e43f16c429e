package bias

import (
	"fmt"

	"github.com/chorusgw/chorus"
)

// MaxCompare is how many runs one comparison puts side by side.
const MaxCompare = 10

// Comparison puts runs' results side by side: one row per task, attribute,
// value and metric, one cell per run (nil where a run did not measure it).
type Comparison struct {
	Object string          `json:"object"`
	Runs   []ComparedRun   `json:"runs"`
	Rows   []ComparisonRow `json:"rows"`
	Notes  []string        `json:"notes,omitempty"`
}

// ComparedRun is a run's header in a comparison.
type ComparedRun struct {
	ID        int64  `json:"id"`
	Model     string `json:"model"`
	Suite     string `json:"suite"`
	SuiteHash string `json:"suite_hash"`
	Status    string `json:"status"`
	StartedAt string `json:"started_at"`
}

// ComparisonRow is one measured gap across runs.
type ComparisonRow struct {
	Task      string  `json:"task"`
	Attribute string  `json:"attribute"`
	Value     string  `json:"value"`
	Reference string  `json:"reference"`
	Metric    string  `json:"metric"`
	Cells     []*Cell `json:"cells"`
}

// Cell is one run's figure in a row.
type Cell struct {
	Gap     float64 `json:"gap"`
	Low     float64 `json:"low"`
	High    float64 `json:"high"`
	Verdict string  `json:"verdict"`
}

type rowKey struct{ task, attr, value, metric string }

// Compare lines up runs' results, in the order the runs are given. Runs of
// different suites, or of a suite whose content changed, are compared
// where their rows meet, with a note saying so.
func Compare(runs []*chorus.BiasRun) *Comparison {
	c := &Comparison{Object: "bias_comparison", Runs: []ComparedRun{}, Rows: []ComparisonRow{}}
	byKey, versions := map[rowKey]int{}, map[string]bool{}
	for i, r := range runs {
		c.Runs = append(c.Runs, ComparedRun{ID: r.ID, Model: r.Model, Suite: r.Suite, SuiteHash: r.SuiteHash,
			Status: r.Status, StartedAt: r.StartedAt.Format("2006-01-02T15:04:05Z07:00")})
		version := r.Suite + "@" + r.SuiteHash
		if !versions[version] && len(versions) > 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("run %d used suite %s version %s, unlike run %d: only the rows they share are comparable",
				r.ID, r.Suite, r.SuiteHash, runs[0].ID))
		}
		versions[version] = true
		for _, x := range r.Results {
			k := rowKey{x.Task, x.Attribute, x.Value, x.Metric}
			ri, ok := byKey[k]
			if !ok {
				ri = len(c.Rows)
				byKey[k] = ri
				c.Rows = append(c.Rows, ComparisonRow{Task: x.Task, Attribute: x.Attribute, Value: x.Value,
					Reference: x.Reference, Metric: x.Metric, Cells: make([]*Cell, len(runs))})
			}
			c.Rows[ri].Cells[i] = &Cell{Gap: x.Gap, Low: x.Low, High: x.High, Verdict: x.Verdict}
		}
	}
	return c
}
