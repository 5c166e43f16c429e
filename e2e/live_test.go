package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// liveEvent is one event of GET /api/events/stream.
type liveEvent struct {
	ID   string
	Type string
	Data map[string]any
}

// openLive opens a live update stream for the session (resuming after
// lastID when it is set) and returns its events as they arrive.
func openLive(t *testing.T, s *apptest.Session, lastID string) <-chan liveEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/events/stream", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	client := *s.Client
	client.Timeout = 0
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan liveEvent, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev liveEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.Data)
				ev.Type, _ = ev.Data["type"].(string)
			case line == "" && ev.Type != "":
				out <- ev
				ev = liveEvent{}
			}
		}
	}()
	return out
}

// waitLive reads events until one of type typ arrives, and returns it.
func waitLive(t *testing.T, ch <-chan liveEvent, typ string, within time.Duration) liveEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("the stream ended before a %s event", typ)
			}
			if ev.Type == typ {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", typ, within)
		}
	}
}

// TestLiveUpdates: a signed-in console's event stream carries its team's
// changes as they commit — credits granted, keys made and revoked — and
// not another team's; a stream that reconnects with Last-Event-ID gets what
// it missed.
func TestLiveUpdates(t *testing.T) {
	g := startGateway(t, nil)
	s := g.SignIn(t, chorus.RoleCustomer)
	other := g.SignIn(t, chorus.RoleCustomer)
	live := openLive(t, s, "")
	ready := waitLive(t, live, "ready", 5*time.Second)
	otherLive := openLive(t, other, "")
	waitLive(t, otherLive, "ready", 5*time.Second)

	grant := map[string]any{"team_id": s.User.TeamID, "amount": 5 * chorus.MicroPerCredit, "memo": "live"}
	if r := g.do("POST", "/api/admin/credits/grant", g.MasterKey, grant, "Idempotency-Key", g.unique("grant")); r.Status >= 300 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	bal := waitLive(t, live, "balance", 3*time.Second)
	if bal.ID == ready.ID || bal.ID == "" {
		t.Errorf("balance event id %q (ready was %q)", bal.ID, ready.ID)
	}
	status, body := s.Do(t, http.MethodPost, "/api/keys", map[string]any{"name": "live"})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("create key: %d %s", status, body)
	}
	var key struct{ ID int64 }
	_ = json.Unmarshal(body, &key)
	k := waitLive(t, live, "key", 3*time.Second)
	if fmt.Sprint(k.Data["key_id"]) != fmt.Sprint(key.ID) {
		t.Errorf("key event %v, want key %d", k.Data, key.ID)
	}
	select {
	case ev := <-otherLive:
		t.Errorf("another team's stream got %+v", ev)
	case <-time.After(500 * time.Millisecond):
	}

	t.Run("Resume", func(t *testing.T) {
		if status, body := s.Do(t, http.MethodDelete, fmt.Sprintf("/api/keys/%d", key.ID), nil); status >= 300 {
			t.Fatalf("revoke: %d %s", status, body)
		}
		resumed := openLive(t, s, k.ID) // as a client that dropped after the key event
		ev := waitLive(t, resumed, "key", 3*time.Second)
		if fmt.Sprint(ev.Data["key_id"]) != fmt.Sprint(key.ID) || ev.ID == k.ID {
			t.Errorf("resumed with %+v", ev)
		}
	})

	t.Run("ErrAnonymous", func(t *testing.T) {
		if r := g.do("GET", "/api/events/stream", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous stream: %d", r.Status)
		}
	})
}

// TestLiveUpdatesAcrossInstances: an order marked paid on one instance
// reaches a console connected to another within a second.
func TestLiveUpdatesAcrossInstances(t *testing.T) {
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("set CHORUS_TEST_POSTGRES_URL to run the two-instance test")
	}
	dsn := postgresSchema(t, base)
	edit := func(c *config.Config) { c.DatabaseURL = dsn }
	a := startGateway(t, edit)
	b := startGateway(t, edit)
	u, pw := a.NewUser(t, chorus.RoleCustomer, 0)
	id := a.pendingOrder(u)
	live := openLive(t, apptest.Login(t, b.Gateway, u.Email, pw), "")
	waitLive(t, live, "ready", 5*time.Second)

	start := time.Now()
	a.mustAdmin("POST", fmt.Sprintf("/api/admin/orders/%d/mark-paid", id), map[string]any{"reference": "live-1"}, http.StatusOK, nil)
	bal := waitLive(t, live, "balance", 5*time.Second)
	took := time.Since(start)
	t.Logf("order %d paid on instance a: balance event on instance b after %v (%v)", id, took, bal.Data)
	if took > time.Second {
		t.Errorf("the change took %v to reach the other instance, want within 1s", took)
	}
}
