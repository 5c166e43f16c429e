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

// InjectTrace adds the trace context of ctx's span to an upstream request,
// so the upstream's own spans join the client's trace. Adapters call it on
// every request they build, just before sending it. The request's header
// map may be shared with other requests (an adapter may hand every request
// the same one), so it is copied before the trace headers go in. Without a
// span in ctx (tracing off) it does nothing and allocates nothing.
func InjectTrace(ctx context.Context, req *http.Request) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	h := req.Header.Clone()
	if h == nil {
		h = make(http.Header, 2)
	}
	upstreamPropagator.Inject(ctx, propagation.HeaderCarrier(h))
	req.Header = h
}
