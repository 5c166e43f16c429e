package e2e_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/chorusgw/chorus/internal/config"
)

// The dashboards (deploy/grafana/dashboards) and the Prometheus rules
// (deploy/prometheus) may only name metrics and labels Chorus exports:
// TestDashboardsAndRulesMatchMetrics runs a workload against a real
// gateway, scrapes /metrics, and checks every query against what it saw.

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"instance", "job"}

// eventMetrics are metrics a short workload does not produce because they
// appear only after an event, with the labels they carry. Each must still
// be named in the Go sources (checked), so a renamed metric fails here.
var eventMetrics = map[string][]string{
	// A request refused by a rate limit (internal/telemetry/metrics.go).
	"chorus_ratelimit_refused_total": {"scope", "kind"},
	// The backup schedule's state, registered when backup.schedule is set
	// (internal/telemetry/backup.go, app/backup.go).
	"chorus_backup_last_success_timestamp_seconds":  nil,
	"chorus_backup_last_verified_timestamp_seconds": nil,
	"chorus_backup_failures_total":                  nil,
	// Answers queued for scoring: only routes with scorers submit them
	// (internal/quality/runner.go).
	"chorus_quality_jobs_total": {"outcome"},
	// Cost alerts' gauges and firings exist once an alert is defined and
	// evaluated (internal/analytics/metrics.go).
	"chorus_cost_alert_value":        {"alert", "scope", "metric", "period"},
	"chorus_cost_alert_threshold":    {"alert", "scope", "metric", "period"},
	"chorus_cost_alerts_fired_total": {"scope", "metric", "period"},
}

func TestDashboardsAndRulesMatchMetrics(t *testing.T) {
	exported := workloadMetrics(t)
	for name, labels := range eventMetrics {
		if _, ok := exported[name]; ok {
			t.Logf("%s is exported by the workload: it need not be in eventMetrics", name)
		}
		if !inGoSources(t, name) {
			t.Errorf("eventMetrics names %s, which no Go source under internal/ or cmd/ mentions", name)
		}
		exported[name] = setOf(append(labels, targetLabels...))
	}
	recorded := map[string]map[string]bool{} // recording rule → its labels
	var queries []query
	for _, f := range ruleFiles(t) {
		for _, g := range f.rules.Groups {
			for _, r := range g.Rules {
				queries = append(queries, query{where: f.path + ": " + g.Name + "/" + r.Record + r.Alert, expr: r.Expr})
				if r.Record != "" {
					recorded[r.Record] = nil // labels filled below
				}
			}
		}
	}
	// A recorded series keeps the labels it is grouped by (its "by"
	// clauses), or, without aggregation, its sources' labels.
	for _, q := range queries {
		name := strings.TrimSpace(q.where[strings.LastIndex(q.where, "/")+1:])
		if _, ok := recorded[name]; !ok {
			continue
		}
		refs, err := parsePromQL(q.expr)
		if err != nil {
			t.Fatalf("%s: %v", q.where, err)
		}
		labels := setOf(refs.grouping)
		if !refs.aggregated {
			for _, m := range refs.metrics {
				for l := range exported[m.name] {
					labels[l] = true
				}
			}
		}
		recorded[name] = labels
	}
	queries = append(queries, dashboardQueries(t)...)
	if len(queries) < 50 {
		t.Fatalf("only %d queries found in deploy/: are the paths right?", len(queries))
	}
	for _, q := range queries {
		checkQuery(t, q, exported, recorded)
	}
}

// query is one PromQL expression and where it was found.
type query struct {
	where, expr string
	label       string // a label_values() variable's label, checked on its metric
}

func checkQuery(t *testing.T, q query, exported, recorded map[string]map[string]bool) {
	t.Helper()
	refs, err := parsePromQL(q.expr)
	if err != nil {
		t.Errorf("%s: %v in %q", q.where, err, q.expr)
		return
	}
	if len(refs.metrics) == 0 && q.expr != "time()" {
		t.Errorf("%s: names no metric: %q", q.where, q.expr)
	}
	available := setOf(targetLabels)
	for _, m := range refs.metrics {
		labels, ok := exported[m.name]
		if !ok {
			labels, ok = recorded[m.name]
		}
		if !ok {
			t.Errorf("%s: names %s, which Chorus does not export (nor a recording rule records)", q.where, m.name)
			continue
		}
		for _, l := range m.labels {
			if !labels[l] && !slices.Contains(targetLabels, l) {
				t.Errorf("%s: selects %s{%s=…}, a label %s does not carry (it has %v)", q.where, m.name, l, m.name, keys(labels))
			}
		}
		for l := range labels {
			available[l] = true
		}
	}
	for _, l := range append(refs.grouping, q.label) {
		if l != "" && !available[l] {
			t.Errorf("%s: groups or joins by %q, which none of its metrics (%v) carries", q.where, l, refs.names())
		}
	}
}

