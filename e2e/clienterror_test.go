package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// TestClientErrors: the consoles' error boundaries report errors; a report
// is scrubbed of secrets, attributed to the signed-in user, bounded in size
// and rate, and readable by admins only.
func TestClientErrors(t *testing.T) {
	g := startGateway(t, nil)
	s := g.SignIn(t, chorus.RoleCustomer)
	admin := g.SignIn(t, chorus.RoleAdmin)
	report := map[string]string{
		"message":    "fetch failed with Authorization: Bearer sk-chorus-abcdefghijklmnopqrstu",
		"stack":      "Error: boom\n    at KeysPage (/assets/keys-3f2a1b.js:12:34)\n    token=deadbeefdeadbeef",
		"route":      "/keys",
		"release":    "0.1.0",
		"request_id": "req_0123",
	}

	status, body := s.Do(t, http.MethodPost, "/api/client-errors", report)
	if status != http.StatusAccepted {
		t.Fatalf("report: %d %s", status, body)
	}
	status, body = admin.Do(t, http.MethodGet, "/api/admin/client-errors?route=/keys", nil)
	var list struct {
		Data []chorus.ClientError `json:"data"`
	}
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || len(list.Data) != 1 {
		t.Fatalf("admin list: %d %s (%v)", status, body, err)
	}
	got := list.Data[0]
	if strings.Contains(got.Message, "sk-chorus") || strings.Contains(got.Stack, "deadbeef") {
		t.Errorf("secrets kept: %q / %q", got.Message, got.Stack)
	}
	if !strings.Contains(got.Stack, "KeysPage (/assets/keys-3f2a1b.js:12:34)") || got.RequestID != "req_0123" || got.Release != "0.1.0" {
		t.Errorf("report lost what it needs: %+v", got)
	}
	if got.UserID != s.User.ID || got.TeamID != s.User.TeamID {
		t.Errorf("attributed to user %d team %d, want %d %d", got.UserID, got.TeamID, s.User.ID, s.User.TeamID)
	}
	if status, _ := s.Do(t, http.MethodGet, "/api/admin/client-errors", nil); status != http.StatusForbidden {
		t.Errorf("a customer lists reports: %d", status)
	}

	t.Run("Anonymous", func(t *testing.T) {
		r := g.do(http.MethodPost, "/api/client-errors", "", map[string]string{"message": "sign-in page broke"})
		if r.Status != http.StatusAccepted {
			t.Errorf("anonymous report: %d %s", r.Status, r.Body)
		}
	})
	t.Run("ErrTooLarge", func(t *testing.T) {
		r := g.do(http.MethodPost, "/api/client-errors", "", map[string]string{"message": strings.Repeat("x", 20<<10)})
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("20 KiB report: %d, want 413", r.Status)
		}
	})
	t.Run("ErrNotJSON", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/api/client-errors", strings.NewReader(`{"message":"x"}`))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("text/plain report: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("ErrRate", func(t *testing.T) {
		limited := 0
		for range 30 {
			if r := g.do(http.MethodPost, "/api/client-errors", "", map[string]string{"message": "loop"}); r.Status == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Error("30 reports in a row from one address: none refused")
		}
	})
}

// TestClientErrorsToSentry: with sentry.dsn set, a report also goes to
// Sentry (here a local fake of its ingest endpoint) through the official
// SDK, scrubbed like the stored one.
func TestClientErrorsToSentry(t *testing.T) {
	var mu sync.Mutex
	var got []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+"\n"+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer fake.Close()
	dsn := strings.Replace(fake.URL, "http://", "http://publickey@", 1) + "/42"
	g := startGateway(t, func(c *config.Config) { c.Sentry.DSN = dsn })
	r := g.do(http.MethodPost, "/api/client-errors", "", map[string]string{
		"message": "render failed: password=hunter22", "route": "/billing", "release": "0.2.0", "request_id": "req_9"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("report: %d %s", r.Status, r.Body)
	}
	eventually(t, 5*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if strings.HasPrefix(e, "/api/42/envelope/") && strings.Contains(e, "render failed") {
				if strings.Contains(e, "hunter22") {
					return "the password reached Sentry"
				}
				if !strings.Contains(e, `"route":"/billing"`) || !strings.Contains(e, `"release":"0.2.0"`) {
					return "envelope without route or release: " + e
				}
				return ""
			}
		}
		return fmt.Sprintf("no envelope at Sentry yet (%d requests)", len(got))
	})
}
