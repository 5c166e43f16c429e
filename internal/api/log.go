package api

import (
	"context"
	"log/slog"
)

// LogHandler wraps a slog.Handler so that every record logged with a
// request's context carries its request ID: no log line about a request
// has to add it by hand, and none can forget it.
type LogHandler struct{ slog.Handler }

// NewLogHandler returns h with request IDs added from the context.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{h} }

// Handle adds request_id when ctx carries one.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
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
