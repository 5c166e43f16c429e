package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider/simulator"
)

// CascadeConfig sizes the cascade scenario.
type CascadeConfig struct {
	Prompts     int    // distinct questions, each asked of the cascade and of the strongest model
	Concurrency int    // requests in flight
	Seed        uint64 // picks the questions' wording (so their difficulty) and the simulators' seeds
}

// CascadeTiers returns the simulated models of the cascade, cheapest first.
// Prices are micro-credits per million tokens, in the ratios of a small, a
// mid-size and a frontier model (1 : 6.7 : 33); quality is the share of
// questions each answers right (the simulator marks answers by a
// per-question difficulty, so a stronger model answers a superset).
func CascadeTiers(prefix string, seed uint64) []Model {
	tier := func(name string, in, out int64, quality float64, latencyMS int, s uint64) Model {
		return Model{Name: prefix + name, InputPrice: in, OutputPrice: out, Settings: map[string]any{
			"quality": quality, "latency_ms": latencyMS, "latency_jitter": 0.25, "output_tokens": 120, "seed": s,
		}}
	}
	return []Model{
		tier("small", 150_000, 600_000, 0.60, 20, seed+1),
		tier("medium", 1_000_000, 4_000_000, 0.85, 40, seed+2),
		tier("large", 5_000_000, 20_000_000, 0.97, 80, seed+3),
	}
}

// Arm is one way of answering the same requests.
type Arm struct {
	Name     string
	Requests int
	Failed   int   // answers the client did not get (non-200)
	Correct  int   // answers ending in simulator.CorrectMark
	Cost     int64 // micro-credits: the sum of every upstream call's cost
	Calls    int   // upstream calls
	Latency  Latencies
}

// Quality is the share of requests answered right.
func (a *Arm) Quality() float64 { return ratio(a.Correct, a.Requests) }

// CostPerRequest is the mean cost of a request in micro-credits.
func (a *Arm) CostPerRequest() float64 { return ratio(int(a.Cost), a.Requests) }

// CascadeResult compares a cascade with always calling the strongest model.
type CascadeResult struct {
	Tiers     []Model
	Cascade   Arm
	Strongest Arm
	ByTier    []int // cascade answers by the tier that gave them (index 0 is tier 1)
	Expected  int   // questions the strongest model can answer right (from their difficulty)
	Duration  time.Duration
}

// CostRatio is the cascade's cost over the strongest model's.
func (r *CascadeResult) CostRatio() float64 {
	if r.Strongest.Cost == 0 {
		return 0
	}
	return float64(r.Cascade.Cost) / float64(r.Strongest.Cost)
}

// QualityRatio is the cascade's quality over the strongest model's.
func (r *CascadeResult) QualityRatio() float64 {
	if r.Strongest.Correct == 0 {
		return 0
	}
	return r.Cascade.Quality() / r.Strongest.Quality()
}

// RunCascade asks every question of a cascade (small → medium → large,
// graded by a regex scorer on the simulator's mark, threshold 0.5) and of
// the large model alone, and compares quality and cost.
func RunCascade(ctx context.Context, g *Gateway, cfg CascadeConfig) (*CascadeResult, error) {
	start := time.Now()
	prefix := fmt.Sprintf("cascade-%d-", cfg.Seed)
	tiers := CascadeTiers(prefix, cfg.Seed)
	names := make([]string, len(tiers))
	for i, t := range tiers {
		if err := g.createModel(ctx, t); err != nil {
			return nil, err
		}
		names[i] = t.Name
	}
	route := prefix + "route"
	scorers := []map[string]any{{"type": "regex", "pattern": `\[correct\]$`}}
	if err := g.createRoute(ctx, route, chorus.StrategyCascade, names, map[string]any{"threshold": 0.5, "scorers": scorers}); err != nil {
		return nil, err
	}
	questions := Questions(cfg.Seed, cfg.Prompts)
	strongest := tiers[len(tiers)-1]
	res := &CascadeResult{Tiers: tiers, ByTier: make([]int, len(tiers))}
	for _, q := range questions {
		if simulator.Difficulty(q) < strongest.Settings["quality"].(float64) {
			res.Expected++
		}
	}
	prompt := func(i int) string { return questions[i] }
	for _, arm := range []struct {
		name, model string
		out         *Arm
	}{
		{"cascade", route, &res.Cascade},
		{"always " + strings.TrimPrefix(strongest.Name, prefix), strongest.Name, &res.Strongest},
	} {
		k, err := g.createKey(ctx, arm.model)
		if err != nil {
			return nil, err
		}
		calls := g.drive(ctx, k, arm.model, arm.model, len(questions), cfg.Concurrency, prompt)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		*arm.out = Arm{Name: arm.name, Requests: len(calls), Latency: latencies(calls)}
		arm.out.Failed, _ = failures(calls)
		for i := range calls {
			if strings.HasSuffix(calls[i].Content, simulator.CorrectMark) {
				arm.out.Correct++
			}
			if t := calls[i].Tier; arm.out == &res.Cascade && t >= 1 && t <= len(res.ByTier) {
				res.ByTier[t-1]++
			}
		}
		if err := g.account(ctx, k, calls, arm.out); err != nil {
			return nil, err
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// account adds the cost and upstream calls of the requests' usage records
// to arm; every request must have one.
func (g *Gateway) account(ctx context.Context, k key, calls []call, arm *Arm) error {
	recs, err := g.usage(ctx, k, len(calls))
	if err != nil {
		return err
	}
	byID := make(map[string]*chorus.Usage, len(recs))
	for i := range recs {
		byID[recs[i].RequestID] = &recs[i]
	}
	for i := range calls {
		u := byID[calls[i].ID]
		if u == nil {
			return fmt.Errorf("request %s has no usage record", calls[i].ID)
		}
		arm.Cost += u.Cost
		arm.Calls += len(u.Attempts)
	}
	return nil
}

// Questions returns n distinct questions. Their wording depends on seed;
// the simulator derives each one's difficulty from its text, so the
// difficulties are spread uniformly over [0,1).
func Questions(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 0x5eed)) // #nosec G404 -- seeded simulation: reproducibility is the point, not unpredictability
	subjects := []string{"the boiling point of water at altitude", "a binary search tree", "compound interest",
		"the causes of the French Revolution", "photosynthesis", "TCP congestion control", "the Krebs cycle",
		"a Fourier transform", "supply and demand", "the rule of thirds", "plate tectonics", "a hash table"}
	asks := []string{"Explain %s in two sentences.", "What is the most common mistake about %s?",
		"Give one worked example of %s.", "How would you teach %s to a twelve-year-old?", "Summarise %s for an exam."}
	out := make([]string, n)
	for i := range out {
		ask := fmt.Sprintf(asks[r.IntN(len(asks))], subjects[r.IntN(len(subjects))])
		out[i] = fmt.Sprintf("Question %d of set %d: %s", i+1, seed, ask)
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
