package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/manage"
)

// TestConsolePlayground: the signed-in console chats through the model API
// with its session and CSRF token instead of an API key; the request is
// billed to the user's console key and recorded like any API call, and a
// request without the CSRF token, or from a session still waiting for its
// second factor, is refused.
func TestConsolePlayground(t *testing.T) {
	g := startGateway(t, nil)
	g.simulated("sim", nil)
	s := g.SignIn(t, chorus.RoleCustomer)
	chat := map[string]any{"model": "sim", "messages": []map[string]string{{"role": "user", "content": "hi"}}}

	t.Run("OK", func(t *testing.T) {
		status, body := s.Do(t, http.MethodPost, "/v1/chat/completions", chat)
		if status != http.StatusOK {
			t.Fatalf("playground chat: %d %s", status, body)
		}
		var out struct {
			ID      string `json:"id"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(body, &out); err != nil || len(out.Choices) == 0 || out.Choices[0].Message.Content == "" {
			t.Fatalf("answer %s (%v)", body, err)
		}
		key := consoleKey(t, s)
		eventually(t, 5*time.Second, func() string {
			_, body := s.Do(t, http.MethodGet, "/api/usage", nil)
			var usage struct {
				Data []chorus.Usage `json:"data"`
			}
			_ = json.Unmarshal(body, &usage)
			for _, u := range usage.Data {
				if u.ResponseID == out.ID {
					if u.KeyID != key.ID || u.UserID != s.User.ID || u.Endpoint != "chat" {
						return fmt.Sprintf("usage %+v, want key %d user %d", u, key.ID, s.User.ID)
					}
					return ""
				}
			}
			return "no usage record for " + out.ID
		})
		// The same key serves the next call: one console key per user.
		if status, body := s.Do(t, http.MethodPost, "/v1/chat/completions", chat); status != http.StatusOK {
			t.Fatalf("second call: %d %s", status, body)
		}
		if again := consoleKey(t, s); again.ID != key.ID {
			t.Errorf("second call made key %d, want the console key %d again", again.ID, key.ID)
		}
	})

	t.Run("ErrNoCSRF", func(t *testing.T) {
		b, _ := json.Marshal(chat)
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", "wrong")
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("without the CSRF token: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("RevokedKeyIsReplaced", func(t *testing.T) {
		key := consoleKey(t, s)
		if status, body := s.Do(t, http.MethodDelete, fmt.Sprintf("/api/keys/%d", key.ID), nil); status >= 300 {
			t.Fatalf("revoke: %d %s", status, body)
		}
		if status, body := s.Do(t, http.MethodPost, "/v1/chat/completions", chat); status != http.StatusOK {
			t.Fatalf("after revoking the console key: %d %s", status, body)
		}
		if again := consoleKey(t, s); again.ID == key.ID {
			t.Errorf("the revoked console key %d still serves", key.ID)
		}
	})

	t.Run("ErrSessionEnded", func(t *testing.T) {
		u, password := g.NewUser(t, chorus.RoleCustomer, 0)
		first, second := apptest.Login(t, g.Gateway, u.Email, password), apptest.Login(t, g.Gateway, u.Email, password)
		if status, body := second.Do(t, http.MethodPost, "/api/auth/logout-all", nil); status >= 300 {
			t.Fatalf("logout-all: %d %s", status, body)
		}
		status, body := first.Do(t, http.MethodPost, "/v1/chat/completions", chat)
		if status != http.StatusUnauthorized || !strings.Contains(string(body), "invalid_session") {
			t.Errorf("with an ended session: %d %s, want 401 invalid_session", status, body)
		}
	})
}

// consoleKey returns the session user's active console key.
func consoleKey(t *testing.T, s interface {
	Do(testing.TB, string, string, any) (int, []byte)
}) chorus.APIKey {
	t.Helper()
	_, body := s.Do(t, http.MethodGet, "/api/keys", nil)
	var keys struct {
		Data []chorus.APIKey `json:"data"`
	}
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatalf("keys %s: %v", body, err)
	}
	for _, k := range keys.Data {
		if k.Name == manage.ConsoleKeyName && k.RevokedAt == nil {
			return k
		}
	}
	t.Fatalf("no console key among %s", body)
	return chorus.APIKey{}
}