// workloadMetrics runs requests of every kind through a billed gateway and
// returns what /metrics exported: series name → label names.
func workloadMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	g := startGateway(t, func(c *config.Config) {
		c.Billing.Mode = config.BillingFast
		c.Energy.Targets = []config.EnergyTarget{{Model: "dash", WhPer1KTokens: 1}}
		c.Cache.TTL = time.Minute // every answer cached: hits and misses
	})
	g.simulated("dash", map[string]any{"output_tokens": 12, "tokens_per_second": 5000})
	c := g.customer()
	g.fund(c.TeamID, 100_000_000)
	chat := func(stream bool) response {
		return g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "dash", "stream": stream,
			"messages": []map[string]string{{"role": "user", "content": "hello"}}})
	}
	for _, stream := range []bool{false, true, false, true} {
		if r := chat(stream); r.Status != http.StatusOK {
			t.Fatalf("chat (stream %v): %d %s", stream, r.Status, r.Body)
		}
	}
	// An error, for chorus_errors_total.
	if r := g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "no-such-model",
		"messages": []map[string]string{{"role": "user", "content": "hello"}}}); r.Status != http.StatusNotFound {
		t.Fatalf("unknown model: %d", r.Status)
	}
	g.waitUsage(c.ID, 5) // the refused request leaves a record too (model "", 404)
	r := g.do("GET", "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	out, err := parseExposition(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	for name := range out {
		for _, l := range targetLabels {
			out[name][l] = true
		}
	}
	return out
}

// parseExposition reads the Prometheus text format: sample name → the
// label names its samples carry.
func parseExposition(body string) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for n, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			return nil, fmt.Errorf("/metrics line %d: %q", n+1, line)
		}
		name := line[:end]
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if line[end] != '{' {
			continue
		}
		ms, _, err := parseMatchers(line[end:], true)
		if err != nil {
			return nil, fmt.Errorf("/metrics line %d: %v", n+1, err)
		}
		for _, l := range ms {
			out[name][l] = true
		}
	}
	return out, nil
}

// ---- the files

type ruleFile struct {
	path  string
	rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
}

func ruleFiles(t *testing.T) []ruleFile {
	t.Helper()
	paths, err := filepath.Glob("../deploy/prometheus/*.yaml")
	if err != nil || len(paths) < 2 {
		t.Fatalf("rule files: %v %v", paths, err)
	}
	var out []ruleFile
	for _, p := range paths {
		b, err := os.ReadFile(p) // #nosec G304 -- the repository's own files
		if err != nil {
			t.Fatal(err)
		}
		f := ruleFile{path: p}
		if err := yaml.Unmarshal(b, &f.rules); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, f)
	}
	return out
}

