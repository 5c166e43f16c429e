package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// checkAutoscaler: one HPA, aimed at the Deployment, which leaves the
// replica count to it; at least two pods always; scaled on CPU and on
// requests per second, down slowly.
func (g *gateway) checkAutoscaler() []error {
	if len(g.set.HPAs) != 1 {
		return []error{fmt.Errorf("want exactly one HorizontalPodAutoscaler, got %d", len(g.set.HPAs))}
	}
	h := g.set.HPAs[0]
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: "+format, append([]any{h.Name}, args...)...))
	}
	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != g.dep.Name {
		bad("scaleTargetRef is %s %s %q, want apps/v1 Deployment %q", ref.APIVersion, ref.Kind, ref.Name, g.dep.Name)
	}
	if g.dep.Spec.Replicas != nil {
		errs = append(errs, objErr("Deployment", g.dep.Name, "replicas is set (%d) although an autoscaler owns it: every kubectl apply would reset the fleet to it", *g.dep.Spec.Replicas))
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
		bad("minReplicas must be at least 2 (one pod is a single point of failure)")
	} else if *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		bad("minReplicas %d > maxReplicas %d", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if !hasCPUTarget(h) {
		bad("no CPU utilization target")
	}
	if PodsMetric(h) == "" {
		bad("no Pods metric with an AverageValue target (requests per second)")
	}
	if b := h.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 60 {
		bad("behavior.scaleDown.stabilizationWindowSeconds must be at least 60, so a lull does not drain pods only to start them again")
	}
	return errs
}

func hasCPUTarget(h *autoscalingv2.HorizontalPodAutoscaler) bool {
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
			return true
		}
	}
	return false
}

// PodsMetric returns the name of the HPA's per-pod custom metric with an
// AverageValue target, or "".
func PodsMetric(h *autoscalingv2.HorizontalPodAutoscaler) string {
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil &&
			m.Pods.Target.Type == autoscalingv2.AverageValueMetricType && m.Pods.Target.AverageValue != nil {
			return m.Pods.Metric.Name
		}
	}
	return ""
}

// checkResources: every container of the gateway and of the backup job
// requests and limits CPU and memory, requests no more than it may use,
// and sets GOMEMLIMIT below its memory limit.
func (g *gateway) checkResources() []error {
	var errs []error
	for _, c := range g.containers() {
		errs = append(errs, checkContainerResources(c)...)
		if v, ok := g.set.envValue(c, "GOMEMLIMIT"); ok {
			errs = append(errs, checkMemLimit(c, v)...)
		} else if c == g.ctr {
			errs = append(errs, fmt.Errorf("container %s: no GOMEMLIMIT; the Go heap would grow past the memory limit before collecting", c.Name))
		}
	}
	return errs
}

func checkContainerResources(c *corev1.Container) []error {
	var errs []error
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[name]
		lim, okLim := c.Resources.Limits[name]
		switch {
		case !okReq || !okLim:
			errs = append(errs, fmt.Errorf("container %s: want both a request and a limit for %s", c.Name, name))
		case req.Cmp(lim) > 0:
			errs = append(errs, fmt.Errorf("container %s: %s request %s is above its limit %s", c.Name, name, req.String(), lim.String()))
		}
	}
	return errs
}

// checkMemLimit: GOMEMLIMIT must be below the container's memory limit,
// or the kernel kills the pod before the Go collector reacts.
func checkMemLimit(c *corev1.Container, v string) []error {
	n, err := parseGoBytes(v)
	if err != nil {
		return []error{fmt.Errorf("container %s: GOMEMLIMIT %q: %w", c.Name, v, err)}
	}
	lim, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return nil // reported by checkContainerResources
	}
	if n >= lim.Value() {
		return []error{fmt.Errorf("container %s: GOMEMLIMIT %s is not below the memory limit %s", c.Name, v, lim.String())}
	}
	return nil
}

// parseGoBytes parses a GOMEMLIMIT value: a number of bytes with an
// optional B, KiB, MiB, GiB or TiB suffix (runtime/debug.SetMemoryLimit).
func parseGoBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = num, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive number of bytes with an optional B, KiB, MiB, GiB or TiB suffix")
	}
	return n * mult, nil
}
