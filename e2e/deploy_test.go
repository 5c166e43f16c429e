package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/chorusgw/chorus/internal/config"
)

// composeFile is what TestComposeFile reads of deploy/compose/compose.yaml.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Hostname        string            `yaml:"hostname"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	DependsOn       map[string]any    `yaml:"depends_on"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Healthcheck     struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// repoFile reads a file of the repository from the e2e directory.
func repoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// nginxDirective returns the arguments of every directive name in conf.
func nginxDirective(conf, name string) []string {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s+([^;]*);`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(conf, -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

// TestComposeFile checks the invariants of deploy/compose/compose.yaml and
// deploy/nginx/chorus.conf that no Docker here can try: three Chorus
// services with distinct instance IDs, each one an upstream server in the
// nginx config, a healthcheck on every service, a stop grace period that
// covers the drain, nginx closing idle upstream connections before an
// instance stops listening, and the nginx rules the failover test relies on.
func TestComposeFile(t *testing.T) {
	var cf composeFile
	if err := yaml.Unmarshal([]byte(repoFile(t, "deploy/compose/compose.yaml")), &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	conf := repoFile(t, "deploy/nginx/chorus.conf")

	upstreams := map[string]bool{}
	for _, s := range nginxDirective(conf, "server") {
		if f := strings.Fields(s); len(f) > 0 && strings.Contains(f[0], ":") {
			upstreams[f[0]] = true
		}
	}
	keepalive := durationOf(t, nginxDirective(conf, "keepalive_timeout"))

	ids := map[string]string{}
	var chorus []string
	for name, s := range cf.Services {
		if len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
		id, ok := s.Environment["CHORUS_INSTANCE_ID"]
		if !ok {
			continue
		}
		chorus = append(chorus, name)
		if other, dup := ids[id]; dup {
			t.Errorf("services %s and %s share CHORUS_INSTANCE_ID %q", name, other, id)
		}
		ids[id] = name
		if !upstreams[name+":8080"] {
			t.Errorf("deploy/nginx/chorus.conf has no upstream server %s:8080 (it has %v)", name, upstreams)
		}
		if s.Environment["CHORUS_DATABASE_URL"] == "" || s.Environment["CHORUS_REDIS_URL"] == "" || s.Environment["CHORUS_SECRET_KEY"] == "" {
			t.Errorf("service %s does not share the database, Redis and the sealing key", name)
		}
		preDrain := parseDuration(t, s.Environment["CHORUS_TIMEOUTS_PRE_DRAIN"])
		drain := parseDuration(t, s.Environment["CHORUS_TIMEOUTS_DRAIN"])
		if grace := parseDuration(t, s.StopGracePeriod); grace <= preDrain+drain {
			t.Errorf("service %s: stop_grace_period %v does not exceed pre_drain %v + drain %v: it would be killed while draining", name, grace, preDrain, drain)
		}
		if keepalive >= preDrain {
			t.Errorf("nginx upstream keepalive_timeout %v is not shorter than %s's pre_drain %v: nginx could send on a connection the instance closes", keepalive, name, preDrain)
		}
	}
	sort.Strings(chorus)
	for _, name := range chorus {
		if _, err := config.Load("", composeEnviron(cf.Services[name].Environment)); err != nil {
			t.Errorf("service %s: Chorus refuses its environment: %v", name, err)
		}
	}
	if len(chorus) != 3 {
		t.Errorf("Chorus services %v, want 3", chorus)
	}
	if len(upstreams) != len(chorus) {
		t.Errorf("nginx upstream servers %v, Chorus services %v: want one for each", upstreams, chorus)
	}

	ng, ok := cf.Services["nginx"]
	if !ok {
		t.Fatal("no nginx service")
	}
	if !strings.Contains(strings.Join(ng.Volumes, " "), "../nginx/chorus.conf:") {
		t.Errorf("nginx does not mount ../nginx/chorus.conf: %v", ng.Volumes)
	}
	for _, name := range chorus {
		if _, ok := ng.DependsOn[name]; !ok {
			t.Errorf("nginx does not wait for %s", name)
		}
	}

	t.Run("NginxRules", func(t *testing.T) {
		for _, next := range nginxDirective(conf, "proxy_next_upstream") {
			if strings.Contains(next, "non_idempotent") {
				t.Errorf("proxy_next_upstream %s: a POST that reached an instance could run twice", next)
			}
		}
		want := map[string]string{
			"proxy_buffering":      "off",
			"proxy_http_version":   "1.1",
			"client_max_body_size": strconv.FormatInt(config.Default().Limits.MaxBodyBytes>>20, 10) + "m",
		}
		for name, v := range want {
			if got := nginxDirective(conf, name); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %v, want %s", name, got, v)
			}
		}
		read := durationOf(t, nginxDirective(conf, "proxy_read_timeout"))
		if up := config.Default().Timeouts.Upstream; read < up {
			t.Errorf("proxy_read_timeout %v is shorter than timeouts.upstream %v: nginx would cut answers Chorus still waits for", read, up)
		}
	})
}

var composeVar = regexp.MustCompile(`\$\{([A-Z_]+)(?::([?-])([^}]*))?\}`)

// composeEnviron is a service's environment as compose would pass it, with
// ${VAR:-default} at its default and ${VAR:?…} (required) at a value long
// enough for any key.
func composeEnviron(env map[string]string) []string {
	var out []string
	for k, v := range env {
		v = composeVar.ReplaceAllStringFunc(v, func(m string) string {
			if sub := composeVar.FindStringSubmatch(m); sub[2] == "-" {
				return sub[3]
			}
			return "0123456789abcdef0123456789abcdef"
		})
		out = append(out, k+"="+v)
	}
	return out
}

// durationOf reads one nginx time argument ("4s", "600s", "10m").
func durationOf(t *testing.T, args []string) time.Duration {
	t.Helper()
	if len(args) != 1 {
		t.Fatalf("want one value, got %v", args)
	}
	return parseDuration(t, args[0])
}

func parseDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}
