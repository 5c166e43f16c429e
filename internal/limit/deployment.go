package limit

import (
	"encoding/json"
	"fmt"
	"math"
)

// Deployment settings that carry the provider's own limits.
const (
	SettingRPM         = "rpm"             // requests per minute the upstream accepts
	SettingTPM         = "tpm"             // tokens per minute the upstream accepts
	SettingConcurrency = "max_concurrency" // calls in flight at once
)

// DeploymentLimits reads a deployment's own limits from its settings
// ("rpm", "tpm", "max_concurrency": whole numbers ≥ 0; absent or 0 means
// unlimited). Settings decoded from JSON hold float64s; ints and
// json.Number are accepted too.
func DeploymentLimits(settings map[string]any) (Limits, error) {
	var l Limits
	for name, dst := range map[string]*int64{SettingRPM: &l.RPM, SettingTPM: &l.TPM, SettingConcurrency: &l.Concurrency} {
		v, ok := settings[name]
		if !ok || v == nil {
			continue
		}
		n, err := wholeNumber(v)
		if err != nil {
			return Limits{}, fmt.Errorf("setting %s: %w", name, err)
		}
		*dst = n
	}
	return l, nil
}

func wholeNumber(v any) (int64, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %s", x)
		}
		f = float64(n)
	default:
		return 0, fmt.Errorf("want a whole number, got %v", v)
	}
	if f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return 0, fmt.Errorf("want a whole number ≥ 0, got %v", v)
	}
	return int64(f), nil
}
