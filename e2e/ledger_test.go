package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
)

// creditsBalance is the answer of the balance routes.
type creditsBalance struct {
	Object    string `json:"object"`
	TeamID    int64  `json:"team_id"`
	Balance   int64  `json:"balance"`
	Available int64  `json:"available"`
	Credits   string `json:"credits"`
}

type creditsPosting struct {
	ID             int64  `json:"id"`
	IdempotencyKey string `json:"idempotency_key"`
	Kind           string `json:"kind"`
	TeamID         int64  `json:"team_id"`
	Amount         int64  `json:"amount"`
	Credits        string `json:"credits"`
	Entries        []struct {
		Account string `json:"account"`
		Amount  int64  `json:"amount"`
	} `json:"entries"`
}

func decodeInto(t *testing.T, r response, want int, out any) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d (%s), want %d", r.Status, r.Body, want)
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func TestCreditsAPI(t *testing.T) {
	g := startGateway(t, nil)
	userA := g.createUser(chorus.RoleCustomer)
	keyA := g.createKey(keySpec{Name: "a", UserID: userA.ID}).Key
	keyB := g.customer().Key
	balance := func(key string) creditsBalance {
		t.Helper()
		var b creditsBalance
		decodeInto(t, g.do("GET", "/api/credits/balance", key, nil), http.StatusOK, &b)
		return b
	}
	grant := func(body map[string]any, header ...string) response {
		t.Helper()
		return g.do("POST", "/api/admin/credits/grant", g.MasterKey, body, header...)
	}

	t.Run("BalanceStartsAtZero", func(t *testing.T) {
		if got := balance(keyA); got.Object != "balance" || got.TeamID != userA.TeamID || got.Balance != 0 || got.Credits != "0.000000" {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("Grant", func(t *testing.T) {
		body := map[string]any{"team_id": userA.TeamID, "amount": 2_500_000, "memo": "welcome"}
		var out struct {
			Replayed bool           `json:"replayed"`
			Posting  creditsPosting `json:"posting"`
		}
		decodeInto(t, grant(body, "Idempotency-Key", "grant-1"), http.StatusCreated, &out)
		if out.Replayed || out.Posting.Kind != chorus.PostingGrant || out.Posting.Amount != 2_500_000 || out.Posting.Credits != "2.500000" {
			t.Errorf("got %+v", out)
		}
		first := out.Posting.ID
		decodeInto(t, grant(body, "Idempotency-Key", "grant-1"), http.StatusOK, &out)
		if !out.Replayed || out.Posting.ID != first {
			t.Errorf("replay: got %+v, want the first posting %d", out, first)
		}
		if got := balance(keyA).Balance; got != 2_500_000 {
			t.Errorf("balance %d after a grant and its replay, want 2500000", got)
		}
		body["amount"] = 3
		wantAPIError(t, grant(body, "Idempotency-Key", "grant-1"), http.StatusConflict, "conflict_error", "")
	})

	t.Run("GrantErrors", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			body   map[string]any
			header []string
			status int
			typ    string
			param  string
		}{
			{"NoKey", map[string]any{"team_id": userA.TeamID, "amount": 1}, nil, 400, "invalid_request_error", "idempotency_key"},
			{"KeysDiffer", map[string]any{"team_id": userA.TeamID, "amount": 1, "idempotency_key": "x"}, []string{"Idempotency-Key", "y"}, 400, "invalid_request_error", "idempotency_key"},
			{"ZeroAmount", map[string]any{"team_id": userA.TeamID, "amount": 0, "idempotency_key": "z"}, nil, 400, "invalid_request_error", "amount"},
			{"FractionalAmount", map[string]any{"team_id": userA.TeamID, "amount": 1.5, "idempotency_key": "f"}, nil, 400, "invalid_request_error", "amount"},
			{"NoTeam", map[string]any{"team_id": 987654, "amount": 1, "idempotency_key": "t"}, nil, 400, "invalid_request_error", "team_id"},
			{"UnknownField", map[string]any{"team_id": userA.TeamID, "amount": 1, "idempotency_key": "u", "currency": "eur"}, nil, 400, "invalid_request_error", ""},
			{"BelowZero", map[string]any{"team_id": userA.TeamID, "amount": -9_000_000, "idempotency_key": "neg"}, nil, 402, "insufficient_quota", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantAPIError(t, grant(tt.body, tt.header...), tt.status, tt.typ, tt.param)
			})
		}
		if got := balance(keyA).Balance; got != 2_500_000 {
			t.Errorf("balance %d after refused grants, want 2500000", got)
		}
	})

	t.Run("Codes", func(t *testing.T) {
		r := g.admin("POST", "/api/admin/codes", map[string]any{"count": 2, "amount": 1_000_000, "max_uses": 5, "memo": "launch"})
		var batch struct {
			ID      int64    `json:"id"`
			Codes   []string `json:"codes"`
			Credits string   `json:"credits"`
		}
		decodeInto(t, r, http.StatusCreated, &batch)
		if len(batch.Codes) != 2 || batch.Credits != "1.000000" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("batch %+v, Cache-Control %q", batch, r.Header.Get("Cache-Control"))
		}
		var red struct {
			Posting creditsPosting `json:"posting"`
			Balance creditsBalance `json:"balance"`
		}
		decodeInto(t, g.do("POST", "/api/credits/redeem", keyA, map[string]any{"code": strings.ToLower(batch.Codes[0])}), http.StatusOK, &red)
		if red.Posting.Kind != chorus.PostingRedemption || red.Posting.Amount != 1_000_000 || red.Balance.Balance != 3_500_000 {
			t.Errorf("redemption %+v", red)
		}
		if red.Posting.IdempotencyKey != "" {
			t.Errorf("a customer sees the idempotency key %q", red.Posting.IdempotencyKey)
		}
		wantAPIError(t, g.do("POST", "/api/credits/redeem", keyA, map[string]any{"code": batch.Codes[0]}), http.StatusConflict, "conflict_error", "")
		wantAPIError(t, g.do("POST", "/api/credits/redeem", keyA, map[string]any{"code": "2222-3333-4444-5555"}), http.StatusBadRequest, "invalid_request_error", "code")
		wantAPIError(t, g.do("POST", "/api/credits/redeem", keyA, map[string]any{}), http.StatusBadRequest, "invalid_request_error", "code")

		g.mustAdmin("POST", fmt.Sprintf("/api/admin/codes/%d/disable", batch.ID), nil, http.StatusOK, nil)
		e := wantAPIError(t, g.do("POST", "/api/credits/redeem", keyB, map[string]any{"code": batch.Codes[1]}), http.StatusBadRequest, "invalid_request_error", "code")
		if e.Error.Message != "code is invalid or expired" {
			t.Errorf("disabled code: %q", e.Error.Message)
		}
		var list struct {
			Data []struct {
				ID         int64   `json:"id"`
				Uses       int64   `json:"uses"`
				DisabledAt *string `json:"disabled_at"`
				Codes      []any   `json:"codes"`
			} `json:"data"`
		}
		g.mustAdmin("GET", "/api/admin/codes", nil, http.StatusOK, &list)
		if len(list.Data) != 1 || list.Data[0].Uses != 1 || list.Data[0].DisabledAt == nil || list.Data[0].Codes != nil {
			t.Errorf("batches %+v", list.Data)
		}
		wantAPIError(t, g.admin("POST", "/api/admin/codes", map[string]any{"count": 10001, "amount": 1}), http.StatusBadRequest, "invalid_request_error", "count")
		wantAPIError(t, g.admin("POST", "/api/admin/codes", map[string]any{"count": 1, "amount": 1, "expires_at": "tomorrow"}), http.StatusBadRequest, "invalid_request_error", "expires_at")
	})

	t.Run("OwnLedgerOnly", func(t *testing.T) {
		var a, b struct {
			Data []creditsPosting `json:"data"`
		}
		decodeInto(t, g.do("GET", "/api/credits/ledger", keyA, nil), http.StatusOK, &a)
		decodeInto(t, g.do("GET", "/api/credits/ledger", keyB, nil), http.StatusOK, &b)
		if len(a.Data) != 2 || len(b.Data) != 0 {
			t.Fatalf("team A sees %d postings (want 2), team B %d (want 0)", len(a.Data), len(b.Data))
		}
		for _, p := range a.Data {
			if p.TeamID != userA.TeamID || p.IdempotencyKey != "" {
				t.Errorf("posting %+v", p)
			}
		}
		// ?team_id= is an admin filter: a customer cannot use it to look elsewhere.
		decodeInto(t, g.do("GET", fmt.Sprintf("/api/credits/ledger?team_id=%d", userA.TeamID), keyB, nil), http.StatusOK, &b)
		if len(b.Data) != 0 {
			t.Errorf("team B sees %d of team A's postings", len(b.Data))
		}
		wantAPIError(t, g.do("GET", "/api/credits/ledger?kind=gift", keyA, nil), http.StatusBadRequest, "invalid_request_error", "kind")
	})

	t.Run("Admin", func(t *testing.T) {
		var list struct {
			Data []creditsPosting `json:"data"`
		}
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/ledger?team_id=%d&kind=grant&limit=1", userA.TeamID), nil, http.StatusOK, &list)
		if len(list.Data) != 1 || list.Data[0].IdempotencyKey != "grant-1" {
			t.Errorf("admin ledger %+v", list)
		}
		wantAPIError(t, g.admin("GET", "/api/admin/ledger?since=yesterday", nil), http.StatusBadRequest, "invalid_request_error", "since")
		var b creditsBalance
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/teams/%d/balance", userA.TeamID), nil, http.StatusOK, &b)
		if b.Balance != 3_500_000 || b.Credits != "3.500000" {
			t.Errorf("admin balance %+v", b)
		}
		wantAPIError(t, g.admin("GET", "/api/admin/teams/987654/balance", nil), http.StatusNotFound, "invalid_request_error", "")
		var check struct {
			OK       bool     `json:"ok"`
			Problems []string `json:"problems"`
			Postings int64    `json:"postings"`
		}
		g.mustAdmin("GET", "/api/admin/ledger/check", nil, http.StatusOK, &check)
		if !check.OK || check.Postings != 2 {
			t.Errorf("check %+v", check)
		}
		// The master key has no team, so no wallet.
		wantAPIError(t, g.do("GET", "/api/credits/balance", g.MasterKey, nil), http.StatusForbidden, "permission_error", "")
	})
}
