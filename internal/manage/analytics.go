package manage

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// Usage analytics and cost monitoring (docs/usage-analytics.md,
// docs/cost-monitoring.md). Every report reads the rollups, never the raw
// usage records; the exports stream the raw records.
//
//	GET /api/admin/usage/summary     admin   usage report: ?interval=hour|day &group_by=team,key,user,model,deployment,provider,status
//	                                         &since &until (whole hours; whole days for interval=day) &team_id &key_id &user_id
//	                                         &model &provider &percentiles=true &limit &after
//	GET /api/usage/summary           user    the same, of the caller's team
//	GET /api/admin/costs             admin   provider cost, revenue, margin and savings (group_by defaults to model, interval to day)
//	GET /api/admin/energy            admin   energy, CO2e and Wh per 1,000 tokens (group_by defaults to model, interval to day)
//	GET /api/admin/usage/export      admin   the raw records, streamed: ?format=csv|jsonl &team_id &key_id &user_id &model &status &since &until
//	GET /api/usage/export            user    the same, of the caller's team
//	GET/POST /api/admin/cost-alerts, GET/PUT/DELETE /api/admin/cost-alerts/{id}, GET /api/admin/cost-alert-firings?alert_id=

// AnalyticsStore is what the analytics API needs from the database.
type AnalyticsStore interface {
	UsageReport(ctx context.Context, q chorus.UsageQuery, page chorus.Page) ([]*chorus.UsageRow, error)
	ExportUsage(ctx context.Context, f chorus.UsageFilter, fn func(*chorus.Usage) error) error
	CreateCostAlert(ctx context.Context, a *chorus.CostAlert) (string, error)
	CostAlertByID(ctx context.Context, id int64) (*chorus.CostAlert, error)
	UpdateCostAlert(ctx context.Context, a *chorus.CostAlert, rotate bool) (string, error)
	DeleteCostAlert(ctx context.Context, id int64) error
	ListCostAlerts(ctx context.Context, p chorus.Page) ([]*chorus.CostAlert, error)
	ListCostAlertFirings(ctx context.Context, alertID *int64, p chorus.Page) ([]*chorus.CostAlertFiring, error)
}

// analyticsRoutes registers the analytics API when Analytics is set.
func (s *Server) analyticsRoutes(mux *api.Mux) {
	if s.Analytics == nil {
		return
	}
	admin := func(pattern string, h handlerFunc) { s.handle(mux, pattern, accessAdmin, h) }
	admin("GET /api/admin/usage/summary", s.adminUsageSummary)
	admin("GET /api/admin/costs", s.adminCosts)
	admin("GET /api/admin/energy", s.adminEnergy)
	admin("GET /api/admin/usage/export", s.adminExportUsage)
	s.handle(mux, "GET /api/usage/summary", accessUser, s.ownUsageSummary)
	s.handle(mux, "GET /api/usage/export", accessUser, s.ownExportUsage)

	admin("GET /api/admin/cost-alerts", s.listCostAlerts)
	admin("POST /api/admin/cost-alerts", s.createCostAlert)
	admin("GET /api/admin/cost-alerts/{id}", s.getCostAlert)
	admin("PUT /api/admin/cost-alerts/{id}", s.updateCostAlert)
	admin("DELETE /api/admin/cost-alerts/{id}", s.deleteCostAlert)
	admin("GET /api/admin/cost-alert-firings", s.listCostAlertFirings)
}

// usageQuery parses a report's query parameters; team, when not nil, is
// the only team it may read. defGroup and defInterval apply when the
// query names none.
func usageQuery(q url.Values, team *int64, defGroup []string, defInterval string) (chorus.UsageQuery, chorus.Page, error) {
	uq := chorus.UsageQuery{Interval: defInterval, GroupBy: defGroup, TeamID: team}
	p, err := api.PageOf(q)
	if err != nil {
		return uq, p, err
	}
	if q.Has("interval") {
		uq.Interval = q.Get("interval")
		if uq.Interval == "none" {
			uq.Interval = ""
		}
	}
	if q.Has("group_by") {
		uq.GroupBy = nil
		for _, g := range strings.Split(q.Get("group_by"), ",") {
			if g = strings.TrimSpace(g); g != "" {
				uq.GroupBy = append(uq.GroupBy, g)
			}
		}
	}
	if uq.Since, uq.Until, err = api.TimeRange(q); err != nil {
		return uq, p, err
	}
	ids := map[string]**int64{"key_id": &uq.KeyID, "user_id": &uq.UserID}
	if team == nil {
		ids["team_id"] = &uq.TeamID
	}
	for name, dst := range ids {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return uq, p, chorus.Invalid(name, "%s must be a non-negative integer, got %q", name, v)
			}
			*dst = &n
		}
	}
	if q.Has("model") {
		m := q.Get("model")
		uq.Model = &m
	}
	if q.Has("provider") {
		v := q.Get("provider")
		uq.Provider = &v
	}
	if v := q.Get("percentiles"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return uq, p, chorus.Invalid("percentiles", "percentiles must be true or false, got %q", v)
		}
		uq.Percentiles = b
	}
	return uq, p, nil
}

