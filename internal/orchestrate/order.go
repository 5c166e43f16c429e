// Package orchestrate decides which deployments a request goes to, and in
// which order.
package orchestrate

import (
	"math/rand/v2"

	"github.com/chorusgw/chorus/internal/registry"
)

// Order returns the targets in the order to try them: a weighted random
// permutation (each next target drawn with probability proportional to its
// weight among those left), so traffic splits by weight and a failed first
// choice falls back to the others. Weights below 1 count as 1.
func Order(targets []*registry.Target) []*registry.Target {
	if len(targets) <= 1 {
		return targets
	}
	out := make([]*registry.Target, len(targets))
	copy(out, targets)
	total := 0
	for _, t := range out {
		total += weight(t)
	}
	for i := 0; i < len(out)-1; i++ {
		n := rand.IntN(total)
		j := i
		for ; j < len(out)-1; j++ {
			n -= weight(out[j])
			if n < 0 {
				break
			}
		}
		out[i], out[j] = out[j], out[i]
		total -= weight(out[i])
	}
	return out
}

func weight(t *registry.Target) int {
	if w := t.Deployment.Weight; w > 0 {
		return w
	}
	return 1
}
