package tracing

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Router finds the route a request will take (http.ServeMux does), to name
// the server span by its pattern rather than by its raw path.
type Router interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Middleware starts the server span of every request: the client's W3C
// traceparent, tracestate and baggage are its parent, it is named
// "METHOD route", carries the HTTP server attributes and answers the trace
// ID in TraceIDHeader. Handlers further down add to it (Annotate) and
// start its children from the request's context. Probes and scrapes
// (/livez, /readyz, /metrics), which would bury the requests under their
// own traces every few seconds, get none. Off (nil t), it is next.
func (t *Tracer) Middleware(router Router, next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		w.Header().Set(TraceIDHeader, span.SpanContext().TraceID().String())
		if !span.IsRecording() { // unsampled: IDs, propagation and log correlation only
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		route := ""
		if router != nil {
			_, pattern := router.Handler(r)
			route = routeOf(pattern)
		}
		if route != "" {
			span.SetName(r.Method + " " + route)
		}
		span.SetAttributes(serverAttributes(r, route)...)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
			if !sw.errorTyped(span) {
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(sw.status)))
			}
		}
	})
}

// untraced is true for probes and scrapes.
func untraced(p string) bool {
	return p == "/livez" || p == "/readyz" || p == "/metrics"
}

// routeOf is the path of a ServeMux pattern ("POST /v1/chat/completions" →
// "/v1/chat/completions"); a catch-all "/" is no route.
func routeOf(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 { // a host pattern
		pattern = pattern[i:]
	}
	if pattern == "/" {
		return ""
	}
	return pattern
}

// serverAttributes are the HTTP server span's attributes known at start.
func serverAttributes(r *http.Request, route string) []attribute.KeyValue {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme),
		semconv.NetworkProtocolVersion(strings.TrimPrefix(r.Proto, "HTTP/")),
	)
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	if host, port, err := net.SplitHostPort(r.Host); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	} else if r.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(r.Host))
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, semconv.ClientAddress(host))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// statusWriter remembers the response status. It forwards Flush and
// Unwrap so streaming and http.ResponseController keep working.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	w.wrote = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errorTyped reports whether a handler already set error.type on span
// (Annotate does), which is more telling than the status code.
func (w *statusWriter) errorTyped(span trace.Span) bool {
	ro, ok := span.(interface{ Attributes() []attribute.KeyValue })
	if !ok {
		return false
	}
	for _, kv := range ro.Attributes() {
		if kv.Key == semconv.ErrorTypeKey {
			return true
		}
	}
	return false
}

// LogHandler wraps h so that every record logged with a context inside a
// span carries the trace ID (trace_id) and span ID (span_id): the request's
// log lines can be found from its trace and back. The wiring installs it
// only when tracing is on.
type LogHandler struct{ slog.Handler }

// NewLogHandler returns h with trace and span IDs added from the context.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{h} }

// Handle adds trace_id and span_id when ctx carries a span context.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h *LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &LogHandler{h.Handler.WithAttrs(as)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{h.Handler.WithGroup(name)}
}
