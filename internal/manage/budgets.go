package manage

// Budgets and the events they raise. Amounts are integer micro-credits;
// every amount comes with a decimal "credits" string for display. A
// budget's webhook secret is in the answer that issued it only (creation,
// a new URL, or rotate_secret).
//
//	GET    /api/budgets             user         the caller's team's budgets (limit, after)
//	POST   /api/budgets             team owner   create {scope, scope_id, period, amount, hard, webhook_url}
//	GET    /api/budgets/{id}        user         one of the team's budgets, with this period's spend
//	PUT    /api/budgets/{id}        team owner   change {amount, hard, webhook_url, rotate_secret}
//	DELETE /api/budgets/{id}        team owner   delete
//	GET    /api/events              user         the team's events, such as budget alerts (type, limit, after)
//	GET    /api/admin/budgets       admin        every budget (team_id, limit, after)
//	POST   /api/admin/budgets       admin        create for any team, user or key
//	GET    /api/admin/budgets/{id}  admin
//	PUT    /api/admin/budgets/{id}  admin
//	DELETE /api/admin/budgets/{id}  admin
//	GET    /api/admin/events        admin        every team's events (team_id, type, limit, after)

import (
	"context"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// BudgetStore is what the budgets API needs from the database.
type BudgetStore interface {
	CreateBudget(ctx context.Context, b *chorus.Budget) (secret string, err error)
	UpdateBudget(ctx context.Context, id, teamID int64, c chorus.BudgetChange) (*chorus.Budget, string, error)
	DeleteBudget(ctx context.Context, id, teamID int64) error
	BudgetByID(ctx context.Context, id, teamID int64) (*chorus.Budget, error)
	ListBudgets(ctx context.Context, f chorus.BudgetFilter, page chorus.Page) ([]*chorus.Budget, error)
	ListEvents(ctx context.Context, f chorus.EventFilter, page chorus.Page) ([]*chorus.Event, error)
}

// budgetRoutes registers the budgets and events API.
func (s *Server) budgetRoutes(mux *api.Mux) {
	s.handle(mux, "GET /api/budgets", accessUser, s.listOwnBudgets)
	s.handle(mux, "POST /api/budgets", accessUser, s.createOwnBudget)
	s.handle(mux, "GET /api/budgets/{id}", accessUser, s.getOwnBudget)
	s.handle(mux, "PUT /api/budgets/{id}", accessUser, s.updateOwnBudget)
	s.handle(mux, "DELETE /api/budgets/{id}", accessUser, s.deleteOwnBudget)
	s.handle(mux, "GET /api/events", accessUser, s.listOwnEvents)

	s.handle(mux, "GET /api/admin/budgets", accessAdmin, s.adminListBudgets)
	s.handle(mux, "POST /api/admin/budgets", accessAdmin, s.adminCreateBudget)
	s.handle(mux, "GET /api/admin/budgets/{id}", accessAdmin, s.adminGetBudget)
	s.handle(mux, "PUT /api/admin/budgets/{id}", accessAdmin, s.adminUpdateBudget)
	s.handle(mux, "DELETE /api/admin/budgets/{id}", accessAdmin, s.adminDeleteBudget)
	s.handle(mux, "GET /api/admin/events", accessAdmin, s.adminListEvents)
}

// budgetView is a budget as the API shows it.
type budgetView struct {
	Object string `json:"object"` // "budget"
	*chorus.Budget
	Credits      string `json:"credits"`       // Amount in credits
	SpentCredits string `json:"spent_credits"` // Spent in credits
	// WebhookSecret signs the budget's webhooks; only in the answer that
	// issued it.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func viewBudget(b *chorus.Budget, secret string) budgetView {
	return budgetView{Object: "budget", Budget: b, Credits: chorus.FormatCredits(b.Amount),
		SpentCredits: chorus.FormatCredits(b.Spent), WebhookSecret: secret}
}

type eventView struct {
	Object string `json:"object"` // "event"
	*chorus.Event
}

// budgetInput is the body of a budget creation or change. Creation needs
// scope, period and amount; a change takes amount, hard, webhook_url and
// rotate_secret.
type budgetInput struct {
	Scope        string  `json:"scope"`    // team, user, key
	ScopeID      int64   `json:"scope_id"` // the team's, user's or key's ID (a team budget: the caller's team by default)
	Period       string  `json:"period"`   // day, month (UTC)
	Amount       *int64  `json:"amount"`   // micro-credits per period
	Hard         *bool   `json:"hard"`     // true: refuse requests past it; false (default): alert
	WebhookURL   *string `json:"webhook_url"`
	RotateSecret bool    `json:"rotate_secret"`
}

func (in *budgetInput) create(team int64) (*chorus.Budget, error) {
	if in.Scope == "" {
		return nil, chorus.Invalid("scope", "scope is required: team, user or key")
	}
	if in.Period == "" {
		return nil, chorus.Invalid("period", "period is required: day or month")
	}
	if in.Amount == nil {
		return nil, chorus.Invalid("amount", "amount is required (micro-credits per period)")
	}
	if in.RotateSecret {
		return nil, chorus.Invalid("rotate_secret", "rotate_secret applies to an existing budget")
	}
	if in.ScopeID < 0 {
		return nil, chorus.Invalid("scope_id", "scope_id must be a positive integer")
	}
	b := &chorus.Budget{TeamID: team, Scope: in.Scope, ScopeID: in.ScopeID, Period: in.Period, Amount: *in.Amount}
	if in.Hard != nil {
		b.Hard = *in.Hard
	}
	if in.WebhookURL != nil {
		b.WebhookURL = strings.TrimSpace(*in.WebhookURL)
	}
	return b, nil
}

func (in *budgetInput) change() (chorus.BudgetChange, error) {
	if in.Scope != "" || in.ScopeID != 0 || in.Period != "" {
		return chorus.BudgetChange{}, chorus.Invalid("scope", "a budget's scope and period cannot change: create another budget")
	}
	c := chorus.BudgetChange{Amount: in.Amount, Hard: in.Hard, RotateSecret: in.RotateSecret}
	if in.WebhookURL != nil {
		u := strings.TrimSpace(*in.WebhookURL)
		c.WebhookURL = &u
	}
	return c, nil
}

// budgetsChanged makes a budget change apply to this instance's next
// request (others reload within billing.budget_refresh).
func (s *Server) budgetsChanged(ctx context.Context) {
	if err := s.Meter.RefreshBudgets(ctx); err != nil {
		s.Logger.ErrorContext(ctx, "budget refresh after a change failed", "err", err)
	}
}

// ---- customer

func (s *Server) listOwnBudgets(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	return s.listBudgets(w, r, &team)
}

func (s *Server) createOwnBudget(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	team := p.TeamID()
	var in budgetInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	b, err := in.create(team)
	if err != nil {
		return err
	}
	return s.createBudget(w, r, b)
}

func (s *Server) getOwnBudget(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	return s.getBudget(w, r, team)
}

func (s *Server) updateOwnBudget(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	team := p.TeamID()
	return s.updateBudget(w, r, team)
}

func (s *Server) deleteOwnBudget(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	team := p.TeamID()
	return s.deleteBudget(w, r, team)
}

func (s *Server) listOwnEvents(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	return s.listEvents(w, r, &team)
}

// ---- admin

func (s *Server) adminListBudgets(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	team, err := api.IDParam(r.URL.Query(), "team_id")
	if err != nil {
		return err
	}
	return s.listBudgets(w, r, team)
}

func (s *Server) adminCreateBudget(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in budgetInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.ScopeID == 0 {
		return chorus.Invalid("scope_id", "scope_id is required: the team's, user's or key's ID")
	}
	b, err := in.create(0) // the team is the scope's
	if err != nil {
		return err
	}
	return s.createBudget(w, r, b)
}

func (s *Server) adminGetBudget(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return s.getBudget(w, r, 0)
}

func (s *Server) adminUpdateBudget(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return s.updateBudget(w, r, 0)
}

func (s *Server) adminDeleteBudget(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return s.deleteBudget(w, r, 0)
}

func (s *Server) adminListEvents(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	team, err := api.IDParam(r.URL.Query(), "team_id")
	if err != nil {
		return err
	}
	return s.listEvents(w, r, team)
}

// ---- shared; team 0 is an admin's unscoped view

func (s *Server) listBudgets(w http.ResponseWriter, r *http.Request, team *int64) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	bs, err := s.Store.ListBudgets(r.Context(), chorus.BudgetFilter{TeamID: team}, page)
	if err != nil {
		return err
	}
	out := make([]budgetView, len(bs))
	for i, b := range bs {
		out[i] = viewBudget(b, "")
	}
	api.WriteList(w, out, page, func(v budgetView) int64 { return v.ID })
	return nil
}

