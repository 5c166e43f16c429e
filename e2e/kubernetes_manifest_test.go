package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// The Kubernetes manifests (deploy/kubernetes) checked against the real
// gateway: the nested module deploy/kubernetes/validate checks them
// against the Kubernetes API types; these tests check that what they point
// at exists in Chorus — the probes' paths answer, the configuration file
// and environment load, the scrape needs and takes the token, and the
// series the autoscaler's adapter rule reads is exported.

const kubernetesBase = "../deploy/kubernetes/base"

// k8sObject is the part of a manifest these tests read; the nested module
// decodes the whole of it strictly.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Template struct {
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Endpoints []struct {
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

// k8sManifests is the base's objects by kind and name.
type k8sManifests map[string]*k8sObject

// readK8sManifests reads every object of the base's YAML files.
func readK8sManifests(t *testing.T, dir string) k8sManifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	m := k8sManifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m[o.Kind+"/"+o.Metadata.Name] = &o
		}
	}
	return m
}

// get returns the object of kind and name, failing the test without it.
func (m k8sManifests) get(t *testing.T, kind, name string) *k8sObject {
	t.Helper()
	o, ok := m[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s %s in %s", kind, name, kubernetesBase)
	}
	return o
}

// gateway returns the Deployment's container.
func (m k8sManifests) gateway(t *testing.T) k8sContainer {
	t.Helper()
	cs := m.get(t, "Deployment", "chorus").Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment chorus has %d containers, want 1", len(cs))
	}
	return cs[0]
}