// grafanaVars replaces a dashboard's variables with what they stand for
// in a query: a regex matching anything, or a range.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${instance:regex}", ".*", "$instance", ".*", "$model", ".*")

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardQueries returns every panel target's and every variable's
// query in deploy/grafana/dashboards, checking the dashboards' shape on
// the way: a Prometheus data source variable that every panel uses.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	paths, err := filepath.Glob("../deploy/grafana/dashboards/*.json")
	if err != nil || len(paths) < 5 {
		t.Fatalf("dashboards: %v %v", paths, err)
	}
	var out []query
	uids := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p) // #nosec G304 -- the repository's own files
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID        string `json:"uid"`
			Title      string `json:"title"`
			Templating struct {
				List []struct {
					Name  string          `json:"name"`
					Type  string          `json:"type"`
					Query json.RawMessage `json:"query"`
				} `json:"list"`
			} `json:"templating"`
			Panels []struct {
				Type       string `json:"type"`
				Title      string `json:"title"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
				FieldConfig struct {
					Defaults struct {
						Unit string `json:"unit"`
					} `json:"defaults"`
				} `json:"fieldConfig"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if d.UID == "" || uids[d.UID] != "" {
			t.Errorf("%s: uid %q missing or also in %s", p, d.UID, uids[d.UID])
		}
		uids[d.UID] = p
		hasDS := false
		for _, v := range d.Templating.List {
			switch v.Type {
			case "datasource":
				hasDS = hasDS || (v.Name == "datasource" && string(v.Query) == `"prometheus"`)
			case "query":
				var q struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &q); err != nil {
					t.Fatalf("%s: variable %s: %v", p, v.Name, err)
				}
				m := labelValues.FindStringSubmatch(q.Query)
				if m == nil {
					t.Errorf("%s: variable %s: want label_values(metric, label), got %q", p, v.Name, q.Query)
					continue
				}
				out = append(out, query{where: p + ": variable " + v.Name, expr: m[1], label: m[2]})
			}
		}
		if !hasDS {
			t.Errorf("%s: no Prometheus data source variable named datasource", p)
		}
		for _, pn := range d.Panels {
			if pn.Type == "row" {
				continue
			}
			if pn.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q uses data source %q, not ${datasource}", p, pn.Title, pn.Datasource.UID)
			}
			if pn.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: panel %q has no unit", p, pn.Title)
			}
			if len(pn.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", p, pn.Title)
			}
			for _, tg := range pn.Targets {
				out = append(out, query{where: p + ": " + pn.Title, expr: grafanaVars.Replace(tg.Expr)})
			}
		}
	}
	return out
}

// inGoSources reports whether a non-test Go file under internal/ or cmd/
// names the metric (a histogram's series by its family name).
func inGoSources(t *testing.T, name string) bool {
	t.Helper()
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		name = strings.TrimSuffix(name, s)
	}
	found := false
	for _, root := range []string{"../internal", "../cmd"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || found || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p) // #nosec G304 -- the repository's own files
			if err == nil && strings.Contains(string(b), `"`+name+`"`) {
				found = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// ---- a PromQL reader: enough of the grammar to find every metric name,
// the labels each selector matches on, and the labels of by, without, on,
// ignoring, group_left and group_right. Anything it does not know (an
// unknown function, an unclosed bracket) is an error, never a skip.

type metricRef struct {
	name   string
	labels []string
}

type promqlRefs struct {
	metrics    []metricRef
	grouping   []string
	aggregated bool
}

func (r promqlRefs) names() []string {
	var out []string
	for _, m := range r.metrics {
		out = append(out, m.name)
	}
	return out
}

var promqlFunctions = setOf([]string{
	"sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "stdvar", "count_values", "group",
	"rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "resets", "changes",
	"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time", "quantile_over_time",
	"histogram_quantile", "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max", "exp", "ln", "log2", "log10", "sqrt",
	"sort", "sort_desc", "time", "timestamp", "vector", "scalar", "absent", "absent_over_time", "day_of_week", "hour",
})

var aggregations = setOf([]string{"sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev", "stdvar", "count_values", "group"})

var promqlKeywords = setOf([]string{"and", "or", "unless", "bool", "atan2", "inf", "nan", "Inf", "NaN"})

var grouping = setOf([]string{"by", "without", "on", "ignoring", "group_left", "group_right"})

func parsePromQL(expr string) (promqlRefs, error) {
	var r promqlRefs
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	depth := 0
	for {
		skipSpace()
		if i >= len(s) {
			if depth != 0 {
				return r, fmt.Errorf("unbalanced parentheses")
			}
			return r, nil
		}
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			n, err := skipString(s[i:])
			if err != nil {
				return r, err
			}
			i += n
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return r, fmt.Errorf("unclosed [ at %d", i)
			}
			i += j + 1
		case c == '{':
			return r, fmt.Errorf("a selector without a metric name at %d", i)
		case c >= '0' && c <= '9' || c == '.':
			i += len(number.FindString(s[i:]))
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			i = j
			skipSpace()
			switch {
			case grouping[word]:
				if i < len(s) && s[i] == '(' {
					k := strings.IndexByte(s[i:], ')')
					if k < 0 {
						return r, fmt.Errorf("unclosed %s ( at %d", word, i)
					}
					for _, l := range strings.Split(s[i+1:i+k], ",") {
						if l = strings.TrimSpace(l); l != "" {
							r.grouping = append(r.grouping, l)
						}
					}
					i += k + 1
				}
			case aggregations[word]: // sum (…) by (…), sum by (…) (…)
				r.aggregated = true
			case word == "offset":
				i += len(duration.FindString(s[i:]))
			case promqlKeywords[word]:
			case i < len(s) && s[i] == '(':
				if !promqlFunctions[word] {
					return r, fmt.Errorf("unknown function %s", word)
				}
				if aggregations[word] {
					r.aggregated = true
				}
			default:
				m := metricRef{name: word}
				if i < len(s) && s[i] == '{' {
					labels, n, err := parseMatchers(s[i:], false)
					if err != nil {
						return r, err
					}
					m.labels = labels
					i += n
				}
				r.metrics = append(r.metrics, m)
			}
		case c == '(' || c == ')':
			if c == '(' {
				depth++
			} else if depth--; depth < 0 {
				return r, fmt.Errorf("unbalanced ) at %d", i)
			}
			i++
		default: // operators, commas
			i++
		}
	}
}

