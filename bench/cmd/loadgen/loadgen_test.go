package main

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDistOf(t *testing.T) {
	var d []time.Duration
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	got := distOf(d)
	want := dist{P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond,
		P999: 999 * time.Microsecond, Max: 1000 * time.Microsecond, Mean: 500500 * time.Nanosecond}
	if got != want {
		t.Fatalf("distOf = %+v, want %+v", got, want)
	}
	if (distOf(nil) != dist{}) {
		t.Fatal("distOf(nil) is not zero")
	}
}

func TestIsContentChunk(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`data: {"choices":[{"delta":{"content":"tok0 "}}]}` + "\n", true},
		{`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}` + "\n", false},
		{`data: {"choices":[],"usage":{"prompt_tokens":1}}` + "\n", false},
		{"data: [DONE]\n", false},
		{`: {"content":"x"}` + "\n", false},
	} {
		if got := isContentChunk([]byte(tc.line)); got != tc.want {
			t.Errorf("isContentChunk(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestOptionalURL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{"Bare", "true", defaultPostgres, false},
		{"Off", "false", "", false},
		{"URL", "postgres://u@h:5432/db", "postgres://u@h:5432/db", false},
		{"ErrNotPostgres", "mysql://h/db", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o optionalURL
			err := o.Set(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Set(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if o.url != tc.want {
				t.Fatalf("Set(%q) = %q, want %q", tc.in, o.url, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Fatalf("median = %v, want 2", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Fatalf("median of an even count = %v, want the lower middle 2", got)
	}
}

func TestNginxConfRender(t *testing.T) {
	c := nginxConf{prefix: "/tmp/gw bench/nginx", listen: "127.0.0.1:18080", upstream: "127.0.0.1:19090", workers: 2}
	conf := c.render()
	for _, want := range []string{
		"worker_processes 2;",
		`pid "/tmp/gw bench/nginx/nginx.pid";`,
		`error_log "/tmp/gw bench/nginx/nginx-error.log" warn;`,
		`client_body_temp_path "/tmp/gw bench/nginx/client_body";`,
		`proxy_temp_path "/tmp/gw bench/nginx/proxy";`,
		"access_log off;",
		"server 127.0.0.1:19090;",
		"keepalive 64;",
		"listen 127.0.0.1:18080;",
		"proxy_pass http://mock;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_buffering off;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	// Every path nginx writes stays under the prefix: none is left to the
	// compiled-in defaults under /var, which an unprivileged user cannot write.
	for _, directive := range []string{"fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path"} {
		if !strings.Contains(conf, directive+` "/tmp/gw bench/nginx/`) {
			t.Errorf("%s is not under the prefix:\n%s", directive, conf)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}
	if got := (nginxConf{workers: 0}).render(); !strings.Contains(got, "worker_processes 1;") {
		t.Errorf("zero workers should render as one:\n%s", got)
	}
}

func TestNginxWorkers(t *testing.T) {
	if got := nginxWorkers(3); got != 3 {
		t.Errorf("nginxWorkers(3) = %d, want 3", got)
	}
	if got := nginxWorkers(0); got != runtime.NumCPU() {
		t.Errorf("nginxWorkers(0) = %d, want NumCPU %d", got, runtime.NumCPU())
	}
}

func TestFindNginx(t *testing.T) {
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	inPath := func(string) (string, error) { return "/usr/local/bin/nginx", nil }
	statOnly := func(ok ...string) func(string) (os.FileInfo, error) {
		return func(p string) (os.FileInfo, error) {
			if slices.Contains(ok, p) {
				return nil, nil
			}
			return nil, os.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name, flag string
		look       func(string) (string, error)
		stat       func(string) (os.FileInfo, error)
		want       string
		wantErr    bool
	}{
		{"Off", "off", inPath, statOnly(), "", false},
		{"AutoInPath", nginxAuto, inPath, statOnly(), "/usr/local/bin/nginx", false},
		{"AutoDebianPath", nginxAuto, notFound, statOnly(debianNginx), debianNginx, false},
		{"ErrAutoAbsent", nginxAuto, notFound, statOnly(), "", true},
		{"ExplicitPath", "/opt/nginx/sbin/nginx", notFound, statOnly("/opt/nginx/sbin/nginx"), "/opt/nginx/sbin/nginx", false},
		{"ErrExplicitMissing", "/nope/nginx", inPath, statOnly(), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findNginx(tc.flag, tc.look, tc.stat)
			if (err != nil) != tc.wantErr {
				t.Fatalf("findNginx(%q) error = %v, want error %v", tc.flag, err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("findNginx(%q) = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestLatencyVerdict(t *testing.T) {
	for _, tc := range []struct {
		chorus, nginx time.Duration
		want          string
	}{
		{200 * time.Microsecond, 100 * time.Microsecond, "met"},
		{201 * time.Microsecond, 100 * time.Microsecond, "NOT met"},
		{50 * time.Microsecond, -10 * time.Microsecond, "inconclusive: nginx added nothing measurable"},
	} {
		if got := latencyVerdict(tc.chorus, tc.nginx); got != tc.want {
			t.Errorf("latencyVerdict(%v, %v) = %q, want %q", tc.chorus, tc.nginx, got, tc.want)
		}
	}
}

// TestReportNginx checks the ratios table from two runs: latency ratios are
// ratios of the medians of the added figures, throughput the median of the
// per-run ratios.
func TestReportNginx(t *testing.T) {
	ms := time.Millisecond
	mk := func(target string, rate float64, p50, p99 time.Duration) stats {
		return stats{Target: target, Rate: rate, Lat: dist{P50: p50, P99: p99}}
	}
	runs := []runResult{
		{Run: 1, Scenarios: []scenarioResult{
			{Scenario: "open", Direct: mk("direct", 2000, ms, 2*ms), Nginx: mk("nginx", 2000, ms+100*time.Microsecond, 3*ms),
				Chorus: mk("chorus", 2000, ms+300*time.Microsecond, 4*ms)},
			{Scenario: "closed", Direct: mk("direct", 30000, 0, 0), Nginx: mk("nginx", 20000, 0, 0), Chorus: mk("chorus", 8000, 0, 0)},
		}},
		{Run: 2, Scenarios: []scenarioResult{
			{Scenario: "open", Direct: mk("direct", 2000, ms, 2*ms), Nginx: mk("nginx", 2000, ms+100*time.Microsecond, 3*ms),
				Chorus: mk("chorus", 2000, ms+300*time.Microsecond, 4*ms)},
			{Scenario: "closed", Direct: mk("direct", 30000, 0, 0), Nginx: mk("nginx", 10000, 0, 0), Chorus: mk("chorus", 6000, 0, 0)},
		}},
	}
	var b strings.Builder
	report(&b, options{rate: 2000, concurrency: 64}, runs)
	out := b.String()
	for _, want := range []string{
		"| | added by nginx | | | +100 µs | | +1000 µs |",
		"| non-streaming, 2000 req/s | added p50 | +300 µs | +100 µs | 3.0 | ≤ 2× nginx: NOT met |",
		"| | added p99 | +2000 µs | +1000 µs | 2.0 | ≤ 1 ms: NOT met |",
		// per-run ratios 0.40 and 0.60: the lower middle of two is 0.40, as for the rates
		"| non-streaming, 64 workers | max req/s | 6000 | 10000 | 0.40 | ≥ 0.5× nginx: NOT met |",
		"| non-streaming, 64 workers | 30000 | 10000 | 6000 | 0.20 | 0.40 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
