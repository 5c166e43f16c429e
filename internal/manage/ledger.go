package manage

// The credits API: a team's balance and history, redemption codes, and the
// admin's view of the ledger. Amounts are integer micro-credits; every
// amount comes with a "credits" decimal string for display.
//
//	GET  /api/credits/balance             user   the caller's team's balance
//	GET  /api/credits/ledger              user   the caller's team's postings (kind, since, until, limit, after)
//	POST /api/credits/redeem              user   redeem a code {code}
//	GET  /api/admin/teams/{id}/balance    admin  a team's balance
//	GET  /api/admin/ledger                admin  postings (team_id, kind, since, until, limit, after)
//	GET  /api/admin/ledger/check          admin  verify the ledger's invariants
//	POST /api/admin/credits/grant         admin, step-up  grant or adjust credits
//	POST /api/admin/codes                 admin, step-up  create a batch of codes (shown once)
//	GET  /api/admin/codes                 admin  list code batches
//	POST /api/admin/codes/{id}/disable    admin  disable a batch

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// LedgerStore is what the credits API needs from the database.
type LedgerStore interface {
	Post(ctx context.Context, p *chorus.Posting) (created bool, err error)
	Balance(ctx context.Context, teamID int64) (chorus.Balance, error)
	ListPostings(ctx context.Context, f chorus.PostingFilter, p chorus.Page) ([]*chorus.Posting, error)
	CheckLedger(ctx context.Context) (chorus.LedgerReport, error)

	CreateCodeBatch(ctx context.Context, b *chorus.CodeBatch) error
	ListCodeBatches(ctx context.Context, p chorus.Page) ([]*chorus.CodeBatch, error)
	DisableCodeBatch(ctx context.Context, id int64) error
	Redeem(ctx context.Context, teamID int64, code string) (*chorus.Posting, error)
}

// ledgerRoutes registers the credits API.
func (s *Server) ledgerRoutes(mux *api.Mux) {
	s.handle(mux, "GET /api/credits/balance", accessUser, s.ownBalance)
	s.handle(mux, "GET /api/credits/ledger", accessUser, s.ownLedger)
	s.handle(mux, "POST /api/credits/redeem", accessUser, s.redeemCode)

	s.handle(mux, "GET /api/admin/teams/{id}/balance", accessAdmin, s.adminTeamBalance)
	s.handle(mux, "GET /api/admin/ledger", accessAdmin, s.adminLedger)
	s.handle(mux, "GET /api/admin/ledger/check", accessAdmin, s.adminCheckLedger)
	s.handle(mux, "POST /api/admin/credits/grant", accessAdmin|stepUp, s.adminGrant)
	s.handle(mux, "POST /api/admin/codes", accessAdmin|stepUp, s.adminCreateCodes)
	s.handle(mux, "GET /api/admin/codes", accessAdmin, s.adminListCodes)
	s.handle(mux, "POST /api/admin/codes/{id}/disable", accessAdmin, s.adminDisableCodes)
}

// ---- views

type balanceView struct {
	Object string `json:"object"` // "balance"
	chorus.Balance
	Credits          string `json:"credits"`           // Balance in credits
	AvailableCredits string `json:"available_credits"` // Available in credits
}

func viewBalance(b chorus.Balance) balanceView {
	return balanceView{Object: "balance", Balance: b, Credits: chorus.FormatCredits(b.Balance),
		AvailableCredits: chorus.FormatCredits(b.Available)}
}

type entryView struct {
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
	Credits string `json:"credits"`
}

type postingView struct {
	ID             int64       `json:"id"`
	Object         string      `json:"object"`                    // "ledger.posting"
	IdempotencyKey string      `json:"idempotency_key,omitempty"` // admins only
	Kind           string      `json:"kind"`
	TeamID         int64       `json:"team_id,omitempty"`
	Memo           string      `json:"memo"`
	Ref            string      `json:"ref,omitempty"`
	Amount         int64       `json:"amount"`  // the change to the team's wallet
	Credits        string      `json:"credits"` // Amount in credits
	Entries        []entryView `json:"entries"`
	CreatedAt      time.Time   `json:"created_at"`
}

