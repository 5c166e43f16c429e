package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/tracing"
)

// Option changes how New builds the app beyond its configuration.
type Option func(*options)

type options struct {
	tracing tracing.Options
}

// WithSpanExporter sends the traces (when tracing.enabled) to exp instead
// of the configured OTLP collector, batched as they would be: benchmarks
// and tests measure and read spans with it.
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.tracing.Exporter = exp }
}

// WithSpanProcessor hands every span to p as it ends (tests: sdktrace's
// SpanRecorder), instead of the batching exporter.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return func(o *options) { o.tracing.Processor = p }
}

// tracerShutdownTimeout bounds the export of the last spans at shutdown.
const tracerShutdownTimeout = 5 * time.Second

// newTracer builds the tracer (nil when tracing is off) and, when it is on,
// the logger whose lines carry trace_id and span_id.
func newTracer(ctx context.Context, cfg config.Config, log *slog.Logger, opts []Option) (*tracing.Tracer, *slog.Logger, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.tracing.InstanceID = cfg.Instance.ID
	t, err := tracing.New(ctx, cfg.Tracing, o.tracing)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	if t == nil {
		return nil, log, nil
	}
	log = slog.New(tracing.NewLogHandler(log.Handler()))
	log.Info("tracing on", "protocol", cfg.Tracing.Protocol, "sampler", cfg.Tracing.Sampler,
		"sample_ratio", cfg.Tracing.SampleRatio, "capture_content", cfg.Tracing.CaptureContent)
	return t, log, nil
}

// shutdownTracer exports the spans still queued; Shutdown runs it after
// the server drained, so the last requests' spans are in.
func (a *App) shutdownTracer() {
	ctx, cancel := context.WithTimeout(context.Background(), tracerShutdownTimeout)
	defer cancel()
	if err := a.Tracer.Shutdown(ctx); err != nil {
		a.Log.Warn("tracing: spans not all exported at shutdown", "err", err)
	}
}
