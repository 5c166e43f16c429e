package api

import (
	"net/http"
	"slices"
	"sync"
)

// RouteInfo describes a registered route for the authorization test and
// the docs.
type RouteInfo struct {
	Pattern string // "METHOD /path/{id}"
	Access  string // "public", "key" (model API: API keys only), "user" or "admin"
	StepUp  bool
}

// Mux is the server's one http.ServeMux together with the list of every
// route registered on it and who may call it, so the authorization test can
// walk them all. Both front doors (the model gateway and the management
// API) register their routes through it.
type Mux struct {
	*http.ServeMux
	mu     sync.Mutex
	routes []RouteInfo
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// Route registers h at pattern and records who may call it.
func (m *Mux) Route(info RouteInfo, h http.Handler) {
	m.mu.Lock()
	m.routes = append(m.routes, info)
	m.mu.Unlock()
	m.Handle(info.Pattern, h)
}

// Routes lists every route registered through Route, in registration order.
func (m *Mux) Routes() []RouteInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.routes)
}
