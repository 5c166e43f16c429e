package provider

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// upstreamPropagator writes the W3C trace context (traceparent,
// tracestate) and baggage of an attempt's span onto its upstream request.
var upstreamPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// InjectTrace adds the trace context of ctx's span to an upstream request's
// headers, so the upstream's own spans join the client's trace. Adapters
// call it on every request they build. Without a span in ctx (tracing off)
// it does nothing and allocates nothing.
func InjectTrace(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	upstreamPropagator.Inject(ctx, propagation.HeaderCarrier(h))
}
