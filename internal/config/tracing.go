package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Tracing configures OpenTelemetry tracing (docs/tracing.md): a server span
// per request, child spans for routing and every upstream attempt, exported
// over OTLP. Off by default, and then nothing on the request path pays for
// it.
//
// Besides the file and CHORUS_TRACING_*, the standard OTEL_* variables set
// it (applyOTelEnv). Precedence, lowest first: the file, then OTEL_*, then
// CHORUS_TRACING_*; OTEL_SDK_DISABLED=true turns tracing off whatever else
// says.
type Tracing struct {
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector's OTLP address: for http/protobuf a URL
	// (http://collector:4318; "/v1/traces" is added when the URL has no
	// path), for grpc http://collector:4317. An http:// URL is sent
	// without TLS. Empty: the OTLP default on localhost.
	Endpoint string `yaml:"endpoint"`
	Protocol string `yaml:"protocol"` // http/protobuf (default) or grpc
	// Headers are sent with every export (e.g. an API key of a hosted
	// backend). From the environment: OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string `yaml:"headers"`
	// Sampler is one of OTEL_TRACES_SAMPLER's values: parentbased_traceidratio
	// (the default: follow the client's sampled flag, else sample
	// SampleRatio of new traces), traceidratio, always_on, always_off,
	// parentbased_always_on, parentbased_always_off.
	Sampler     string  `yaml:"sampler"`
	SampleRatio float64 `yaml:"sample_ratio"` // in [0, 1], for the ratio samplers
	ServiceName string  `yaml:"service_name"` // the resource's service.name
	// CaptureContent puts prompts and completions on the attempt spans
	// (gen_ai.input.messages, gen_ai.output.messages,
	// gen_ai.system_instructions), each cut to CaptureContentMaxBytes of
	// text. Off by default: they are the users' data.
	CaptureContent         bool `yaml:"capture_content"`
	CaptureContentMaxBytes int  `yaml:"capture_content_max_bytes"`
}

// Tracing protocols (tracing.protocol, OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	TracingHTTP = "http/protobuf"
	TracingGRPC = "grpc"
)

// tracingSamplers are the OTEL_TRACES_SAMPLER values Chorus accepts.
var tracingSamplers = []string{"parentbased_traceidratio", "traceidratio", "always_on", "always_off",
	"parentbased_always_on", "parentbased_always_off"}

// DefaultTracing returns tracing off, ready to export over OTLP/HTTP to a
// local collector once enabled.
func DefaultTracing() Tracing {
	return Tracing{Protocol: TracingHTTP, Sampler: "parentbased_traceidratio", SampleRatio: 1,
		ServiceName: "chorus", CaptureContentMaxBytes: 16 << 10}
}

// tracingErrors checks the tracing section (also when it is off, so a
// mistake shows before someone turns it on).
func (c *Config) tracingErrors() []error {
	var errs problems
	bad := errs.add
	t := &c.Tracing
	if t.Protocol != TracingHTTP && t.Protocol != TracingGRPC {
		bad("tracing.protocol", "must be %s or %s, got %q", TracingHTTP, TracingGRPC, t.Protocol)
	}
	if t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("tracing.endpoint", "must be an http:// or https:// URL such as http://otel-collector:4318, got %q", redactURL(t.Endpoint))
		}
	}
	if !containsString(tracingSamplers, t.Sampler) {
		bad("tracing.sampler", "must be one of %s, got %q", strings.Join(tracingSamplers, ", "), t.Sampler)
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		bad("tracing.sample_ratio", "must be in [0, 1], got %g", t.SampleRatio)
	}
	if t.ServiceName == "" {
		bad("tracing.service_name", "must not be empty")
	}
	if t.CaptureContentMaxBytes < 0 || t.CaptureContentMaxBytes > 1<<20 {
		bad("tracing.capture_content_max_bytes", "must be 0-1048576, got %d", t.CaptureContentMaxBytes)
	}
	for k := range t.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			bad("tracing.headers", "%q is not a header name", k)
		}
	}
	return errs
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// applyOTelEnv applies the standard OpenTelemetry variables to t. An OTLP
// endpoint turns tracing on (an operator who points Chorus at a collector
// wants traces); OTEL_TRACES_EXPORTER=none turns it off. OTEL_SDK_DISABLED
// is applied last of all, in Load (otelDisabled).
func applyOTelEnv(t *Tracing, environ []string) []error {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			env[k] = strings.TrimSpace(v)
		}
	}
	var errs []error
	if v := firstNonEmpty(env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"], env["OTEL_EXPORTER_OTLP_PROTOCOL"]); v != "" {
		t.Protocol = v
	}
	if v := env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]; v != "" {
		t.Endpoint, t.Enabled = v, true
	} else if v := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; v != "" {
		// The general endpoint is a base: OTLP/HTTP adds the signal's path.
		if t.Protocol == TracingHTTP {
			v = strings.TrimRight(v, "/") + "/v1/traces"
		}
		t.Endpoint, t.Enabled = v, true
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if v := env[name]; v != "" {
			h, err := parseOTelHeaders(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				continue
			}
			if t.Headers == nil {
				t.Headers = make(map[string]string, len(h))
			}
			for k, v := range h {
				t.Headers[k] = v
			}
		}
	}
	if v := env["OTEL_TRACES_SAMPLER"]; v != "" {
		t.Sampler = v
	}
	if v := env["OTEL_TRACES_SAMPLER_ARG"]; v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: want a number in [0, 1], got %q", v))
		} else {
			t.SampleRatio = r
		}
	}
	if v := env["OTEL_SERVICE_NAME"]; v != "" {
		t.ServiceName = v
	}
	switch env["OTEL_TRACES_EXPORTER"] {
	case "none":
		t.Enabled = false
	case "otlp":
		t.Enabled = true
	}
	return errs
}

// otelDisabled reports OTEL_SDK_DISABLED=true, which turns tracing off
// whatever the file and the other variables say.
func otelDisabled(environ []string) bool {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "OTEL_SDK_DISABLED" {
			return strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	return false
}

// parseOTelHeaders reads OTEL_EXPORTER_OTLP_HEADERS: comma-separated
// key=value pairs, values percent-encoded.
func parseOTelHeaders(s string) (map[string]string, error) {
	out := make(map[string]string)
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("want key=value pairs separated by commas, got %q", p)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("the value of %s is not percent-encoded correctly", k)
		}
		out[k] = dv
	}
	return out, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
