package manage

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

// AdminStore is what the admin API needs from the database.
type AdminStore interface {
	CreateModel(ctx context.Context, m *chorus.Model) error
	ModelByID(ctx context.Context, id int64) (*chorus.Model, error)
	UpdateModel(ctx context.Context, m *chorus.Model) error
	DeleteModel(ctx context.Context, id int64) error
	ListModels(ctx context.Context, p chorus.Page) ([]*chorus.Model, error)

	CreateDeployment(ctx context.Context, d *chorus.Deployment) error
	DeploymentByID(ctx context.Context, id int64) (*chorus.Deployment, error)
	UpdateDeployment(ctx context.Context, d *chorus.Deployment) error
	DeleteDeployment(ctx context.Context, id int64) error
	ListDeployments(ctx context.Context, modelID *int64, p chorus.Page) ([]*chorus.Deployment, error)

	CreateCredential(ctx context.Context, c *chorus.Credential) error
	CredentialByID(ctx context.Context, id int64) (*chorus.Credential, error)
	UpdateCredential(ctx context.Context, c *chorus.Credential) error
	DeleteCredential(ctx context.Context, id int64) error
	ListCredentials(ctx context.Context, p chorus.Page) ([]*chorus.Credential, error)

	CreateKey(ctx context.Context, k *chorus.APIKey) error
	KeyByID(ctx context.Context, id int64) (*chorus.APIKey, error)
	ListKeys(ctx context.Context, f chorus.KeyFilter, p chorus.Page) ([]*chorus.APIKey, error)
	RevokeKey(ctx context.Context, id int64, at time.Time) error

	ListUsage(ctx context.Context, f chorus.UsageFilter, p chorus.Page) ([]*chorus.Usage, error)

	RouteStore
}

// adminRoutes registers the admin JSON API (admin keys only) and the
// customer's own key API.
func (s *Server) adminRoutes(mux *api.Mux) {
	admin := func(pattern string, h handlerFunc) { s.handle(mux, pattern, accessAdmin, h) }
	admin("GET /api/admin/models", s.adminListModels)
	admin("POST /api/admin/models", s.adminCreateModel)
	admin("GET /api/admin/models/{id}", s.adminGetModel)
	admin("PUT /api/admin/models/{id}", s.adminUpdateModel)
	admin("DELETE /api/admin/models/{id}", s.adminDeleteModel)

	admin("GET /api/admin/deployments", s.adminListDeployments)
	admin("POST /api/admin/deployments", s.adminCreateDeployment)
	admin("GET /api/admin/deployments/{id}", s.adminGetDeployment)
	admin("PUT /api/admin/deployments/{id}", s.adminUpdateDeployment)
	admin("DELETE /api/admin/deployments/{id}", s.adminDeleteDeployment)

	admin("GET /api/admin/credentials", s.adminListCredentials)
	s.handle(mux, "POST /api/admin/credentials", accessAdmin|stepUp, s.adminCreateCredential)
	admin("GET /api/admin/credentials/{id}", s.adminGetCredential)
	s.handle(mux, "PUT /api/admin/credentials/{id}", accessAdmin|stepUp, s.adminUpdateCredential)
	s.handle(mux, "DELETE /api/admin/credentials/{id}", accessAdmin|stepUp, s.adminDeleteCredential)

	admin("GET /api/admin/keys", s.adminListKeys)
	s.handle(mux, "POST /api/admin/keys", accessAdmin|stepUp, s.createKey)
	admin("DELETE /api/admin/keys/{id}", s.adminRevokeKey)
	admin("GET /api/admin/usage", s.adminListUsage)
	admin("GET /api/admin/registry", s.adminRegistry)
	s.routeAdminRoutes(mux)
	admin("GET /api/admin/health", s.adminHealth)
	admin("GET /api/admin/audit", s.adminListAudit)

	// Any signed-in user manages their team's keys.
	s.handle(mux, "GET /api/keys", accessUser, s.listOwnKeys)
	s.handle(mux, "GET /api/usage", accessUser, s.listOwnUsage)
	s.handle(mux, "POST /api/keys", accessUser|stepUp, s.createKey)
	s.handle(mux, "DELETE /api/keys/{id}", accessUser, s.revokeOwnKey)
	mux.HandleFunc("/api/", s.notFound)
}

