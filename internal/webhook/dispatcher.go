// Package webhook delivers the events of the database's outbox — budget
// alerts — to the URLs their owners set: a JSON POST of the event, signed
// with the budget's secret (shown once, when the budget or its URL was
// created, or the secret rotated):
//
//	Chorus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//
// A receiver recomputes the HMAC over the timestamp, a dot and the raw body,
// compares in constant time, and refuses timestamps too old (Verify does
// all three). Deliveries live in the database (an outbox written in the
// transaction that raised the event); any instance's Dispatcher sends them,
// retrying failures with exponential backoff up to
// billing.webhook.max_attempts, and records each attempt. It sends them
// through a client that refuses private addresses unless
// billing.webhook.allow_private is set.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/periodic"
)

// Store is what the dispatcher needs from the database.
type Store interface {
	ClaimDeliveries(ctx context.Context, limit int, claim time.Duration) ([]*chorus.Delivery, error)
	FinishDelivery(ctx context.Context, id int64, r chorus.DeliveryResult) error
}

// Options configure a Dispatcher.
type Options struct {
	// Webhook is the billing.webhook section: attempt timeout, attempts,
	// backoff, poll period, private addresses.
	config.Webhook
	Logger *slog.Logger // failed deliveries; nil discards them
	Now    func() time.Time
	// HTTPClient sends webhooks; nil builds one that honours
	// Webhook.AllowPrivate and Webhook.Timeout.
	HTTPClient *http.Client
}

// Body is the JSON a webhook carries.
type Body struct {
	ID        string          `json:"id"` // "evt_<id>": the same on every retry
	Object    string          `json:"object"`
	Type      string          `json:"type"`
	TeamID    int64           `json:"team_id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Dispatcher sends due deliveries in the background from Start until
// Close, every Webhook.Poll and whenever Kick says one may be due. Its
// methods are safe for concurrent use.
type Dispatcher struct {
	db     Store
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	client *http.Client

	delivered, failed atomic.Int64
	claimFailing      bool // the loop's: claims fail (the database is away); logged once

	wake    chan struct{} // a delivery may be due
	stop    context.CancelFunc
	done    chan struct{}
	closing sync.Once
}

// Stats are the dispatcher's counters since it started.
type Stats struct {
	Delivered int64 // webhooks delivered
	Failed    int64 // webhook attempts that failed
}

// New returns a dispatcher; Start runs it and Close stops it.
func New(db Store, opts Options) *Dispatcher {
	d := &Dispatcher{db: db, opts: opts, log: opts.Logger, now: opts.Now, client: opts.HTTPClient, wake: make(chan struct{}, 1)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.client == nil {
		d.client = newClient(opts.Webhook)
	}
	return d
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{Delivered: d.delivered.Load(), Failed: d.failed.Load()}
}

// Kick wakes the dispatcher: a delivery may be due. It never blocks.
func (d *Dispatcher) Kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start sends due deliveries in the background until Close.
func (d *Dispatcher) Start(ctx context.Context) {
	ctx, d.stop = context.WithCancel(context.WithoutCancel(ctx))
	d.done = make(chan struct{})
	go func() { defer close(d.done); d.loop(ctx) }()
}

// Close stops the background work, waiting for the attempt in flight.
func (d *Dispatcher) Close() {
	d.closing.Do(func() {
		if d.stop != nil {
			d.stop()
			<-d.done
		}
	})
}

// loop sends due webhooks until ctx ends.
func (d *Dispatcher) loop(ctx context.Context) {
	periodic.EveryOrWake(ctx, d.opts.Poll, d.wake, func(ctx context.Context) {
		for d.dispatch(ctx) {
		}
	})
}

// dispatchBatch is how many deliveries one claim takes.
const dispatchBatch = 20

// dispatch claims and sends one batch of due deliveries; it reports
// whether there may be more.
func (d *Dispatcher) dispatch(ctx context.Context) bool {
	// A claim outlasts an attempt, so no other instance sends it meanwhile.
	ds, err := d.db.ClaimDeliveries(ctx, dispatchBatch, 2*d.opts.Timeout+10*time.Second)
	if err != nil {
		if ctx.Err() == nil && !d.claimFailing {
			d.claimFailing = true
			d.log.Warn("billing: claiming webhook deliveries failed; retrying every poll", "err", err)
		}
		return false
	}
	if d.claimFailing {
		d.claimFailing = false
		d.log.Info("billing: claiming webhook deliveries works again")
	}
	for _, dl := range ds {
		r := d.deliver(ctx, dl)
		if !r.Delivered {
			d.failed.Add(1)
			if r.Retry.IsZero() {
				d.log.Warn("billing: webhook delivery failed for good", "delivery", dl.ID, "budget", dl.BudgetID, "attempts", dl.Attempt, "err", r.Error)
			}
		} else {
			d.delivered.Add(1)
		}
		if err := d.db.FinishDelivery(context.WithoutCancel(ctx), dl.ID, r); err != nil {
			d.log.Warn("billing: recording a webhook delivery failed", "delivery", dl.ID, "err", err)
		}
	}
	return len(ds) == dispatchBatch && ctx.Err() == nil
}

// deliver makes one attempt.
func (d *Dispatcher) deliver(ctx context.Context, dl *chorus.Delivery) chorus.DeliveryResult {
	if dl.Secret == "" {
		return chorus.DeliveryResult{Error: "the budget was deleted or has no webhook secret"}
	}
	body, err := json.Marshal(Body{ID: "evt_" + strconv.FormatInt(dl.Event.ID, 10), Object: "event", Type: dl.Event.Type,
		TeamID: dl.Event.TeamID, CreatedAt: dl.Event.CreatedAt, Data: dl.Event.Data})
	if err != nil {
		return chorus.DeliveryResult{Error: err.Error()}
	}
	r := d.post(ctx, dl, body)
	if r.Delivered || dl.Attempt >= d.opts.MaxAttempts {
		return r
	}
	backoff := d.opts.Backoff << min(dl.Attempt-1, 20)
	r.Retry = d.now().Add(min(backoff, time.Hour))
	return r
}

func (d *Dispatcher) post(ctx context.Context, dl *chorus.Delivery, body []byte) chorus.DeliveryResult {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(body))
	if err != nil {
		return chorus.DeliveryResult{Error: err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Chorus-Webhook/1")
	h.Set("Chorus-Event-Id", "evt_"+strconv.FormatInt(dl.Event.ID, 10))
	h.Set("Chorus-Event-Type", dl.Event.Type)
	h.Set("Chorus-Delivery-Attempt", strconv.Itoa(dl.Attempt))
	h.Set(SignatureHeader, Sign(dl.Secret, d.now(), body))
	resp, err := d.client.Do(req)
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
