package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/webhook"
)

func hmacHex(secret, msg string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// fakeStore hands out its deliveries to the first claim and reports every
// finished attempt on finished.
type fakeStore struct {
	mu       sync.Mutex
	pending  []*chorus.Delivery
	claims   []time.Duration
	finished chan finished
}

type finished struct {
	id int64
	r  chorus.DeliveryResult
}

func (s *fakeStore) ClaimDeliveries(_ context.Context, limit int, claim time.Duration) ([]*chorus.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims = append(s.claims, claim)
	n := min(limit, len(s.pending))
	ds := s.pending[:n]
	s.pending = s.pending[n:]
	return ds, nil
}

func (s *fakeStore) FinishDelivery(_ context.Context, id int64, r chorus.DeliveryResult) error {
	s.finished <- finished{id, r}
	return nil
}

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// hooks is the test configuration: a poll too slow to matter, so that only
// Kick starts a round.
func hooks(allowPrivate bool) config.Webhook {
	return config.Webhook{Timeout: 2 * time.Second, MaxAttempts: 5, Backoff: 2 * time.Second, Poll: time.Hour, AllowPrivate: allowPrivate}
}

// dispatch sends ds through a started dispatcher woken by Kick and
// returns each attempt's result, by delivery ID.
func dispatch(t *testing.T, c config.Webhook, ds ...*chorus.Delivery) (map[int64]chorus.DeliveryResult, *webhook.Dispatcher, *fakeStore) {
	t.Helper()
	fs := &fakeStore{pending: ds, finished: make(chan finished, len(ds))}
	d := webhook.New(fs, webhook.Options{Webhook: c, Now: func() time.Time { return now }})
	d.Start(context.Background())
	t.Cleanup(d.Close)
	d.Kick()
	got := map[int64]chorus.DeliveryResult{}
	for range ds {
		select {
		case f := <-fs.finished:
			got[f.id] = f.r
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d deliveries finished within 5s", len(got), len(ds))
		}
	}
	return got, d, fs
}

func delivery(id int64, url string, attempt int) *chorus.Delivery {
	return &chorus.Delivery{ID: id, EventID: 10 + id, BudgetID: 5, TeamID: 3, URL: url, Attempt: attempt, Secret: "whsec_x",
		Event: chorus.Event{ID: 10 + id, TeamID: 3, Type: chorus.EventBudgetExceeded, BudgetID: 5,
			Data: json.RawMessage(`{"budget_id":5}`), CreatedAt: now.Add(-time.Minute)}}
}

// receiver answers status and records what it received.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs, r.body = append(r.reqs, req), append(r.body, b)
		r.mu.Unlock()
		if status == http.StatusFound {
			w.Header().Set("Location", "http://169.254.169.254/")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func TestDispatcher(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusNoContent)
		got, d, fs := dispatch(t, hooks(true), delivery(1, rcv.URL+"/hook", 1))
		if r := got[1]; !r.Delivered || r.Status != http.StatusNoContent || r.Error != "" || !r.Retry.IsZero() {
			t.Errorf("result %+v, want delivered with 204", r)
		}
		if rcv.count() != 1 {
			t.Fatalf("%d requests, want 1", rcv.count())
		}
		req, body := rcv.reqs[0], rcv.body[0]
		for k, want := range map[string]string{
			"Content-Type": "application/json", "User-Agent": "Chorus-Webhook/1", "Chorus-Event-Id": "evt_11",
			"Chorus-Event-Type": chorus.EventBudgetExceeded, "Chorus-Delivery-Attempt": "1",
		} {
			if got := req.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if err := webhook.Verify("whsec_x", req.Header.Get(webhook.SignatureHeader), body, now, time.Second); err != nil {
			t.Errorf("signature made at the dispatcher's clock with the budget's secret: %v", err)
		}
		var b webhook.Body
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if b.ID != "evt_11" || b.Object != "event" || b.Type != chorus.EventBudgetExceeded || b.TeamID != 3 ||
			!b.CreatedAt.Equal(now.Add(-time.Minute)) || string(b.Data) != `{"budget_id":5}` {
			t.Errorf("body %+v", b)
		}
		if got, want := d.Stats(), (webhook.Stats{Delivered: 1}); got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
		if got, want := fs.claims[0], 2*2*time.Second+10*time.Second; got != want {
			t.Errorf("claimed for %v, want %v (outlasting an attempt)", got, want)
		}
	})

	t.Run("RetryWithBackoff", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusInternalServerError)
		got, d, _ := dispatch(t, hooks(true), delivery(1, rcv.URL, 1), delivery(2, rcv.URL, 3), delivery(3, rcv.URL, 4))
		for id, wantRetry := range map[int64]time.Duration{1: 2 * time.Second, 2: 8 * time.Second, 3: 16 * time.Second} {
			r := got[id]
			if r.Delivered || r.Status != 500 || r.Error != "HTTP 500" || !r.Retry.Equal(now.Add(wantRetry)) {
				t.Errorf("delivery %d: %+v, want HTTP 500 retried at now+%v", id, r, wantRetry)
			}
		}
		if got, want := d.Stats(), (webhook.Stats{Failed: 3}); got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
	})

	t.Run("BackoffAtMostAnHour", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusServiceUnavailable)
		c := hooks(true)
		c.MaxAttempts = 100
		got, _, _ := dispatch(t, c, delivery(1, rcv.URL, 40))
		if r := got[1]; !r.Retry.Equal(now.Add(time.Hour)) {
			t.Errorf("retry at %v, want now+1h", r.Retry)
		}
	})

	t.Run("GiveUpAfterMaxAttempts", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusInternalServerError)
		got, _, _ := dispatch(t, hooks(true), delivery(1, rcv.URL, 5))
		if r := got[1]; r.Delivered || r.Status != 500 || !r.Retry.IsZero() {
			t.Errorf("result %+v, want failed for good (no retry)", r)
		}
	})

	t.Run("ErrNoSecret", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusNoContent)
		dl := delivery(1, rcv.URL, 1)
		dl.Secret = ""
		got, _, _ := dispatch(t, hooks(true), dl)
		if r := got[1]; r.Delivered || r.Error == "" || !r.Retry.IsZero() || rcv.count() != 0 {
			t.Errorf("result %+v after %d requests, want a failure without sending", r, rcv.count())
		}
	})

	t.Run("ErrPrivateAddress", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusNoContent)
		got, _, _ := dispatch(t, hooks(false), delivery(1, rcv.URL, 1))
		if r := got[1]; r.Delivered || !strings.Contains(r.Error, "billing.webhook.allow_private") || rcv.count() != 0 {
			t.Errorf("result %+v after %d requests, want the dial to 127.0.0.1 refused", r, rcv.count())
		}
	})

	t.Run("ErrRedirectNotFollowed", func(t *testing.T) {
		rcv := newReceiver(t, http.StatusFound)
		got, _, _ := dispatch(t, hooks(true), delivery(1, rcv.URL, 1))
		if r := got[1]; r.Delivered || r.Status != http.StatusFound || r.Error != "HTTP 302" {
			t.Errorf("result %+v, want the redirect reported, not followed", r)
		}
	})

	t.Run("CloseIdempotent", func(t *testing.T) {
		d := webhook.New(&fakeStore{}, webhook.Options{Webhook: hooks(true)})
		d.Close() // never started
		d.Start(context.Background())
		d.Close()
		d.Close()
	})
}
