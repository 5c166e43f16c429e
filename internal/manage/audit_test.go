package manage

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// auditServer returns a Server on a fresh SQLite database holding n audit
// entries: entry i (1-based) has action "test.<i%2>", actor user i%3+1,
// target ("thing", "<i>") and team i%2.
func auditServer(t *testing.T, n int) (*Server, *store.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "chorus.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		actx := chorus.NewContextWithActor(ctx, chorus.Actor{UserID: int64(i%3 + 1)})
		e := &chorus.AuditEntry{Action: fmt.Sprintf("test.%d", i%2), TargetType: "thing", TargetID: fmt.Sprint(i),
			TeamID: int64(i % 2), Details: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`)}
		if err := db.Audit(actx, e); err != nil {
			t.Fatal(err)
		}
	}
	return &Server{Store: db}, db
}

type auditListBody struct {
	Object  string      `json:"object"`
	Data    []auditView `json:"data"`
	HasMore bool        `json:"has_more"`
	Next    *int64      `json:"next_before"`
}

func getAudit(t *testing.T, s *Server, query string) (auditListBody, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/api/admin/audit?"+query, nil)
	w := httptest.NewRecorder()
	var body auditListBody
	if err := s.adminListAudit(w, r, &chorus.Principal{User: &chorus.User{ID: 1, Role: chorus.RoleAdmin}}); err != nil {
		return body, err
	}
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%v in %s", err, w.Body)
	}
	return body, nil
}

func auditSeqs(vs []auditView) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v.Seq
	}
	return out
}

func TestAdminListAudit(t *testing.T) {
	s, db := auditServer(t, 7)

	t.Run("OK", func(t *testing.T) {
		body, err := getAudit(t, s, "")
		if err != nil {
			t.Fatal(err)
		}
		if body.Object != "list" || body.HasMore || body.Next != nil {
			t.Errorf("envelope %+v", body)
		}
		if got, want := fmt.Sprint(auditSeqs(body.Data)), "[7 6 5 4 3 2 1]"; got != want {
			t.Fatalf("seqs %s, want %s", got, want)
		}
		stored, err := db.ListAudit(context.Background(), chorus.AuditFilter{}, chorus.AuditPage{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		v := body.Data[0]
		if v.Object != "audit_entry" || v.Hash != hex.EncodeToString(stored[0].Hash) ||
			v.PrevHash != hex.EncodeToString(stored[0].PrevHash) || v.PrevHash != body.Data[1].Hash {
			t.Errorf("entry %+v: hashes are not the stored ones in hex", v)
		}
		if v.Action != "test.1" || v.Actor.UserID != 2 || v.TargetID != "7" || v.TeamID != 1 || string(v.Details) != `{"i":7}` {
			t.Errorf("entry %+v", v)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		var got []int64
		query := "limit=3"
		for i := 0; ; i++ {
			body, err := getAudit(t, s, query)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, auditSeqs(body.Data)...)
			if !body.HasMore {
				break
			}
			if body.Next == nil || i > 5 {
				t.Fatalf("page %d: has_more without next_before", i)
			}
			query = fmt.Sprintf("limit=3&before=%d", *body.Next)
		}
		if want := "[7 6 5 4 3 2 1]"; fmt.Sprint(got) != want {
			t.Fatalf("seqs %v, want %s", got, want)
		}
	})
	for _, tt := range []struct {
		name, query, want string
	}{
		{"Actor", "actor=2", "[7 4 1]"},
		{"ActionExact", "action=test.0", "[6 4 2]"},
		{"ActionPrefix", "action=test.", "[7 6 5 4 3 2 1]"},
		{"Target", "target_type=thing&target_id=5", "[5]"},
		{"TargetType", "target_type=other", "[]"},
		{"TeamZero", "team_id=0", "[6 4 2]"},
		{"Team", "team_id=1&limit=2", "[7 5]"},
		{"Before", "before=3", "[2 1]"},
		{"Since", "since=2000-01-01T00:00:00Z", "[7 6 5 4 3 2 1]"},
		{"Until", "until=2000-01-01T00:00:00Z", "[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, err := getAudit(t, s, tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(auditSeqs(body.Data)); got != tt.want {
				t.Fatalf("seqs %s, want %s", got, tt.want)
			}
		})
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		name, query, param string
	}{
		{"LimitZero", "limit=0", "limit"},
		{"LimitTooLarge", "limit=501", "limit"},
		{"LimitText", "limit=ten", "limit"},
		{"ActorZero", "actor=0", "actor"},
		{"ActorText", "actor=bob", "actor"},
		{"TeamNegative", "team_id=-1", "team_id"},
		{"BeforeZero", "before=0", "before"},
		{"BeforeText", "before=x", "before"},
		{"ActionUpper", "action=Key.Created", "action"},
		{"ActionWildcard", "action=auth.%25", "action"},
		{"ActionEmptyWord", "action=auth..login", "action"},
		{"TargetTypeBad", "target_type=Key%3Bdrop", "target_type"},
		{"TargetIDAlone", "target_id=5", "target_id"},
		{"Since", "since=yesterday", "since"},
		{"Until", "until=2026-13-01T00:00:00Z", "until"},
		{"UntilNotAfterSince", "since=" + future + "&until=" + future, "until"},
		{"Unknown", "after=3", "after"},
		{"Repeated", "action=a&action=b", "action"},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			_, err := getAudit(t, s, tt.query)
			var e *chorus.Error
			if !errors.As(err, &e) || e.Code != chorus.EINVALID {
				t.Fatalf("got %v, want %s", err, chorus.EINVALID)
			}
			if e.Param != tt.param {
				t.Errorf("param %q, want %q (%s)", e.Param, tt.param, e.Message)
			}
		})
	}
}
