// Package stripetest is a local fake of the parts of Stripe's API the shop
// uses — Checkout Sessions (create, retrieve, expire) and refunds — speaking
// Stripe's wire format (form-encoded requests, JSON objects, the error
// envelope, idempotency keys), and builds signed webhook events. Tests
// point the Stripe provider's API base at it; nothing reaches the network.
package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"
)

// Keys the fake accepts and signs with.
const (
	SecretKey     = "sk_test_chorus_fake" // #nosec G101 -- the local Stripe fake's test key, accepted by nothing else
	WebhookSecret = "whsec_chorus_fake"   // #nosec G101 -- the local Stripe fake's test key, accepted by nothing else
)

// Session is a Checkout Session as the fake keeps it.
type Session struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	URL               string            `json:"url"`
	Mode              string            `json:"mode"`
	Status            string            `json:"status"`         // open, complete, expired
	PaymentStatus     string            `json:"payment_status"` // unpaid, paid
	PaymentIntent     *string           `json:"payment_intent"`
	AmountTotal       int64             `json:"amount_total"`
	Currency          string            `json:"currency"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	SuccessURL        string            `json:"success_url"`
	CancelURL         string            `json:"cancel_url"`
	// LineItems are what the session was created with (not part of
	// Stripe's object unless expanded; kept for assertions).
	LineItems []LineItem `json:"-"`
	// PaymentIntentMetadata is payment_intent_data[metadata].
	PaymentIntentMetadata map[string]string `json:"-"`
}

// LineItem is one line of a session.
type LineItem struct {
	Name       string
	Currency   string
	UnitAmount int64
	Quantity   int64
}

// Call is one request the fake received.
type Call struct {
	Method, Path   string
	IdempotencyKey string
	Form           url.Values
}

// Server is the fake Stripe API.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	seq      int
	sessions map[string]*Session
	byKey    map[string]idemResult // idempotency key → first answer
	refunded map[string]string     // payment intent → refund ID
	calls    []Call
	failNext []int // statuses to answer the next create/refund calls with
}

type idemResult struct {
	fingerprint string
	status      int
	body        []byte
}

// New starts a fake and closes it when the test ends.
func New(tb testing.TB) *Server {
	s := &Server{sessions: map[string]*Session{}, byKey: map[string]idemResult{}, refunded: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/checkout/sessions", s.createSession)
	mux.HandleFunc("GET /v1/checkout/sessions/{id}", s.getSession)
	mux.HandleFunc("POST /v1/checkout/sessions/{id}/expire", s.expireSession)
	mux.HandleFunc("POST /v1/refunds", s.createRefund)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+").")
	})
	s.Server = httptest.NewServer(s.auth(mux))
	tb.Cleanup(s.Close)
	return s
}

// FailNext makes the next POST calls answer with these statuses (500: an
// api_error Stripe's library retries; 402, 400: errors it does not).
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// Calls returns the requests received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Session returns a session by ID.
func (s *Server) Session(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[id]
	if !ok {
		return Session{}, false
	}
	return *cs, true
}

// Sessions returns every session, in creation order.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.sessions))
	for _, cs := range s.sessions {
		out = append(out, *cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Complete marks a session paid, as if the customer had paid: it gets a
// PaymentIntent, and is returned as a checkout.session.completed event
// would carry it.
func (s *Server) Complete(id string) Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.sessions[id]
	s.seq++
	pi := fmt.Sprintf("pi_test_%04d", s.seq)
	cs.Status, cs.PaymentStatus, cs.PaymentIntent = "complete", "paid", &pi
	return *cs
}

// Refunded reports the refund of a PaymentIntent, if any.
func (s *Server) Refunded(paymentIntent string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.refunded[paymentIntent]
	return id, ok
}

// Event returns a webhook event of the given type around object, as Stripe
// sends it, with a fresh event ID.
func (s *Server) Event(typ string, object any) (id string, payload []byte) {
	s.mu.Lock()
	s.seq++
	id = fmt.Sprintf("evt_test_%04d", s.seq)
	s.mu.Unlock()
	raw, err := json.Marshal(object)
	if err != nil {
		panic(err)
	}
	return id, EventWithID(id, typ, raw)
}

// EventWithID returns a webhook event payload with the given ID.
func EventWithID(id, typ string, object json.RawMessage) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Charge returns a charge object for a charge.refunded event.
func Charge(paymentIntent string, amount, refunded int64, currency string) map[string]any {
	return map[string]any{
		"id": "ch_" + strings.TrimPrefix(paymentIntent, "pi_"), "object": "charge", "payment_intent": paymentIntent,
		"amount": amount, "amount_refunded": refunded, "refunded": refunded >= amount, "currency": currency,
	}
}

// Sign returns the Stripe-Signature header for payload signed with secret
// at time at.
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// ---- handlers

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+SecretKey {
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided.")
			return
		}
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "", "Malformed form body.")
			return
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: r.PostForm})
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// idempotent answers a POST once per Idempotency-Key, as Stripe does: a
// retry gets the first answer; the key with other parameters is an error.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, do func() (int, any)) {
	key := r.Header.Get("Idempotency-Key")
	fp := r.URL.Path + "?" + r.PostForm.Encode()
	s.mu.Lock()
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		writeError(w, status, errorType(status), "", "Injected failure.")
		return
	}
	if prev, ok := s.byKey[key]; ok && key != "" {
		s.mu.Unlock()
		if prev.fingerprint != fp {
			writeError(w, http.StatusBadRequest, "idempotency_error", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with.")
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		writeRaw(w, prev.status, prev.body)
		return
	}
	status, v := do()
	body, _ := json.Marshal(v)
	if key != "" {
		s.byKey[key] = idemResult{fingerprint: fp, status: status, body: body}
	}
	s.mu.Unlock()
	writeRaw(w, status, body)
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	s.idempotent(w, r, func() (int, any) {
		if f.Get("mode") != "payment" {
			return errBody(http.StatusBadRequest, "parameter_invalid", "mode must be payment in this fake")
		}
		if f.Get("success_url") == "" || f.Get("cancel_url") == "" {
			return errBody(http.StatusBadRequest, "parameter_missing", "success_url and cancel_url are required")
		}
		cs := &Session{Object: "checkout.session", Mode: "payment", Status: "open", PaymentStatus: "unpaid",
			ClientReferenceID: f.Get("client_reference_id"), SuccessURL: f.Get("success_url"), CancelURL: f.Get("cancel_url"),
			Metadata: prefixed(f, "metadata"), PaymentIntentMetadata: prefixed(f, "payment_intent_data[metadata]")}
		for i := 0; ; i++ {
			p := fmt.Sprintf("line_items[%d]", i)
			if f.Get(p+"[quantity]") == "" {
				break
			}
			q, err1 := strconv.ParseInt(f.Get(p+"[quantity]"), 10, 64)
			amt, err2 := strconv.ParseInt(f.Get(p+"[price_data][unit_amount]"), 10, 64)
			cur := f.Get(p + "[price_data][currency]")
			name := f.Get(p + "[price_data][product_data][name]")
			if err1 != nil || err2 != nil || q < 1 || amt < 0 || cur == "" || name == "" {
				return errBody(http.StatusBadRequest, "parameter_invalid", "line item "+strconv.Itoa(i)+" is invalid")
			}
			if cs.Currency != "" && cs.Currency != cur {
				return errBody(http.StatusBadRequest, "parameter_invalid", "line items must share one currency")
			}
			cs.Currency = cur
			cs.AmountTotal += q * amt
			cs.LineItems = append(cs.LineItems, LineItem{Name: name, Currency: cur, UnitAmount: amt, Quantity: q})
		}
		if len(cs.LineItems) == 0 {
			return errBody(http.StatusBadRequest, "parameter_missing", "line_items is required in payment mode")
		}
		s.seq++
		cs.ID = fmt.Sprintf("cs_test_%04d", s.seq)
		cs.URL = "https://checkout.stripe.com/c/pay/" + cs.ID
		s.sessions[cs.ID] = cs
		return http.StatusOK, cs
	})
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	cs, ok := s.sessions[r.PathValue("id")]
	var body []byte
	if ok {
		body, _ = json.Marshal(cs)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such checkout.session: '"+r.PathValue("id")+"'")
		return
	}
	writeRaw(w, http.StatusOK, body)
}

func (s *Server) expireSession(w http.ResponseWriter, r *http.Request) {
	s.idempotent(w, r, func() (int, any) {
		cs, ok := s.sessions[r.PathValue("id")]
		if !ok {
			return errBody(http.StatusNotFound, "resource_missing", "No such checkout.session")
		}
		if cs.Status != "open" {
			return errBody(http.StatusBadRequest, "checkout_session_not_open",
				"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \""+cs.Status+"\".")
		}
		cs.Status = "expired"
		return http.StatusOK, cs
	})
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	pi := r.PostForm.Get("payment_intent")
	s.idempotent(w, r, func() (int, any) {
		var paid *Session
		for _, cs := range s.sessions {
			if cs.PaymentIntent != nil && *cs.PaymentIntent == pi {
				paid = cs
			}
		}
		if paid == nil {
			return errBody(http.StatusNotFound, "resource_missing", "No such payment_intent: '"+pi+"'")
		}
		if _, done := s.refunded[pi]; done {
			return errBody(http.StatusBadRequest, string(stripe.ErrorCodeChargeAlreadyRefunded), "Charge has already been refunded.")
		}
		s.seq++
		id := fmt.Sprintf("re_test_%04d", s.seq)
		s.refunded[pi] = id
		return http.StatusOK, map[string]any{"id": id, "object": "refund", "status": "succeeded",
			"payment_intent": pi, "amount": paid.AmountTotal, "currency": paid.Currency}
	})
}

// ---- wire helpers

func prefixed(f url.Values, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range f {
		if rest, ok := strings.CutPrefix(k, prefix+"["); ok && strings.HasSuffix(rest, "]") && !strings.Contains(rest, "[") {
			out[strings.TrimSuffix(rest, "]")] = v[0]
		}
	}
	return out
}

func errorType(status int) string {
	switch {
	case status >= 500:
		return "api_error"
	case status == http.StatusPaymentRequired:
		return "card_error"
	}
	return "invalid_request_error"
}

func errBody(status int, code, msg string) (int, any) {
	return status, map[string]any{"error": map[string]any{"type": errorType(status), "code": code, "message": msg}}
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	body, _ := json.Marshal(map[string]any{"error": e})
	writeRaw(w, status, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