// changed rebuilds the snapshot so a change applies to the next request.
func (s *Server) changed(ctx context.Context) {
	if err := s.Registry.Refresh(ctx, true); err != nil {
		s.Logger.ErrorContext(ctx, "registry refresh after change failed", "err", err)
	}
}

// ---- models

type modelInput struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Description   string `json:"description"`
	ContextWindow int    `json:"context_window"`
	MaxOutput     int    `json:"max_output_tokens"`
	// MaxTokensPolicy: "refuse" (the default when absent) or "clamp".
	MaxTokensPolicy string `json:"max_tokens_policy"`
	OwnedBy         string `json:"owned_by"`
	Enabled         *bool  `json:"enabled"`
}

func (in *modelInput) apply(m *chorus.Model) error {
	if in.Kind == "" {
		in.Kind = chorus.KindChat
	}
	m.Name, m.Kind, m.Description, m.ContextWindow, m.MaxOutput, m.OwnedBy = in.Name, in.Kind, in.Description, in.ContextWindow, in.MaxOutput, in.OwnedBy
	m.MaxTokensPolicy = in.MaxTokensPolicy
	m.Enabled = in.Enabled == nil || *in.Enabled
	return m.Validate()
}

func (s *Server) adminListModels(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	p, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	ms, err := s.Store.ListModels(r.Context(), p)
	if err != nil {
		return err
	}
	api.WriteList(w, ms, p, func(m *chorus.Model) int64 { return m.ID })
	return nil
}

func (s *Server) adminCreateModel(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in modelInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	m := &chorus.Model{}
	if err := in.apply(m); err != nil {
		return err
	}
	if err := s.Store.CreateModel(r.Context(), m); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) adminGetModel(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	m, err := s.Store.ModelByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) adminUpdateModel(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in modelInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	m, err := s.Store.ModelByID(r.Context(), id)
	if err != nil {
		return err
	}
	if err := in.apply(m); err != nil {
		return err
	}
	if err := s.Store.UpdateModel(r.Context(), m); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) adminDeleteModel(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteModel(r.Context(), id); err != nil {
		return err
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- deployments

type deploymentInput struct {
	ModelID       int64             `json:"model_id"`
	Name          string            `json:"name"`
	Provider      string            `json:"provider"`
	UpstreamModel string            `json:"upstream_model"`
	BaseURL       string            `json:"base_url"`
	CredentialID  *int64            `json:"credential_id"`
	Headers       map[string]string `json:"headers"`
	Settings      map[string]any    `json:"settings"`
	InputPrice    int64             `json:"input_price"`
	OutputPrice   int64             `json:"output_price"`
	// Optional prices: null or absent charges cached and cache-write input
	// at input_price and reasoning at output_price.
	CachedInputPrice *int64 `json:"cached_input_price"`
	CacheWritePrice  *int64 `json:"cache_write_price"`
	ReasoningPrice   *int64 `json:"reasoning_price"`
	Weight           *int   `json:"weight"`
	Enabled          *bool  `json:"enabled"`
}

func (s *Server) applyDeployment(in *deploymentInput, d *chorus.Deployment) error {
	if in.UpstreamModel == "" && in.Provider == chorus.ProviderSimulator {
		in.UpstreamModel = in.Name
	}
	weight := 1
	if in.Weight != nil {
		weight = *in.Weight
	}
	d.ModelID, d.Name, d.Provider, d.UpstreamModel, d.BaseURL = in.ModelID, in.Name, in.Provider, in.UpstreamModel, in.BaseURL
	d.CredentialID, d.Headers, d.Settings = in.CredentialID, in.Headers, in.Settings
	d.InputPrice, d.OutputPrice, d.Weight = in.InputPrice, in.OutputPrice, weight
	d.CachedInputPrice, d.CacheWritePrice, d.ReasoningPrice = in.CachedInputPrice, in.CacheWritePrice, in.ReasoningPrice
	d.Enabled = in.Enabled == nil || *in.Enabled
	if err := d.Validate(); err != nil {
		return err
	}
	if err := d.CheckNetwork(s.AllowPrivateNetworks); err != nil {
		return err
	}
	// Build the provider now so bad settings fail here, not at request time.
	if s.Factory != nil {
		if _, err := s.Factory(provider.Config{Kind: in.Provider, BaseURL: in.BaseURL, Headers: in.Headers, Settings: in.Settings}); err != nil {
			return chorus.Invalid("settings", "%s", err.Error())
		}
	}
	return nil
}

func (s *Server) adminListDeployments(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	var modelID *int64
	if v := q.Get("model_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return chorus.Invalid("model_id", "model_id must be a positive integer, got %q", v)
		}
		modelID = &n
	}
	ds, err := s.Store.ListDeployments(r.Context(), modelID, p)
	if err != nil {
		return err
	}
	api.WriteList(w, ds, p, func(d *chorus.Deployment) int64 { return d.ID })
	return nil
}

// adminCreateDeployment creates a deployment. One that holds a credential
// needs a recent step-up: it decides where the provider's key is sent, as
// creating the credential did.
func (s *Server) adminCreateDeployment(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	var in deploymentInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.CredentialID != nil {
		if err := s.requireStepUp(r, p); err != nil {
			return err
		}
	}
	d := &chorus.Deployment{}
	if err := s.applyDeployment(&in, d); err != nil {
		return err
	}
	if err := s.Store.CreateDeployment(r.Context(), d); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) adminGetDeployment(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	d, err := s.Store.DeploymentByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, d)
	return nil
}

