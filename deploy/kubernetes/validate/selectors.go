package validate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// selects reports whether sel selects an object labelled l. A nil or
// invalid selector selects nothing here: each use below needs one.
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(l))
}

// backupPodLabels returns the labels of the backup job's pods, if any.
func (g *gateway) backupPodLabels() map[string]string {
	if len(g.set.CronJobs) == 0 {
		return nil
	}
	return g.set.CronJobs[0].Spec.JobTemplate.Spec.Template.Labels
}

// checkSelectors: everything that means the gateway pods selects them —
// the Deployment itself, the Service, the PodDisruptionBudget, the spread
// constraints, a NetworkPolicy — and the Service and the budget select no
// backup pod (a Service would send it traffic; a budget would count it).
func (g *gateway) checkSelectors() []error {
	pods := g.dep.Spec.Template.Labels
	backup := g.backupPodLabels()
	var errs []error
	need := func(what string, sel *metav1.LabelSelector, excludeBackup bool) {
		if !selects(sel, pods) {
			errs = append(errs, fmt.Errorf("%s: selector %s does not select the gateway pods (labels %v)", what, metav1.FormatLabelSelector(sel), pods))
		}
		if excludeBackup && backup != nil && selects(sel, backup) {
			errs = append(errs, fmt.Errorf("%s: selector %s also selects the backup job's pods", what, metav1.FormatLabelSelector(sel)))
		}
	}
	need("Deployment "+g.dep.Name, g.dep.Spec.Selector, true)
	for _, s := range g.set.Services {
		need("Service "+s.Name, &metav1.LabelSelector{MatchLabels: s.Spec.Selector}, true)
	}
	if len(g.set.PDBs) != 1 {
		errs = append(errs, fmt.Errorf("want exactly one PodDisruptionBudget, got %d", len(g.set.PDBs)))
	}
	for _, p := range g.set.PDBs {
		need("PodDisruptionBudget "+p.Name, p.Spec.Selector, true)
	}
	for i, t := range g.pod.TopologySpreadConstraints {
		need(fmt.Sprintf("topologySpreadConstraints[%d] (%s)", i, t.TopologyKey), t.LabelSelector, true)
	}
	if len(g.pod.TopologySpreadConstraints) == 0 && (g.pod.Affinity == nil || g.pod.Affinity.PodAntiAffinity == nil) {
		errs = append(errs, objErr("Deployment", g.dep.Name, "no topologySpreadConstraints or pod anti-affinity: all pods may land on one node"))
	}
	return errs
}

// policiesFor returns the NetworkPolicies that select pods labelled l.
func (s *Set) policiesFor(l map[string]string) []int {
	var idx []int
	for i, p := range s.NetworkPolicies {
		sel := p.Spec.PodSelector
		if selects(&sel, l) {
			idx = append(idx, i)
		}
	}
	return idx
}

// servicesSelected returns the Services a ServiceMonitor's selector picks.
func (s *Set) servicesSelected(sel *metav1.LabelSelector) []*corev1.Service {
	var out []*corev1.Service
	for _, svc := range s.Services {
		if selects(sel, svc.Labels) {
			out = append(out, svc)
		}
	}
	return out
}