var (
	number   = regexp.MustCompile(`^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?)`)
	duration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+`)
)

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// skipString returns the length of the quoted string s starts with.
func skipString(s string) (int, error) {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && q != '`':
			i++
		case s[i] == q:
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string %q", s)
}

// parseMatchers reads {name op "value", …} (sample=true: name="value" as
// in /metrics) and returns the label names and the length read.
func parseMatchers(s string, sample bool) ([]string, int, error) {
	var labels []string
	i := 1
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unclosed { in %q", s)
		}
		if s[i] == '}' {
			return labels, i + 1, nil
		}
		j := i
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		if j == i {
			return nil, 0, fmt.Errorf("a label name expected at %q", s[i:])
		}
		labels = append(labels, s[i:j])
		i = j
		for i < len(s) && s[i] == ' ' {
			i++
		}
		ops := []string{"=~", "!~", "!=", "="}
		if sample {
			ops = []string{"="}
		}
		op := ""
		for _, o := range ops {
			if strings.HasPrefix(s[i:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, 0, fmt.Errorf("a matcher operator expected at %q", s[i:])
		}
		i += len(op)
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) || (s[i] != '"' && s[i] != '\'' && s[i] != '`') {
			return nil, 0, fmt.Errorf("a quoted value expected at %q", s[i:])
		}
		n, err := skipString(s[i:])
		if err != nil {
			return nil, 0, err
		}
		i += n
	}
}

func setOf(xs []string) map[string]bool {
	out := make(map[string]bool, len(xs))
	for _, x := range xs {
		out[x] = true
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPromQLReader: the reader finds what the check relies on, and refuses
// what it does not understand.
func TestPromQLReader(t *testing.T) {
	r, err := parsePromQL(`histogram_quantile(0.95, sum by (le, model) (rate(chorus_request_duration_seconds_bucket{instance=~".*",model=~"a,b"}[5m])))
		/ on (model) group_left max by (model) (x:y:z) > 1e6 and time() - foo offset 1w`)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.names(); !slices.Equal(got, []string{"chorus_request_duration_seconds_bucket", "x:y:z", "foo"}) {
		t.Errorf("metrics %v", got)
	}
	if got := r.metrics[0].labels; !slices.Equal(got, []string{"instance", "model"}) {
		t.Errorf("labels %v", got)
	}
	if !slices.Equal(r.grouping, []string{"le", "model", "model", "model"}) || !r.aggregated {
		t.Errorf("grouping %v, aggregated %v", r.grouping, r.aggregated)
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `summ(x)`, `x{a="b"`, `{__name__="x"}`, `x{a~"b"}`, `rate(x[5m)`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("parsePromQL(%q) accepted it", bad)
		}
	}
	m, err := parseExposition("# HELP x y\nx_total{a=\"1,}\\\"\",b=\"\"} 3\nup 1\n")
	if err != nil || !m["x_total"]["a"] || !m["x_total"]["b"] || m["up"] == nil {
		t.Errorf("parseExposition = %v, %v", m, err)
	}
}