// adminUpdateDeployment replaces a deployment. A change to where its
// requests go (upstreamChanged) needs a recent step-up: otherwise a session
// past its step-up window could re-point a credential at any server and
// have the provider's key sent there.
func (s *Server) adminUpdateDeployment(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in deploymentInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	d, err := s.Store.DeploymentByID(r.Context(), id)
	if err != nil {
		return err
	}
	if upstreamChanged(d, &in) {
		if err := s.requireStepUp(r, p); err != nil {
			return err
		}
	}
	if err := s.applyDeployment(&in, d); err != nil {
		return err
	}
	if err := s.Store.UpdateDeployment(r.Context(), d); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusOK, d)
	return nil
}

// upstreamChanged reports whether in sends the deployment's requests, and
// so its credential, somewhere else than d does: another provider kind
// (another default host and key header), base URL, credential, headers, or
// private-network opt-in.
func upstreamChanged(d *chorus.Deployment, in *deploymentInput) bool {
	next := chorus.Deployment{Settings: in.Settings}
	return d.Provider != in.Provider || d.BaseURL != in.BaseURL ||
		!sameID(d.CredentialID, in.CredentialID) || !maps.Equal(d.Headers, in.Headers) ||
		d.AllowsPrivateNetwork() != next.AllowsPrivateNetwork()
}