// report answers one report, each row through project.
func report[T any](s *Server, w http.ResponseWriter, r *http.Request, team *int64, defGroup []string, defInterval string,
	project func(*chorus.UsageRow) T, id func(T) int64) error {
	q, p, err := usageQuery(r.URL.Query(), team, defGroup, defInterval)
	if err != nil {
		return err
	}
	rows, err := s.Analytics.UsageReport(r.Context(), q, p)
	if err != nil {
		return err
	}
	out := make([]T, len(rows))
	for i, row := range rows {
		out[i] = project(row)
	}
	api.WriteList(w, out, p, id)
	return nil
}

func rowID(r *chorus.UsageRow) int64 { return r.ID }
func sameRow(r *chorus.UsageRow) *chorus.UsageRow {
	return r
}

func (s *Server) adminUsageSummary(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return report(s, w, r, nil, nil, "", sameRow, rowID)
}

// ownUsageSummary serves GET /api/usage/summary: the caller's team only.
func (s *Server) ownUsageSummary(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	return report(s, w, r, &team, nil, "", sameRow, rowID)
}

// costRow is a cost report's row: what the providers cost, what the teams
// paid, the margin, and what the cache and cascades saved.
type costRow struct {
	ID           int64      `json:"id"`
	Bucket       *time.Time `json:"bucket,omitempty"`
	TeamID       *int64     `json:"team_id,omitempty"`
	KeyID        *int64     `json:"key_id,omitempty"`
	UserID       *int64     `json:"user_id,omitempty"`
	Model        *string    `json:"model,omitempty"`
	Deployment   *string    `json:"deployment,omitempty"`
	Provider     *string    `json:"provider,omitempty"`
	Status       *int       `json:"status,omitempty"`
	Requests     int64      `json:"requests"`
	CacheHits    int64      `json:"cache_hits"`
	ProviderCost int64      `json:"provider_cost"`
	Revenue      int64      `json:"revenue"`
	Margin       int64      `json:"margin"`
	Saved        int64      `json:"saved"`
	// The same in credits, formatted (chorus.FormatCredits).
	ProviderCostCredits string `json:"provider_cost_credits"`
	RevenueCredits      string `json:"revenue_credits"`
	MarginCredits       string `json:"margin_credits"`
	SavedCredits        string `json:"saved_credits"`
}

func (s *Server) adminCosts(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return report(s, w, r, nil, []string{chorus.DimModel}, chorus.IntervalDay, func(u *chorus.UsageRow) costRow {
		return costRow{ID: u.ID, Bucket: u.Bucket, TeamID: u.TeamID, KeyID: u.KeyID, UserID: u.UserID, Model: u.Model,
			Deployment: u.Deployment, Provider: u.Provider, Status: u.Status, Requests: u.Requests, CacheHits: u.CacheHits,
			ProviderCost: u.ProviderCost, Revenue: u.Revenue, Margin: u.Margin, Saved: u.Saved,
			ProviderCostCredits: chorus.FormatCredits(u.ProviderCost), RevenueCredits: chorus.FormatCredits(u.Revenue),
			MarginCredits: chorus.FormatCredits(u.Margin), SavedCredits: chorus.FormatCredits(u.Saved)}
	}, func(c costRow) int64 { return c.ID })
}