func viewPosting(p *chorus.Posting, admin bool) postingView {
	v := postingView{ID: p.ID, Object: "ledger.posting", Kind: p.Kind, TeamID: p.TeamID, Memo: p.Memo,
		Ref: p.Ref, Entries: make([]entryView, len(p.Entries)), CreatedAt: p.CreatedAt}
	if admin {
		v.IdempotencyKey = p.IdempotencyKey
	}
	wallet := chorus.WalletAccount(p.TeamID)
	for i, e := range p.Entries {
		v.Entries[i] = entryView{Account: e.Account, Amount: e.Amount, Credits: chorus.FormatCredits(e.Amount)}
		if p.TeamID != 0 && e.Account == wallet {
			v.Amount += e.Amount
		}
	}
	v.Credits = chorus.FormatCredits(v.Amount)
	return v
}

func viewPostings(ps []*chorus.Posting, admin bool) []postingView {
	out := make([]postingView, len(ps))
	for i, p := range ps {
		out[i] = viewPosting(p, admin)
	}
	return out
}

type codeBatchView struct {
	Object string `json:"object"` // "code_batch"
	*chorus.CodeBatch
	Credits string `json:"credits"` // Amount in credits
}

func viewCodeBatch(b *chorus.CodeBatch) codeBatchView {
	return codeBatchView{Object: "code_batch", CodeBatch: b, Credits: chorus.FormatCredits(b.Amount)}
}

// ---- customer

func (s *Server) ownBalance(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	b, err := s.Store.Balance(r.Context(), team)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewBalance(b))
	return nil
}

func (s *Server) ownLedger(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	f, err := postingFilter(q, false)
	if err != nil {
		return err
	}
	f.TeamID = &team
	ps, err := s.Store.ListPostings(r.Context(), f, page)
	if err != nil {
		return err
	}
	api.WriteList(w, viewPostings(ps, false), page, func(v postingView) int64 { return v.ID })
	return nil
}

// maxCodeInput bounds what is accepted as a typed code (dashes and spaces
// included).
const maxCodeInput = 64

