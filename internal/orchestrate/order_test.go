package orchestrate_test

import (
	"math"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/registry"
)

func TestOrder(t *testing.T) {
	targets := []*registry.Target{
		{Deployment: &chorus.Deployment{Name: "a", Weight: 1}},
		{Deployment: &chorus.Deployment{Name: "b", Weight: 3}},
		{Deployment: &chorus.Deployment{Name: "c", Weight: 0}},
	}
	first := map[string]int{}
	const n = 30000
	for i := 0; i < n; i++ {
		o := orchestrate.Order(targets)
		if len(o) != 3 {
			t.Fatalf("len = %d", len(o))
		}
		seen := map[string]bool{}
		for _, x := range o {
			seen[x.Deployment.Name] = true
		}
		if len(seen) != 3 {
			t.Fatalf("not a permutation: %v", seen)
		}
		first[o[0].Deployment.Name]++
	}
	for name, want := range map[string]float64{"a": 0.2, "b": 0.6, "c": 0.2} {
		got := float64(first[name]) / n
		if math.Abs(got-want) > 0.02 {
			t.Errorf("%s first %.3f of the time, want %.2f", name, got, want)
		}
	}
	if targets[0].Deployment.Name != "a" {
		t.Fatal("Order modified its input")
	}
}