// energyRow is an energy report's row.
type energyRow struct {
	ID            int64      `json:"id"`
	Bucket        *time.Time `json:"bucket,omitempty"`
	TeamID        *int64     `json:"team_id,omitempty"`
	KeyID         *int64     `json:"key_id,omitempty"`
	UserID        *int64     `json:"user_id,omitempty"`
	Model         *string    `json:"model,omitempty"`
	Deployment    *string    `json:"deployment,omitempty"`
	Provider      *string    `json:"provider,omitempty"`
	Status        *int       `json:"status,omitempty"`
	Requests      int64      `json:"requests"`
	Tokens        int64      `json:"tokens"` // input and output
	EnergyWh      float64    `json:"energy_wh"`
	CO2eGrams     float64    `json:"co2e_g"`
	WhPer1kTokens float64    `json:"wh_per_1k_tokens"`
}

func (s *Server) adminEnergy(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return report(s, w, r, nil, []string{chorus.DimModel}, chorus.IntervalDay, func(u *chorus.UsageRow) energyRow {
		return energyRow{ID: u.ID, Bucket: u.Bucket, TeamID: u.TeamID, KeyID: u.KeyID, UserID: u.UserID, Model: u.Model,
			Deployment: u.Deployment, Provider: u.Provider, Status: u.Status, Requests: u.Requests,
			Tokens: u.InputTokens + u.OutputTokens, EnergyWh: u.EnergyWh, CO2eGrams: u.CO2eGrams, WhPer1kTokens: u.WhPer1kTokens}
	}, func(e energyRow) int64 { return e.ID })
}

// ---- export

func (s *Server) adminExportUsage(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	return s.exportUsage(w, r, nil)
}

// ownExportUsage serves GET /api/usage/export: the caller's team only.
func (s *Server) ownExportUsage(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	return s.exportUsage(w, r, &team)
}

// exportColumns are the CSV export's columns, in order.
var exportColumns = []string{"id", "created_at", "request_id", "response_id", "team_id", "key_id", "user_id", "model", "route",
	"deployment", "provider", "endpoint", "stream", "status", "error_code", "input_tokens", "output_tokens", "cached_input_tokens",
	"cache_write_tokens", "reasoning_tokens", "latency_ms", "ttft_ms", "cost", "revenue", "provider_cost", "saved", "cache_hit",
	"energy_wh", "co2e_g"}

// exportFlush is how many records are written between flushes.
const exportFlush = 1000

// exportUsage streams the records the query selects as CSV or JSON Lines:
// the store reads them in pages and each is written as it comes, so the
// memory an export takes does not grow with its size. An error after the
// first byte cannot change the status: it is logged and the body cut
// short (a client sees a truncated file, not a complete one).
func (s *Server) exportUsage(w http.ResponseWriter, r *http.Request, team *int64) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "jsonl" {
		return chorus.Invalid("format", "format must be csv or jsonl, got %q", format)
	}
	f := chorus.UsageFilter{TeamID: team}
	ids := map[string]**int64{"key_id": &f.KeyID, "user_id": &f.UserID}
	if team == nil {
		ids["team_id"] = &f.TeamID
	}
	for name, dst := range ids {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return chorus.Invalid(name, "%s must be a non-negative integer, got %q", name, v)
			}
			*dst = &n
		}
	}
	if q.Has("model") {
		m := q.Get("model")
		f.Model = &m
	}
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return chorus.Invalid("status", "status must be an HTTP status from 100 to 599, got %q", v)
		}
		f.Status = &n
	}
	var err error
	if f.Since, f.Until, err = api.TimeRange(q); err != nil {
		return err
	}
	name := "usage-" + s.Now().UTC().Format("20060102T150405Z") + "." + format
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // an export of millions of records outlasts any write timeout
	out := &sentWriter{w: w}
	var write func(*chorus.Usage) error
	var flush func() error
	if format == "csv" {
		cw := csv.NewWriter(out)
		if err := cw.Write(exportColumns); err != nil {
			return nil
		}
		row := make([]string, len(exportColumns))
		write = func(u *chorus.Usage) error { return cw.Write(csvRow(row, u)) }
		flush = func() error { cw.Flush(); return cw.Error() }
	} else {
		enc := json.NewEncoder(out)
		write = func(u *chorus.Usage) error { return enc.Encode(u) }
		flush = func() error { return nil }
	}
	n := 0
	err = s.Analytics.ExportUsage(r.Context(), f, func(u *chorus.Usage) error {
		if err := write(u); err != nil {
			return err
		}
		if n++; n%exportFlush == 0 {
			if err := flush(); err != nil {
				return err
			}
			_ = rc.Flush()
		}
		return nil
	})
	if err != nil && !out.sent {
		// Nothing sent yet: an error answer instead.
		w.Header().Del("Content-Disposition")
		return err
	}
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil {
		s.Logger.ErrorContext(r.Context(), "usage export cut short", "records", n, "err", err)
		panic(http.ErrAbortHandler) // the client must not take a truncated export for a whole one
	}
	return nil
}

