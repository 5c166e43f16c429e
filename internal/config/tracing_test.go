package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/config"
)

func TestTracingConfig(t *testing.T) {
	t.Run("OffByDefault", func(t *testing.T) {
		c, err := config.Load("", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, want := c.Tracing, config.DefaultTracing()
		if got.Enabled || got.Protocol != want.Protocol || got.Sampler != "parentbased_traceidratio" || got.SampleRatio != 1 ||
			got.ServiceName != "chorus" || got.CaptureContent {
			t.Errorf("default tracing = %+v", got)
		}
	})

	file := filepath.Join(t.TempDir(), "chorus.yaml")
	if err := os.WriteFile(file, []byte(`tracing:
  enabled: true
  endpoint: http://file-collector:4318
  headers:
    x-file: "1"
  sample_ratio: 0.5
  service_name: from-file
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		env  []string
		want func(config.Tracing) string // "" when right, else what is wrong
	}{
		"File": {nil, func(tr config.Tracing) string {
			if !tr.Enabled || tr.Endpoint != "http://file-collector:4318" || tr.SampleRatio != 0.5 || tr.ServiceName != "from-file" || tr.Headers["x-file"] != "1" {
				return "the file's values"
			}
			return ""
		}},
		"OTelOverridesFile": {[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://otel:4318/", "OTEL_SERVICE_NAME=from-otel",
			"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.25", "OTEL_EXPORTER_OTLP_HEADERS=api-key=a%20b,x-file=2"},
			func(tr config.Tracing) string {
				if tr.Endpoint != "http://otel:4318/v1/traces" || tr.ServiceName != "from-otel" || tr.Sampler != "traceidratio" ||
					tr.SampleRatio != 0.25 || tr.Headers["api-key"] != "a b" || tr.Headers["x-file"] != "2" {
					return "the OTEL_* values (endpoint with /v1/traces, headers decoded)"
				}
				return ""
			}},
		"ChorusOverridesOTel": {[]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://otel:4318/custom", "CHORUS_TRACING_ENDPOINT=http://chorus:4318",
			"OTEL_SERVICE_NAME=from-otel", "CHORUS_TRACING_SERVICE_NAME=from-chorus"},
			func(tr config.Tracing) string {
				if tr.Endpoint != "http://chorus:4318" || tr.ServiceName != "from-chorus" {
					return "CHORUS_TRACING_* over OTEL_*"
				}
				return ""
			}},
		"TracesEndpointAsIs": {[]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://otel:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT=http://ignored:4318"},
			func(tr config.Tracing) string {
				if tr.Endpoint != "http://otel:4318/custom" {
					return "the traces endpoint unchanged"
				}
				return ""
			}},
		"GRPCEndpointNoPath": {[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel:4317"},
			func(tr config.Tracing) string {
				if tr.Protocol != config.TracingGRPC || tr.Endpoint != "http://otel:4317" {
					return "grpc with the endpoint as given"
				}
				return ""
			}},
		"SDKDisabledWins": {[]string{"OTEL_SDK_DISABLED=true", "CHORUS_TRACING_ENABLED=true"},
			func(tr config.Tracing) string {
				if tr.Enabled {
					return "tracing off"
				}
				return ""
			}},
		"ExporterNone": {[]string{"OTEL_TRACES_EXPORTER=none"},
			func(tr config.Tracing) string {
				if tr.Enabled {
					return "tracing off"
				}
				return ""
			}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := config.Load(file, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if wrong := tc.want(c.Tracing); wrong != "" {
				t.Errorf("with %v: tracing = %+v, want %s", tc.env, c.Tracing, wrong)
			}
		})
	}

	t.Run("EndpointTurnsOn", func(t *testing.T) {
		c, err := config.Load("", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://otel:4318"})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Tracing.Enabled {
			t.Error("an OTLP endpoint in the environment must turn tracing on")
		}
	})

	for name, tc := range map[string]struct{ env, want string }{
		"ErrProtocol":     {"CHORUS_TRACING_PROTOCOL=http/json", "tracing.protocol"},
		"ErrEndpoint":     {"CHORUS_TRACING_ENDPOINT=otel:4318", "tracing.endpoint"},
		"ErrSampler":      {"OTEL_TRACES_SAMPLER=jaeger_remote", "tracing.sampler"},
		"ErrRatio":        {"CHORUS_TRACING_SAMPLE_RATIO=1.5", "tracing.sample_ratio"},
		"ErrRatioArg":     {"OTEL_TRACES_SAMPLER_ARG=half", "OTEL_TRACES_SAMPLER_ARG"},
		"ErrServiceName":  {"CHORUS_TRACING_SERVICE_NAME=", "tracing.service_name"},
		"ErrHeaders":      {"OTEL_EXPORTER_OTLP_HEADERS=novalue", "OTEL_EXPORTER_OTLP_HEADERS"},
		"ErrHeaderEscape": {"OTEL_EXPORTER_OTLP_HEADERS=k=%zz", "OTEL_EXPORTER_OTLP_HEADERS"},
		"ErrContentMax":   {"CHORUS_TRACING_CAPTURE_CONTENT_MAX_BYTES=-1", "tracing.capture_content_max_bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load("", []string{tc.env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%q) = %v, want an error naming %s", tc.env, err, tc.want)
			}
		})
	}

	t.Run("ErrHeaderName", func(t *testing.T) {
		c := config.Default()
		c.Tracing.Headers = map[string]string{"bad name": "x"}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tracing.headers") {
			t.Errorf("Validate = %v, want an error naming tracing.headers", err)
		}
	})
}
