// Package tracing is Chorus's OpenTelemetry tracing: the tracer provider
// and its OTLP exporter built from config.Tracing, the server span of every
// request (Middleware), the trace ID on every log line about a request
// (LogHandler), and the GenAI semantic-convention attributes of the
// routing and upstream-attempt spans that the orchestrator starts
// (genai.go). See docs/tracing.md.
//
// A nil *Tracer is tracing turned off: every method is safe on it and
// returns at once, and the wiring leaves the middleware and the log handler
// out, so the request path pays nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/chorusgw/chorus/internal/config"
)

// ScopeName is the instrumentation scope of every Chorus span.
const ScopeName = "github.com/chorusgw/chorus"

// TraceIDHeader carries, on every traced response, the trace ID of the
// request's server span (32 lower-case hex digits), so a client can find
// its request in the tracing backend.
const TraceIDHeader = "X-Chorus-Trace-Id"

// Tracer starts Chorus's spans and exports them. Nil means tracing is off.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// content is how many bytes of prompt and completion text a span may
	// carry; 0 captures none.
	content int
}

// Options are what the wiring adds to the configuration.
type Options struct {
	// Exporter replaces the OTLP exporter (tests, benchmarks: an in-memory
	// or discarding exporter).
	Exporter sdktrace.SpanExporter
	// Processor, when set, receives the spans synchronously instead of a
	// batching processor (tests: sdktrace's SpanRecorder).
	Processor sdktrace.SpanProcessor
	// InstanceID becomes service.instance.id.
	InstanceID string
	// Version becomes service.version.
	Version string
}

// New returns the tracer cfg describes, or nil when tracing is off. Its
// spans are batched and exported in the background; Shutdown flushes them.
func New(ctx context.Context, cfg config.Tracing, o Options) (*Tracer, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	res, err := newResource(cfg, o)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler(cfg))}
	switch {
	case o.Processor != nil:
		opts = append(opts, sdktrace.WithSpanProcessor(o.Processor))
	case o.Exporter != nil:
		opts = append(opts, sdktrace.WithBatcher(o.Exporter))
	default:
		exp, err := newExporter(ctx, cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t := &Tracer{
		tp:     tp,
		tracer: tp.Tracer(ScopeName),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if cfg.CaptureContent {
		t.content = cfg.CaptureContentMaxBytes
	}
	return t, nil
}

func newResource(cfg config.Tracing, o Options) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}
	if o.InstanceID != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(o.InstanceID))
	}
	if o.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(o.Version))
	}
	r, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	if r == nil {
		r = resource.NewWithAttributes(semconv.SchemaURL, attrs...)
	}
	return r, nil
}

// sampler is the configured sampler; the ratio samplers sample by trace ID,
// so every instance a trace crosses makes the same choice.
func sampler(cfg config.Tracing) sdktrace.Sampler {
	switch cfg.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(cfg.SampleRatio)
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	default: // parentbased_traceidratio
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))
	}
}

// newExporter builds the OTLP exporter. It does not connect: an absent
// collector costs failed exports in the background, never a failed start.
func newExporter(ctx context.Context, cfg config.Tracing) (sdktrace.SpanExporter, error) {
	if cfg.Protocol == config.TracingGRPC {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint(cfg))}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/gRPC exporter: %w", err)
		}
		return exp, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint(cfg))}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP/HTTP exporter: %w", err)
	}
	return exp, nil
}

// endpoint is the URL spans are sent to: the configured one (for
// OTLP/HTTP with "/v1/traces" when it names no path), or the OTLP default
// on localhost.
func endpoint(cfg config.Tracing) string {
	e := cfg.Endpoint
	if cfg.Protocol == config.TracingGRPC {
		if e == "" {
			e = "http://localhost:4317"
		}
		return e
	}
	if e == "" {
		return "http://localhost:4318/v1/traces"
	}
	if u, err := url.Parse(e); err == nil && (u.Path == "" || u.Path == "/") {
		u.Path = "/v1/traces"
		return u.String()
	}
	return e
}

// Shutdown exports the spans still queued and stops the exporter; ctx
// bounds the wait. Safe on nil.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// ForceFlush exports the spans ended so far. Safe on nil.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Start starts a span as a child of ctx's span. Off (nil t), it returns
// ctx and a non-recording span without allocating.
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.tracer.Start(ctx, name, opts...)
}

// CapturesContent reports whether spans carry prompts and completions.
func (t *Tracer) CapturesContent() bool { return t != nil && t.content > 0 }