// sentWriter tells whether anything was written to w.
type sentWriter struct {
	w    io.Writer
	sent bool
}

func (s *sentWriter) Write(p []byte) (int, error) {
	s.sent = s.sent || len(p) > 0
	return s.w.Write(p)
}

// csvRow fills row with u's fields in exportColumns' order.
func csvRow(row []string, u *chorus.Usage) []string {
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	copy(row, []string{i64(u.ID), u.CreatedAt.UTC().Format(time.RFC3339Nano), u.RequestID, u.ResponseID, i64(u.TeamID), i64(u.KeyID),
		i64(u.UserID), u.Model, u.Route, u.Deployment, u.Provider, u.Endpoint, strconv.FormatBool(u.Stream), strconv.Itoa(u.Status),
		u.ErrorCode, i64(u.InputTokens), i64(u.OutputTokens), i64(u.CachedInputTokens), i64(u.CacheWriteTokens), i64(u.ReasoningTokens),
		f64(u.LatencyMS), f64(u.TTFTMS), i64(u.Cost), i64(u.Revenue), i64(u.ProviderCost), i64(u.Saved), strconv.FormatBool(u.CacheHit),
		f64(u.EnergyWh), f64(u.CO2eGrams)})
	return row
}

// ---- cost alerts

// costAlertInput is a cost alert as created or replaced.
type costAlertInput struct {
	Name       string  `json:"name"`
	Scope      string  `json:"scope"`
	TeamID     int64   `json:"team_id"`
	Model      string  `json:"model"`
	Metric     string  `json:"metric"`
	Period     string  `json:"period"`
	Threshold  float64 `json:"threshold"`
	WebhookURL string  `json:"webhook_url"`
	Enabled    *bool   `json:"enabled"` // default true
	// RotateSecret (PUT) issues a new webhook secret.
	RotateSecret bool `json:"rotate_secret"`
}

func (in *costAlertInput) alert() *chorus.CostAlert {
	return &chorus.CostAlert{Name: in.Name, Scope: in.Scope, TeamID: in.TeamID, Model: in.Model, Metric: in.Metric, Period: in.Period,
		Threshold: in.Threshold, WebhookURL: strings.TrimSpace(in.WebhookURL), Enabled: in.Enabled == nil || *in.Enabled}
}

// costAlertOut is a cost alert as answered, with its webhook secret in the
// answer that issued it only.
type costAlertOut struct {
	*chorus.CostAlert
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func (s *Server) listCostAlerts(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	p, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	as, err := s.Analytics.ListCostAlerts(r.Context(), p)
	if err != nil {
		return err
	}
	api.WriteList(w, as, p, func(a *chorus.CostAlert) int64 { return a.ID })
	return nil
}

func (s *Server) createCostAlert(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in costAlertInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	a := in.alert()
	secret, err := s.Analytics.CreateCostAlert(r.Context(), a)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, costAlertOut{a, secret})
	return nil
}

func (s *Server) getCostAlert(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	a, err := s.Analytics.CostAlertByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) updateCostAlert(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in costAlertInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	a := in.alert()
	a.ID = id
	secret, err := s.Analytics.UpdateCostAlert(r.Context(), a, in.RotateSecret)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, costAlertOut{a, secret})
	return nil
}

func (s *Server) deleteCostAlert(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Analytics.DeleteCostAlert(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listCostAlertFirings(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	alert, err := api.IDParam(q, "alert_id")
	if err != nil {
		return err
	}
	fs, err := s.Analytics.ListCostAlertFirings(r.Context(), alert, p)
	if err != nil {
		return err
	}
	api.WriteList(w, fs, p, func(f *chorus.CostAlertFiring) int64 { return f.ID })
	return nil
}
