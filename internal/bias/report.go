package bias

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/chorusgw/chorus"
)

// WriteReport writes a run as text: its status and counts, then its
// results, one a line, with the gap, the interval and the verdict. With all
// false, only the failing results are listed, then the largest gap of each
// metric, so a passing run still shows how close it came.
func WriteReport(w io.Writer, run *chorus.BiasRun, all bool) error {
	fmt.Fprintf(w, "bias run %d: model %s, suite %s (%s), status %s\n", run.ID, run.Model, run.Suite, run.SuiteHash, run.Status)
	fmt.Fprintf(w, "  %d of %d calls made, %d failed; %d results: %d fail, %d inconclusive; seed %d, %d repetitions\n",
		run.Requests, run.Planned, run.Errors, len(run.Results), run.Failed, run.Inconclusive, run.Seed, run.Repetitions)
	if run.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", run.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "  VERDICT\tTASK\tATTRIBUTE\tVALUE\tvs REFERENCE\tMETRIC\tMEAN (n)\tREF (n)\tGAP\tINTERVAL\tTHRESHOLD"
	if all {
		fmt.Fprintln(tw, header)
		for i := range run.Results {
			writeResult(tw, &run.Results[i])
		}
		return tw.Flush()
	}
	if run.Failed > 0 {
		fmt.Fprintln(tw, "  failed:")
		fmt.Fprintln(tw, header)
		for i := range run.Results {
			if run.Results[i].Verdict == chorus.BiasVerdictFail {
				writeResult(tw, &run.Results[i])
			}
		}
	}
	if len(run.Results) > 0 {
		fmt.Fprintln(tw, "  largest gap of each metric:")
		fmt.Fprintln(tw, header)
		for _, r := range Largest(run.Results) {
			writeResult(tw, r)
		}
	}
	return tw.Flush()
}

func writeResult(w io.Writer, r *chorus.BiasResult) {
	fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%.3f (%d)\t%.3f (%d)\t%+.3f\t[%+.3f, %+.3f]\t±%.2f\n",
		r.Verdict, r.Task, r.Attribute, r.Value, r.Reference, r.Metric, r.Mean, r.N, r.RefMean, r.RefN,
		r.Gap, r.Low, r.High, r.Threshold)
}

// Largest returns the result with the largest gap (in absolute value) of
// each metric present, in the order of Metrics.
func Largest(rs []chorus.BiasResult) []*chorus.BiasResult {
	best := map[string]*chorus.BiasResult{}
	for i := range rs {
		r := &rs[i]
		if b, ok := best[r.Metric]; !ok || math.Abs(r.Gap) > math.Abs(b.Gap) {
			best[r.Metric] = r
		}
	}
	var out []*chorus.BiasResult
	for _, m := range Metrics() {
		if r, ok := best[m]; ok {
			out = append(out, r)
		}
	}
	return out
}
