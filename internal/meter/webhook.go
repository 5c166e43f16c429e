package meter

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// Budget alerts reach their owners as webhooks: a JSON POST of the event,
// signed with the budget's secret (shown once, when the budget or its URL
// was created, or the secret rotated):
//
//	Chorus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//
// A receiver recomputes the HMAC over the timestamp, a dot and the raw body,
// compares in constant time, and refuses timestamps too old (Verify does
// all three). Deliveries live in the database (an outbox written in the
// transaction that raised the event); any instance's dispatcher sends them,
// retrying failures with exponential backoff up to
// billing.webhook.max_attempts, and records each attempt.

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "Chorus-Signature"

// Sign returns the Chorus-Signature value of body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a Chorus-Signature header against body: a v1 signature
// made with secret, at a time within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature timestamp outside the tolerance")
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature mismatch")
}

// WebhookBody is the JSON a webhook carries.
type WebhookBody struct {
	ID        string          `json:"id"` // "evt_<id>": the same on every retry
	Object    string          `json:"object"`
	Type      string          `json:"type"`
	TeamID    int64           `json:"team_id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// kick wakes the dispatcher: a delivery may be due.
func (m *Meter) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// dispatchLoop sends due webhooks until ctx ends.
func (m *Meter) dispatchLoop(ctx context.Context) {
	t := time.NewTicker(m.opts.Webhook.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		}
		for m.dispatch(ctx) {
		}
	}
}

// dispatchBatch is how many deliveries one claim takes.
const dispatchBatch = 20

// dispatch claims and sends one batch of due deliveries; it reports
// whether there may be more.
func (m *Meter) dispatch(ctx context.Context) bool {
	// A claim outlasts an attempt, so no other instance sends it meanwhile.
	ds, err := m.db.ClaimDeliveries(ctx, dispatchBatch, 2*m.opts.Webhook.Timeout+10*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("billing: claiming webhook deliveries failed", "err", err)
		}
		return false
	}
	for _, d := range ds {
		r := m.deliver(ctx, d)
		if !r.Delivered {
			m.stats.failed.Add(1)
			if r.Retry.IsZero() {
				m.log.Warn("billing: webhook delivery failed for good", "delivery", d.ID, "budget", d.BudgetID, "attempts", d.Attempt, "err", r.Error)
			}
		} else {
			m.stats.delivered.Add(1)
		}
		if err := m.db.FinishDelivery(context.WithoutCancel(ctx), d.ID, r); err != nil {
			m.log.Warn("billing: recording a webhook delivery failed", "delivery", d.ID, "err", err)
		}
	}
	return len(ds) == dispatchBatch && ctx.Err() == nil
}

// deliver makes one attempt.
func (m *Meter) deliver(ctx context.Context, d *chorus.Delivery) chorus.DeliveryResult {
	if d.Secret == "" {
		return chorus.DeliveryResult{Error: "the budget was deleted or has no webhook secret"}
	}
	body, err := json.Marshal(WebhookBody{ID: "evt_" + strconv.FormatInt(d.Event.ID, 10), Object: "event", Type: d.Event.Type,
		TeamID: d.Event.TeamID, CreatedAt: d.Event.CreatedAt, Data: d.Event.Data})
	if err != nil {
		return chorus.DeliveryResult{Error: err.Error()}
	}
	r := m.post(ctx, d, body)
	if r.Delivered || d.Attempt >= m.opts.Webhook.MaxAttempts {
		return r
	}
	backoff := m.opts.Webhook.Backoff << min(d.Attempt-1, 20)
	r.Retry = m.now().Add(min(backoff, time.Hour))
	return r
}

func (m *Meter) post(ctx context.Context, d *chorus.Delivery, body []byte) chorus.DeliveryResult {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Webhook.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return chorus.DeliveryResult{Error: err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Chorus-Webhook/1")
	h.Set("Chorus-Event-Id", "evt_"+strconv.FormatInt(d.Event.ID, 10))
	h.Set("Chorus-Event-Type", d.Event.Type)
	h.Set("Chorus-Delivery-Attempt", strconv.Itoa(d.Attempt))
	h.Set(SignatureHeader, Sign(d.Secret, m.now(), body))
	resp, err := m.hook.Do(req)
	if err != nil {
		return chorus.DeliveryResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return chorus.DeliveryResult{Status: resp.StatusCode, Delivered: true}
	}
	return chorus.DeliveryResult{Status: resp.StatusCode, Error: "HTTP " + strconv.Itoa(resp.StatusCode)}
}

// webhookClient returns the client webhooks are sent with: no redirects
// (a redirect could lead anywhere), and, unless allowed, no connections to
// loopback, private, link-local or unspecified addresses — checked on the
// address actually dialled, after DNS, so a name cannot point the gateway
// into its own network.
func webhookClient(c config.Webhook) *http.Client {
	dialer := &net.Dialer{Timeout: c.Timeout}
	if !c.AllowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || !publicIP(ip) {
				return fmt.Errorf("webhook address %s is not a public address (billing.webhook.allow_private)", host)
			}
			return nil
		}
	}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: c.Timeout,
		ResponseHeaderTimeout: c.Timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// publicIP reports whether ip is a global unicast address outside the
// private ranges.
func publicIP(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!(ip.To4() != nil && ip.To4()[0] == 100 && ip.To4()[1]&0xc0 == 64) // 100.64.0.0/10, carrier-grade NAT
}