// environ is the container's environment as a pod would have it (the
// Secret's template values, a pod name for the downward API), then
// overrides, in os.Environ form.
func (m k8sManifests) environ(t *testing.T, c k8sContainer, overrides map[string]string) []string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		for k, v := range m.get(t, "ConfigMap", from.ConfigMapRef.Name).Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch ref := e.ValueFrom.SecretKeyRef; {
		case ref.Name != "":
			if v, ok := m.get(t, "Secret", ref.Name).StringData[ref.Key]; ok {
				env[e.Name] = v
			}
		case e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = "chorus-5d8f7c9b4-x2k9q"
		default:
			env[e.Name] = e.Value
		}
	}
	for k, v := range overrides {
		env[k] = v
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// configFile writes the chorus-config ConfigMap's file where CHORUS_CONFIG
// can name it.
func (m k8sManifests) configFile(t *testing.T) string {
	t.Helper()
	text, ok := m.get(t, "ConfigMap", "chorus-config").Data["chorus.yaml"]
	if !ok {
		t.Fatal("ConfigMap chorus-config has no chorus.yaml")
	}
	path := filepath.Join(t.TempDir(), "chorus.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The configuration file and the environment the Deployment gives Chorus
// load through the real loader (strict: an unknown key fails), and the
// Secret's placeholders are refused at start, as its comment promises.
func TestKubernetesConfigLoadsAndPlaceholdersAreRefused(t *testing.T) {
	m := readK8sManifests(t, kubernetesBase)
	file := m.configFile(t)
	environ := m.environ(t, m.gateway(t), map[string]string{"CHORUS_CONFIG": file, "CHORUS_DATA_DIR": t.TempDir()})
	cfg, err := config.Load(file, environ)
	if err != nil {
		t.Fatalf("the manifests' configuration does not load: %v", err)
	}
	if cfg.DatabaseURL == "" || cfg.RedisURL == "" || cfg.SecretKey == "" || cfg.MetricsToken == "" {
		t.Errorf("database_url %q, redis_url %q, secret_key set %t, metrics_token set %t: want all from the Secret",
			cfg.DatabaseURL, cfg.RedisURL, cfg.SecretKey != "", cfg.MetricsToken != "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := app.OpenStore(ctx, cfg, apptest.Logger(), false)
	if err == nil {
		db.Close()
		t.Fatal("Chorus started on the Secret template's placeholders")
	}
	if !strings.Contains(err.Error(), "CHORUS_SECRET_KEY") {
		t.Errorf("start with the template's secret key: %v; want it to name CHORUS_SECRET_KEY", err)
	}
}

// A gateway running the manifests' configuration answers 200 on every
// probe path of the Deployment, refuses the ServiceMonitor's scrape
// without the token and serves it with the token, and exports the series
// the Prometheus Adapter rule turns into the autoscaler's metric.
func TestKubernetesProbesAndScrape(t *testing.T) {
	m := readK8sManifests(t, kubernetesBase)
	const token = "k8s-test-metrics-token"
	file := m.configFile(t)
	environ := m.environ(t, m.gateway(t), map[string]string{
		"CHORUS_CONFIG":        file,
		"CHORUS_DATABASE_URL":  "", // SQLite in the test's data dir
		"CHORUS_REDIS_URL":     "",
		"CHORUS_SECRET_KEY":    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"CHORUS_METRICS_TOKEN": token,
		// The test's own shutdown need not wait for load balancers.
		"CHORUS_TIMEOUTS_PRE_DRAIN": "0s",
	})
	loaded, err := config.Load(file, environ)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, func(c *config.Config) {
		dataDir, listen := c.DataDir, c.Listen
		*c = loaded
		c.DataDir, c.Listen, c.MasterKey = dataDir, listen, apptest.MasterKey
		c.Billing.Mode = config.BillingOff // the test's customer holds no credits
	})

	ctr := m.gateway(t)
	for name, p := range map[string]*k8sProbe{"startupProbe": ctr.StartupProbe, "livenessProbe": ctr.LivenessProbe, "readinessProbe": ctr.ReadinessProbe} {
		if p == nil {
			t.Errorf("%s: none", name)
			continue
		}
		// The health handlers' own answer: any other path gets the
		// console's page, 200 too, which would pass a probe that checks
		// nothing.
		// /livez answers "ok\n"; /readyz its JSON report ({"status":"ok",…}).
		if r := g.do("GET", p.HTTPGet.Path, "", nil); r.Status != http.StatusOK || (string(r.Body) != "ok\n" && !strings.HasPrefix(string(r.Body), `{"status":"ok"`)) {
			t.Errorf("%s: GET %s = %d %.80q, want 200 and a health handler's answer", name, p.HTTPGet.Path, r.Status, r.Body)
		}
	}

	eps := m.get(t, "ServiceMonitor", "chorus").Spec.Endpoints
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor chorus has %d endpoints, want 1", len(eps))
	}
	scrape := eps[0].Path
	if r := g.do("GET", scrape, "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("GET %s without the token = %d, want 401 (the ServiceMonitor must send it)", scrape, r.Status)
	}

	sim := g.simulated(g.unique("k8s"), map[string]any{"latency_ms": 0, "output_tokens": 4})
	key := g.customer(sim.Model.Name)
	chat := map[string]any{"model": sim.Model.Name, "messages": []map[string]string{{"role": "user", "content": "hi"}}}
	if r := g.do("POST", "/v1/chat/completions", key.Key, chat); r.Status != http.StatusOK {
		t.Fatalf("chat = %d %s", r.Status, r.Body)
	}
	r := g.do("GET", scrape, token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s with the token = %d %s", scrape, r.Status, r.Body)
	}
	series := adapterSeries(t)
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + `\{[^}]*model="` + regexp.QuoteMeta(sim.Model.Name) + `"`).Match(r.Body) {
		t.Errorf("%s exports no %s for the request just served; the autoscaler's metric would be empty", scrape, series)
	}
}

// adapterSeries returns the metric the Prometheus Adapter rule reads (the
// name its seriesQuery starts with).
func adapterSeries(t *testing.T) string {
	t.Helper()
	m := readK8sManifests(t, "../deploy/kubernetes/prometheus-adapter")
	var cfg struct {
		Rules []struct {
			SeriesQuery string `yaml:"seriesQuery"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal([]byte(m.get(t, "ConfigMap", "adapter-config").Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) == 0 {
		t.Fatal("the adapter config has no rules")
	}
	name, _, _ := strings.Cut(cfg.Rules[0].SeriesQuery, "{")
	return strings.TrimSpace(name)
}