func (s *Server) createBudget(w http.ResponseWriter, r *http.Request, b *chorus.Budget) error {
	secret, err := s.Store.CreateBudget(r.Context(), b)
	if err != nil {
		return err
	}
	s.budgetsChanged(r.Context())
	api.WriteJSON(w, http.StatusCreated, viewBudget(b, secret))
	return nil
}

func (s *Server) getBudget(w http.ResponseWriter, r *http.Request, team int64) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	b, err := s.Store.BudgetByID(r.Context(), id, team)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewBudget(b, ""))
	return nil
}

func (s *Server) updateBudget(w http.ResponseWriter, r *http.Request, team int64) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in budgetInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	c, err := in.change()
	if err != nil {
		return err
	}
	b, secret, err := s.Store.UpdateBudget(r.Context(), id, team, c)
	if err != nil {
		return err
	}
	s.budgetsChanged(r.Context())
	api.WriteJSON(w, http.StatusOK, viewBudget(b, secret))
	return nil
}

func (s *Server) deleteBudget(w http.ResponseWriter, r *http.Request, team int64) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteBudget(r.Context(), id, team); err != nil {
		return err
	}
	s.budgetsChanged(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, team *int64) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	f := chorus.EventFilter{TeamID: team, Type: r.URL.Query().Get("type")}
	if len(f.Type) > 64 {
		return chorus.Invalid("type", "type is at most 64 characters")
	}
	es, err := s.Store.ListEvents(r.Context(), f, page)
	if err != nil {
		return err
	}
	out := make([]eventView, len(es))
	for i, e := range es {
		out[i] = eventView{Object: "event", Event: e}
	}
	api.WriteList(w, out, page, func(v eventView) int64 { return v.ID })
	return nil
}