func (s *Server) redeemCode(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	team := p.TeamID()
	var body struct {
		Code string `json:"code"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(body.Code) == "":
		return chorus.Invalid("code", "code is required")
	case len(body.Code) > maxCodeInput:
		return chorus.Invalid("code", "code is invalid or expired")
	}
	posting, err := s.Store.Redeem(r.Context(), team, body.Code)
	if err != nil {
		return err
	}
	b, err := s.Store.Balance(r.Context(), team)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, struct {
		Object  string      `json:"object"` // "redemption"
		Posting postingView `json:"posting"`
		Balance balanceView `json:"balance"`
	}{"redemption", viewPosting(posting, false), viewBalance(b)})
	return nil
}

// ---- admin

func (s *Server) adminTeamBalance(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	b, err := s.Store.Balance(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewBalance(b))
	return nil
}

func (s *Server) adminLedger(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	f, err := postingFilter(q, true)
	if err != nil {
		return err
	}
	ps, err := s.Store.ListPostings(r.Context(), f, page)
	if err != nil {
		return err
	}
	api.WriteList(w, viewPostings(ps, true), page, func(v postingView) int64 { return v.ID })
	return nil
}

// postingKinds are the kinds ?kind= accepts.
var postingKinds = []string{chorus.PostingTopUp, chorus.PostingSpend, chorus.PostingRefund, chorus.PostingRedemption, chorus.PostingGrant}

// postingFilter parses ?kind=, ?since=, ?until= and, for admins,
// ?team_id=.
func postingFilter(q url.Values, admin bool) (chorus.PostingFilter, error) {
	var f chorus.PostingFilter
	if admin {
		var err error
		if f.TeamID, err = api.IDParam(q, "team_id"); err != nil {
			return f, err
		}
	}
	if v := q.Get("kind"); v != "" {
		if !slices.Contains(postingKinds, v) {
			return f, chorus.Invalid("kind", "kind must be one of %s, got %q", strings.Join(postingKinds, ", "), v)
		}
		f.Kind = v
	}
	var err error
	f.Since, f.Until, err = api.TimeRange(q)
	return f, err
}

func (s *Server) adminCheckLedger(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	rep, err := s.Store.CheckLedger(r.Context())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, struct {
		Object string `json:"object"` // "ledger.check"
		chorus.LedgerReport
	}{"ledger.check", rep})
	return nil
}

// adminGrant grants credits to a team's wallet from promotions, or takes
// them back with a negative amount (not below zero unless allow_negative).
// The idempotency key (body or Idempotency-Key header) makes a retry safe:
// the same grant again answers 200 with the first posting and moves
// nothing; a different grant under the same key is 409.
func (s *Server) adminGrant(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var body struct {
		TeamID         int64  `json:"team_id"`
		Amount         int64  `json:"amount"`
		Memo           string `json:"memo"`
		IdempotencyKey string `json:"idempotency_key"`
		AllowNegative  bool   `json:"allow_negative"`
	}
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	key := body.IdempotencyKey
	if h := r.Header.Get("Idempotency-Key"); h != "" {
		if key != "" && key != h {
			return chorus.Invalid("idempotency_key", "idempotency_key and the Idempotency-Key header differ")
		}
		key = h
	}
	switch {
	case body.TeamID < 1:
		return chorus.Invalid("team_id", "team_id must be a positive integer")
	case body.Amount == 0:
		return chorus.Invalid("amount", "amount must be a non-zero number of micro-credits (negative takes credits back)")
	case body.Amount == math.MinInt64:
		return chorus.Invalid("amount", "amount is out of range")
	case key == "":
		return chorus.Invalid("idempotency_key", "an idempotency key is required: idempotency_key in the body or the Idempotency-Key header")
	}
	if _, err := s.Store.Balance(r.Context(), body.TeamID); err != nil {
		if chorus.ErrorCode(err) == chorus.ENOTFOUND {
			return chorus.Invalid("team_id", "team %d does not exist", body.TeamID)
		}
		return err
	}
	p := &chorus.Posting{
		IdempotencyKey: key,
		Kind:           chorus.PostingGrant,
		TeamID:         body.TeamID,
		Memo:           body.Memo,
		Entries: []chorus.LedgerEntry{
			{Account: chorus.AccountPromotions, Amount: -body.Amount},
			{Account: chorus.WalletAccount(body.TeamID), Amount: body.Amount},
		},
		AllowNegative: body.AllowNegative,
	}
	created, err := s.Store.Post(r.Context(), p)
	if err != nil {
		return err
	}
	b, err := s.Store.Balance(r.Context(), body.TeamID)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	api.WriteJSON(w, status, struct {
		Object   string      `json:"object"` // "grant"
		Replayed bool        `json:"replayed"`
		Posting  postingView `json:"posting"`
		Balance  balanceView `json:"balance"`
	}{"grant", !created, viewPosting(p, true), viewBalance(b)})
	return nil
}

func (s *Server) adminCreateCodes(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var body struct {
		Count     int    `json:"count"`
		Amount    int64  `json:"amount"`
		MaxUses   int64  `json:"max_uses"`
		ExpiresAt string `json:"expires_at"`
		Memo      string `json:"memo"`
	}
	body.MaxUses = 1
	if err := api.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	b := &chorus.CodeBatch{Count: body.Count, Amount: body.Amount, MaxUses: body.MaxUses, Memo: body.Memo}
	if body.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, body.ExpiresAt)
		if err != nil {
			return chorus.Invalid("expires_at", "expires_at must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", body.ExpiresAt)
		}
		b.ExpiresAt = &t
	}
	if err := s.Store.CreateCodeBatch(r.Context(), b); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the codes are shown once
	api.WriteJSON(w, http.StatusCreated, viewCodeBatch(b))
	return nil
}

func (s *Server) adminListCodes(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	bs, err := s.Store.ListCodeBatches(r.Context(), page)
	if err != nil {
		return err
	}
	out := make([]codeBatchView, len(bs))
	for i, b := range bs {
		out[i] = viewCodeBatch(b)
	}
	api.WriteList(w, out, page, func(v codeBatchView) int64 { return v.ID })
	return nil
}

func (s *Server) adminDisableCodes(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DisableCodeBatch(r.Context(), id); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, struct {
		ID       int64  `json:"id"`
		Object   string `json:"object"`
		Disabled bool   `json:"disabled"`
	}{id, "code_batch", true})
	return nil
}
