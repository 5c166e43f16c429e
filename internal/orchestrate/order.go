// Package orchestrate decides which deployments a request goes to, in which
// order and how: the routing strategies (fallback, balance, hedge, cascade,
// ensemble) over deployments whose health it tracks.
package orchestrate

import (
	"math/rand/v2"
	"slices"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/registry"
)

// order returns the candidates of a route in the order to try them. A
// fallback chain and a hedge keep the route's tier order (deployments of
// one tier by weight); balance picks its first choice by the configured
// mode and keeps the rest, by weight, as failover.
func (o *Orchestrator) order(rt *registry.Route) []candidate {
	switch rt.Strategy {
	case chorus.StrategyFallback, chorus.StrategyHedge:
		var out []candidate
		for i, tier := range rt.Tiers {
			out = append(out, o.tierOrder(rt, tier, i)...)
		}
		return out
	}
	cands := make([]candidate, 0, len(rt.Targets))
	weights := make([]float64, 0, len(rt.Targets))
	for i, tier := range rt.Tiers {
		tw := float64(tier.Weight)
		if rt.Config.Quality && o.Quality != nil {
			if q, ok := o.Quality(tier.Model.Name); ok {
				tw *= max(q, 0.01)
			}
		}
		for _, t := range tier.Targets {
			cands = append(cands, candidate{t, i})
			weights = append(weights, tw*float64(weight(t)))
		}
	}
	if len(cands) <= 1 {
		return cands
	}
	weightedShuffle(cands, weights)
	switch rt.Config.Balance {
	case chorus.BalanceLeastInFlight:
		best := 0
		for i := 1; i < len(cands); i++ {
			if o.Health.Of(cands[i].t.Deployment.Name).InFlight() < o.Health.Of(cands[best].t.Deployment.Name).InFlight() {
				best = i
			}
		}
		cands[0], cands[best] = cands[best], cands[0]
	case chorus.BalanceLatency:
		// Power of two choices: of the first two in weighted-random order,
		// take the one with the lower expected wait (EWMA latency times calls
		// in flight plus one). Unknown latency counts as zero, so new
		// deployments get tried.
		if o.cost(cands[1].t) < o.cost(cands[0].t) {
			cands[0], cands[1] = cands[1], cands[0]
		}
	}
	return cands
}

// cost is the expected wait on a target for latency-aware balancing.
func (o *Orchestrator) cost(t *registry.Target) float64 {
	h := o.Health.Of(t.Deployment.Name)
	return h.Latency().Seconds() * float64(h.InFlight()+1)
}

// tierOrder returns one tier's targets in weighted-random order.
func (o *Orchestrator) tierOrder(rt *registry.Route, tier *registry.Tier, i int) []candidate {
	cands := make([]candidate, len(tier.Targets))
	weights := make([]float64, len(tier.Targets))
	for j, t := range tier.Targets {
		cands[j] = candidate{t, i}
		weights[j] = float64(weight(t))
	}
	weightedShuffle(cands, weights)
	return cands
}

// weightedShuffle permutes cands in place: each next position is drawn with
// probability proportional to weight among those left.
func weightedShuffle(cands []candidate, weights []float64) {
	weights = slices.Clone(weights)
	total := 0.0
	for _, w := range weights {
		total += w
	}
	for i := 0; i < len(cands)-1; i++ {
		r := rand.Float64() * total // #nosec G404 -- weighted load balancing, not a security decision
		j := i
		for ; j < len(cands)-1; j++ {
			r -= weights[j]
			if r < 0 {
				break
			}
		}
		cands[i], cands[j] = cands[j], cands[i]
		weights[i], weights[j] = weights[j], weights[i]
		total -= weights[i]
	}
}

// weight is a deployment's weight; below 1 counts as 1.
func weight(t *registry.Target) int {
	if w := t.Deployment.Weight; w > 0 {
		return w
	}
	return 1
}
