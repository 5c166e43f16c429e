package validate

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// AdapterConfigKey is the key of the Prometheus Adapter's ConfigMap that
// holds its configuration file.
const AdapterConfigKey = "config.yaml"

// AdapterConfig is the Prometheus Adapter's configuration file
// (kubernetes-sigs/prometheus-adapter, pkg/config), the parts a custom
// metrics rule uses. Decoded strictly: a misspelt key is an error here
// instead of a rule the adapter silently ignores.
type AdapterConfig struct {
	Rules         []AdapterRule `json:"rules"`
	ExternalRules []AdapterRule `json:"externalRules,omitempty"`
}

// AdapterRule is one discovery-and-naming rule of the adapter.
type AdapterRule struct {
	SeriesQuery   string `json:"seriesQuery"`
	SeriesFilters []struct {
		Is    string `json:"is,omitempty"`
		IsNot string `json:"isNot,omitempty"`
	} `json:"seriesFilters,omitempty"`
	Resources struct {
		Template  string `json:"template,omitempty"`
		Overrides map[string]struct {
			Group    string `json:"group,omitempty"`
			Resource string `json:"resource"`
		} `json:"overrides,omitempty"`
	} `json:"resources"`
	Name struct {
		Matches string `json:"matches"`
		As      string `json:"as"`
	} `json:"name"`
	MetricsQuery string `json:"metricsQuery"`
}

// seriesName is the metric name a rule's seriesQuery selects
// (chorus_requests_total of chorus_requests_total{pod!=""}).
var seriesName = regexp.MustCompile(`^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// CheckAdapter checks that the adapter configuration rendered in adapter
// serves, per pod, the custom metric the HPA rendered in app scales on.
func CheckAdapter(adapter, app *Set) error {
	if len(app.HPAs) != 1 {
		return fmt.Errorf("want exactly one HorizontalPodAutoscaler, got %d", len(app.HPAs))
	}
	want := PodsMetric(app.HPAs[0])
	if want == "" {
		return errors.New("the HPA has no Pods metric to serve")
	}
	cfg, err := adapterConfig(adapter)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range cfg.Rules {
		name, err := r.metricName()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if name == want {
			return r.check()
		}
	}
	return errors.Join(append(errs, fmt.Errorf("no adapter rule serves %s, the metric the HPA scales on", want))...)
}

// adapterConfig decodes the one ConfigMap of the adapter's render.
func adapterConfig(s *Set) (*AdapterConfig, error) {
	if len(s.ConfigMaps) != 1 {
		return nil, fmt.Errorf("want exactly one adapter ConfigMap, got %d", len(s.ConfigMaps))
	}
	text, ok := s.ConfigMaps[0].Data[AdapterConfigKey]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s has no key %s", s.ConfigMaps[0].Name, AdapterConfigKey)
	}
	var cfg AdapterConfig
	if err := yaml.UnmarshalStrict([]byte(text), &cfg); err != nil {
		return nil, fmt.Errorf("ConfigMap %s: %s: %w", s.ConfigMaps[0].Name, AdapterConfigKey, err)
	}
	return &cfg, nil
}

// metricName returns the name the adapter gives the series the rule
// selects, applying name.matches and name.as as the adapter does.
func (r *AdapterRule) metricName() (string, error) {
	m := seriesName.FindStringSubmatch(r.SeriesQuery)
	if m == nil {
		return "", fmt.Errorf("seriesQuery %q names no metric", r.SeriesQuery)
	}
	re, err := regexp.Compile(r.Name.Matches)
	if err != nil {
		return "", fmt.Errorf("name.matches %q: %w", r.Name.Matches, err)
	}
	idx := re.FindStringSubmatchIndex(m[1])
	if idx == nil {
		return "", fmt.Errorf("name.matches %q does not match the series %s", r.Name.Matches, m[1])
	}
	as := r.Name.As
	if as == "" {
		as = "$0"
	}
	return string(re.ExpandString(nil, as, m[1], idx)), nil
}

// check: the rule maps the namespace and pod labels to their resources
// (else the HPA's per-pod query finds nothing) and rates the counter.
func (r *AdapterRule) check() error {
	var errs []error
	for _, label := range []string{"namespace", "pod"} {
		if o, ok := r.Resources.Overrides[label]; !ok || o.Resource != label {
			errs = append(errs, fmt.Errorf("adapter rule %s: resources.overrides must map the label %s to the resource %s", r.Name.As, label, label))
		}
		if !strings.Contains(r.SeriesQuery, label+`!=""`) {
			errs = append(errs, fmt.Errorf("adapter rule %s: seriesQuery should require a %s label (%s!=\"\")", r.Name.As, label, label))
		}
	}
	for _, part := range []string{"<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>", "rate("} {
		if !strings.Contains(r.MetricsQuery, part) {
			errs = append(errs, fmt.Errorf("adapter rule %s: metricsQuery lacks %s", r.Name.As, part))
		}
	}
	return errors.Join(errs...)
}