// sameID reports whether two optional IDs are equal.
func sameID(a, b *int64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func (s *Server) adminDeleteDeployment(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteDeployment(r.Context(), id); err != nil {
		return err
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- credentials

type credentialInput struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	Secret   string `json:"secret"`
}

func (in *credentialInput) apply(c *chorus.Credential, create bool) error {
	c.Name, c.Provider = in.Name, in.Provider
	if err := c.Validate(); err != nil {
		return err
	}
	if create && in.Secret == "" {
		return chorus.Invalid("secret", "secret is required")
	}
	if len(in.Secret) > 16<<10 {
		return chorus.Invalid("secret", "secret must be at most 16 KiB")
	}
	c.Secret = in.Secret
	return nil
}

func (s *Server) adminListCredentials(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	p, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	cs, err := s.Store.ListCredentials(r.Context(), p)
	if err != nil {
		return err
	}
	api.WriteList(w, cs, p, func(c *chorus.Credential) int64 { return c.ID })
	return nil
}

func (s *Server) adminCreateCredential(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in credentialInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	c := &chorus.Credential{}
	if err := in.apply(c, true); err != nil {
		return err
	}
	if err := s.Store.CreateCredential(r.Context(), c); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) adminGetCredential(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	c, err := s.Store.CredentialByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) adminUpdateCredential(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in credentialInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	c, err := s.Store.CredentialByID(r.Context(), id)
	if err != nil {
		return err
	}
	if err := in.apply(c, false); err != nil {
		return err
	}
	if err := s.Store.UpdateCredential(r.Context(), c); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) adminDeleteCredential(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteCredential(r.Context(), id); err != nil {
		return err
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- keys

type keyInput struct {
	Name          string     `json:"name"`
	UserID        int64      `json:"user_id"` // admin only; defaults to the caller's user
	AllowedModels []string   `json:"allowed_models"`
	ExpiresAt     *time.Time `json:"expires_at"`
	CacheTTL      int        `json:"cache_ttl_s"` // response cache opt-in: seconds, 0 default, -1 never
}

// createdKey is the one response that carries a key's secret.
type createdKey struct {
	*chorus.APIKey
	Key string `json:"key"`
}

// createKey serves POST /api/keys and POST /api/admin/keys. The secret is in
// this response only.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	var in keyInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Name == "" || len(in.Name) > 128 {
		return chorus.Invalid("name", "name is required and must be at most 128 characters")
	}
	userID := p.User.ID
	if in.UserID != 0 && in.UserID != p.User.ID {
		if !p.IsAdmin() {
			return &chorus.Error{Code: chorus.EFORBIDDEN, Param: "user_id", Message: "Only admins may create keys for another user."}
		}
		userID = in.UserID
	}
	if userID == 0 {
		return chorus.Invalid("user_id", "user_id is required when creating a key with the master key")
	}
	if len(in.AllowedModels) > 1000 {
		return chorus.Invalid("allowed_models", "allowed_models may list at most 1000 models")
	}
	for _, m := range in.AllowedModels {
		if err := chorus.ValidName("allowed_models", m); err != nil {
			return err
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.Now()) {
		return chorus.Invalid("expires_at", "expires_at must be in the future")
	}
	if in.CacheTTL < -1 || in.CacheTTL > 30*24*3600 {
		return chorus.Invalid("cache_ttl_s", "cache_ttl_s must be -1 (never cache), 0 (the default) or up to 2592000 seconds, got %d", in.CacheTTL)
	}
	secret, prefix, hash := auth.NewAPIKey()
	k := &chorus.APIKey{Name: in.Name, Prefix: prefix, Hash: hash, UserID: userID, AllowedModels: in.AllowedModels, ExpiresAt: in.ExpiresAt,
		CacheTTLSeconds: in.CacheTTL}
	if err := s.Store.CreateKey(r.Context(), k); err != nil {
		return err
	}
	s.changed(r.Context())
	api.WriteJSON(w, http.StatusCreated, createdKey{APIKey: k, Key: secret})
	return nil
}

// revokeOwnKey serves DELETE /api/keys/{id}: a key of the caller's team
// (an admin too sees only their own team's keys here). An owner may
// revoke any key of the team; a member only their own: a member who could
// revoke the owner's keys could stop the team's production traffic, which
// is the owner's call (docs/accounts.md). Another member's key answers 403,
// not 404: every member lists the team's keys, so it is no secret.
func (s *Server) revokeOwnKey(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	if p.User.TeamRole == chorus.TeamOwner {
		return s.revokeKey(w, r, &team)
	}
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	k, err := s.Store.KeyByID(r.Context(), id)
	if err != nil {
		return err
	}
	if k.TeamID == team && k.UserID != p.User.ID {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Message: "Only an owner of the team can revoke another member's key."}
	}
	return s.revokeKey(w, r, &team)
}

// adminRevokeKey serves DELETE /api/admin/keys/{id}: any key.
func (s *Server) adminRevokeKey(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return s.revokeKey(w, r, nil)
}

// revokeKey revokes the {id} key — of that team only, when team is not
// nil — before the response is sent.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, team *int64) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	k, err := s.Store.KeyByID(r.Context(), id)
	if err != nil {
		return err
	}
	if team != nil && k.TeamID != *team {
		return &chorus.Error{Code: chorus.ENOTFOUND, Message: "No such key."}
	}
	if err := s.Store.RevokeKey(r.Context(), id, s.Now()); err != nil {
		return err
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listOwnKeys(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	team := p.TeamID()
	ks, err := s.Store.ListKeys(r.Context(), chorus.KeyFilter{TeamID: &team}, page)
	if err != nil {
		return err
	}
	api.WriteList(w, ks, page, func(k *chorus.APIKey) int64 { return k.ID })
	return nil
}

func (s *Server) adminListKeys(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	var f chorus.KeyFilter
	if v := q.Get("user_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return chorus.Invalid("user_id", "user_id must be a positive integer, got %q", v)
		}
		f.UserID = &n
	}
	ks, err := s.Store.ListKeys(r.Context(), f, p)
	if err != nil {
		return err
	}
	api.WriteList(w, ks, p, func(k *chorus.APIKey) int64 { return k.ID })
	return nil
}

// ---- usage and registry

func (s *Server) adminListUsage(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return s.listUsage(w, r, nil)
}

// listOwnUsage serves GET /api/usage: the caller's team's usage records.
func (s *Server) listOwnUsage(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	return s.listUsage(w, r, &team)
}

// listUsage lists usage records filtered by the query (key_id, user_id,
// since, until) and, when team is not nil, by team.
func (s *Server) listUsage(w http.ResponseWriter, r *http.Request, team *int64) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	f := chorus.UsageFilter{TeamID: team}
	for name, dst := range map[string]**int64{"key_id": &f.KeyID, "user_id": &f.UserID} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return chorus.Invalid(name, "%s must be a non-negative integer, got %q", name, v)
			}
			*dst = &n
		}
	}
	if team == nil {
		if v := q.Get("team_id"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return chorus.Invalid("team_id", "team_id must be a non-negative integer, got %q", v)
			}
			f.TeamID = &n
		}
	}
	if f.Since, err = api.TimeParam(q, "since"); err != nil {
		return err
	}
	if f.Until, err = api.TimeParam(q, "until"); err != nil {
		return err
	}
	us, err := s.Store.ListUsage(r.Context(), f, p)
	if err != nil {
		return err
	}
	api.WriteList(w, us, p, func(u *chorus.Usage) int64 { return u.ID })
	return nil
}

