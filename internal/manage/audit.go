package manage

// The audit log API (admin only):
//
//	GET /api/admin/audit   entries, newest first
//
// Query parameters, each optional and each given at most once:
//
//	actor        a user ID: entries by that user
//	action       an exact action ("key.created"), or a prefix ending in "." ("auth.")
//	target_type  "key", "model", "user", …
//	target_id    with target_type: one object's entries
//	team_id      entries about that team's objects (0: entries about no team)
//	since, until RFC 3339 times: at in [since, until)
//	before       the cursor: entries with seq < before (next_before of the previous page)
//	limit        1 to 500 (default 50)
//
// The answer is {"object":"list","data":[…],"has_more":…,"next_before":…};
// hashes are hex.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// AuditStore is what the audit log API needs from the database.
type AuditStore interface {
	ListAudit(ctx context.Context, f chorus.AuditFilter, p chorus.AuditPage) ([]*chorus.AuditEntry, error)
}

// auditParams are the query parameters adminListAudit accepts.
var auditParams = []string{"actor", "action", "target_type", "target_id", "team_id", "since", "until", "before", "limit"}

var (
	// auditActionPattern: dot-separated lower-case words, optionally ending
	// in "." for a prefix.
	auditActionPattern = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*\.?$`)
	auditTypePattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// maxAuditParam bounds the length of action and target_id.
const maxAuditParam = 200

// auditView is an audit entry as the API shows it.
type auditView struct {
	Object     string          `json:"object"` // "audit_entry"
	Seq        int64           `json:"seq"`
	At         time.Time       `json:"at"`
	Actor      chorus.Actor    `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type,omitempty"`
	TargetID   string          `json:"target_id,omitempty"`
	TeamID     int64           `json:"team_id,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	PrevHash   string          `json:"prev_hash"` // hex
	Hash       string          `json:"hash"`      // hex
}

func viewAudit(e *chorus.AuditEntry) auditView {
	return auditView{Object: "audit_entry", Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, TeamID: e.TeamID, Details: e.Details,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash)}
}

// adminListAudit serves GET /api/admin/audit.
func (s *Server) adminListAudit(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	f, page, err := auditQuery(r.URL.Query())
	if err != nil {
		return err
	}
	es, err := s.Store.ListAudit(r.Context(), f, page)
	if err != nil {
		return err
	}
	out := struct {
		Object  string      `json:"object"`
		Data    []auditView `json:"data"`
		HasMore bool        `json:"has_more"`
		Next    *int64      `json:"next_before,omitempty"`
	}{Object: "list", Data: make([]auditView, 0, len(es))}
	for _, e := range es {
		out.Data = append(out.Data, viewAudit(e))
	}
	// A full page may be followed by more: the cursor is its oldest seq.
	if len(es) == page.Limit && len(es) > 0 {
		out.HasMore = true
		out.Next = &es[len(es)-1].Seq
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// auditQuery parses and validates the query of adminListAudit.
func auditQuery(q url.Values) (chorus.AuditFilter, chorus.AuditPage, error) {
	var f chorus.AuditFilter
	page := chorus.AuditPage{Limit: chorus.DefaultPageSize}
	for name, vs := range q {
		if !slices.Contains(auditParams, name) {
			return f, page, chorus.Invalid(name, "unknown parameter %q; the audit log takes %s", name, strings.Join(auditParams, ", "))
		}
		if len(vs) > 1 {
			return f, page, chorus.Invalid(name, "%s may be given once", name)
		}
	}
	id := func(name string, min int64) (*int64, error) {
		v := q.Get(name)
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return nil, chorus.Invalid(name, "%s must be an integer of at least %d, got %q", name, min, v)
		}
		return &n, nil
	}
	var err error
	if f.ActorUserID, err = id("actor", 1); err != nil {
		return f, page, err
	}
	if f.TeamID, err = id("team_id", 0); err != nil {
		return f, page, err
	}
	before, err := id("before", 1)
	if err != nil {
		return f, page, err
	}
	if before != nil {
		page.Before = *before
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > chorus.MaxPageSize {
			return f, page, chorus.Invalid("limit", "limit must be an integer from 1 to %d, got %q", chorus.MaxPageSize, v)
		}
		page.Limit = n
	}
	if v := q.Get("action"); v != "" {
		if len(v) > maxAuditParam || !auditActionPattern.MatchString(v) {
			return f, page, chorus.Invalid("action", "action must be an action such as key.created, or a prefix ending in \".\" such as auth.; got %q", v)
		}
		f.Action = v
	}
	if v := q.Get("target_type"); v != "" {
		if !auditTypePattern.MatchString(v) {
			return f, page, chorus.Invalid("target_type", "target_type must be a lower-case word such as key or model, got %q", v)
		}
		f.TargetType = v
	}
	if v := q.Get("target_id"); v != "" {
		switch {
		case f.TargetType == "":
			return f, page, chorus.Invalid("target_id", "target_id needs target_type")
		case len(v) > maxAuditParam:
			return f, page, chorus.Invalid("target_id", "target_id is longer than %d bytes", maxAuditParam)
		}
		f.TargetID = v
	}
	if f.Since, f.Until, err = api.TimeRange(q); err != nil {
		return f, page, err
	}
	return f, page, nil
}