// adminRegistry shows the snapshot the request path is serving from.
func (s *Server) adminRegistry(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	snap := s.Registry.Snapshot()
	type dep struct {
		Name     string `json:"name"`
		Provider string `json:"provider"`
		Upstream string `json:"upstream_model"`
	}
	type model struct {
		Name        string `json:"name"`
		Kind        string `json:"kind"`
		Deployments []dep  `json:"deployments"`
	}
	out := struct {
		Version          int64             `json:"version"`
		BuiltAt          time.Time         `json:"built_at"`
		Models           []model           `json:"models"`
		DeploymentErrors map[string]string `json:"deployment_errors"`
	}{Version: snap.Version, BuiltAt: snap.BuiltAt, Models: []model{}, DeploymentErrors: snap.DeploymentErrors()}
	for _, rt := range snap.Models() {
		m := model{Name: rt.Model.Name, Kind: rt.Model.Kind, Deployments: []dep{}}
		for _, t := range rt.Targets {
			m.Deployments = append(m.Deployments, dep{t.Deployment.Name, t.Deployment.Provider, t.Deployment.UpstreamModel})
		}
		out.Models = append(out.Models, m)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// adminHealth shows every deployment's circuit breaker, calls in flight and
// observed latency.
func (s *Server) adminHealth(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	out := struct {
		Object string               `json:"object"`
		Data   []orchestrate.Status `json:"data"`
	}{Object: "list", Data: s.Health.Snapshot()}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
