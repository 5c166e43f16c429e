package manage

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/periodic"
)

// Live updates: GET /api/events/stream is a server-sent event stream, per
// signed-in user, of the changes of their team that a console shows
// without reloading — balance, order and payment status, budget alerts,
// keys, budgets. Changes are read from the audit log (written in each
// change's own transaction) and the events table, so a change made on any
// instance reaches every instance's streams: each instance polls both,
// only while it has subscribers, every livePoll, and at once when
// PostgreSQL notifies a committed change (WakeLive). Each event's id is a
// cursor ("auditseq-eventid"); a client that reconnects with Last-Event-ID
// first gets what it missed from the database, then the live feed.

// LiveStore is what live updates need from the database.
type LiveStore interface {
	AuditAfter(ctx context.Context, seq int64, actions []string, teamID *int64, limit int) ([]*chorus.AuditEntry, error)
	LiveHead(ctx context.Context) (chorus.LiveCursor, error)
	ListEvents(ctx context.Context, f chorus.EventFilter, page chorus.Page) ([]*chorus.Event, error)
}

const (
	livePoll       = 250 * time.Millisecond
	liveBatch      = 500              // rows read per poll and per backfill query
	liveHeartbeat  = 15 * time.Second // a comment line keeps proxies from closing an idle stream
	liveBuffer     = 256              // events queued per stream; a stream that falls further behind is closed and resumes
	maxLiveStreams = 10_000           // per instance
)

// liveActions are the audited changes a console shows live.
func liveActions() []string {
	return []string{chorus.AuditOrderTransition, chorus.AuditRefund, chorus.AuditPaymentTransition,
		chorus.AuditCreditsGranted, chorus.AuditCodeRedeemed, chorus.AuditKeyCreated, chorus.AuditKeyRevoked,
		chorus.AuditKeyUpdated, chorus.AuditBudgetChanged}
}

func (s *Server) liveRoutes(mux *api.Mux) {
	s.handle(mux, "GET /api/events/stream", accessUser, s.liveStream)
}

// liveHub fans the changes it polls out to this instance's streams.
type liveHub struct {
	wakeOnce sync.Once
	wake     chan struct{} // WakeLive: poll now
	mu       sync.Mutex
	subs     map[*liveSub]struct{}
	cursor   chorus.LiveCursor // what has been polled
	fresh    bool              // cursor is current (false while nobody listens)
}

// wakeCh is the channel WakeLive signals.
func (h *liveHub) wakeCh() chan struct{} {
	h.wakeOnce.Do(func() { h.wake = make(chan struct{}, 1) })
	return h.wake
}

// WakeLive makes the live update poll run now rather than at its next
// tick: on PostgreSQL the wiring calls it on every notification of a
// committed change (store.LiveChannel), so a change made on any instance
// reaches every instance's streams within a round trip. It never blocks.
func (s *Server) WakeLive() {
	select {
	case s.live.wakeCh() <- struct{}{}:
	default: // a poll is due already
	}
}

// liveSub is one open stream: its team and its queue.
type liveSub struct {
	team int64
	ch   chan chorus.LiveEvent
}

// RunLive polls for changes and hands them to the open streams until ctx
// ends.
func (s *Server) RunLive(ctx context.Context) {
	periodic.EveryOrWake(ctx, livePoll, s.live.wakeCh(), func(ctx context.Context) {
		if err := s.pollLive(ctx); err != nil && ctx.Err() == nil {
			s.Logger.WarnContext(ctx, "live updates: poll failed", "err", err)
		}
	})
}

// pollLive reads the changes since the last poll and dispatches them. With
// no stream open it only forgets its position: the next stream to open
// sets it to the head (subscribe), so nobody gets changes made while
// nobody listened.
func (s *Server) pollLive(ctx context.Context) error {
	h := &s.live
	h.mu.Lock()
	if len(h.subs) == 0 {
		h.fresh = false
	}
	cur, fresh := h.cursor, h.fresh
	h.mu.Unlock()
	if !fresh {
		return nil
	}
	evs, next, err := s.liveAfter(ctx, cur, nil)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.fresh || h.cursor != cur {
		return nil // every stream closed meanwhile
	}
	h.cursor = next
	for _, ev := range evs {
		for sub := range h.subs {
			if sub.team != ev.TeamID {
				continue
			}
			select {
			case sub.ch <- ev:
			default: // too far behind: close it; the client resumes from its last id
				delete(h.subs, sub)
				close(sub.ch)
			}
		}
	}
	return nil
}

// liveAfter reads the live events after cur (of one team when team is not
// nil) and returns them with the cursor after them.
func (s *Server) liveAfter(ctx context.Context, cur chorus.LiveCursor, team *int64) ([]chorus.LiveEvent, chorus.LiveCursor, error) {
	entries, err := s.Store.AuditAfter(ctx, cur.Audit, liveActions(), team, liveBatch)
	if err != nil {
		return nil, cur, err
	}
	var out []chorus.LiveEvent
	for _, e := range entries {
		cur.Audit = e.Seq
		for _, ev := range liveFromAudit(e) {
			ev.Cursor, ev.TeamID = cur, e.TeamID
			out = append(out, ev)
		}
	}
	events, err := s.Store.ListEvents(ctx, chorus.EventFilter{TeamID: team}, chorus.Page{After: cur.Event, Limit: liveBatch})
	if err != nil {
		return nil, cur, err
	}
	for _, e := range events {
		cur.Event = e.ID
		out = append(out, chorus.LiveEvent{Cursor: cur, TeamID: e.TeamID, Type: "budget_alert",
			Data: map[string]any{"event_id": e.ID, "budget_id": e.BudgetID, "event": e.Type}})
	}
	return out, cur, nil
}

// liveFromAudit is what an audited change means to a console.
func liveFromAudit(e *chorus.AuditEntry) []chorus.LiveEvent {
	var d struct {
		To      string `json:"to"`
		OrderID int64  `json:"order_id"`
	}
	_ = json.Unmarshal(e.Details, &d)
	id, _ := strconv.ParseInt(e.TargetID, 10, 64)
	balance := chorus.LiveEvent{Type: "balance", Data: map[string]any{}}
	switch e.Action {
	case chorus.AuditOrderTransition, chorus.AuditRefund:
		order := chorus.LiveEvent{Type: "order", Data: map[string]any{"order_id": id, "status": d.To}}
		if d.To == chorus.OrderFulfilled || d.To == chorus.OrderRefunded {
			return []chorus.LiveEvent{order, balance}
		}
		return []chorus.LiveEvent{order}
	case chorus.AuditPaymentTransition:
		return []chorus.LiveEvent{{Type: "payment", Data: map[string]any{"payment_id": id, "order_id": d.OrderID, "status": d.To}}}
	case chorus.AuditCreditsGranted, chorus.AuditCodeRedeemed:
		return []chorus.LiveEvent{balance}
	case chorus.AuditKeyCreated, chorus.AuditKeyRevoked, chorus.AuditKeyUpdated:
		return []chorus.LiveEvent{{Type: "key", Data: map[string]any{"key_id": id}}}
	case chorus.AuditBudgetChanged:
		return []chorus.LiveEvent{{Type: "budget", Data: map[string]any{"budget_id": id}}}
	}
	return nil
}

// subscribe opens a stream's queue, or refuses when the instance holds
// too many. head is the stream's start: where the hub starts polling when
// it was idle (so no change after head is missed), and where a stream that
// does not resume starts.
func (s *Server) subscribe(team int64, head chorus.LiveCursor) (*liveSub, error) {
	h := &s.live
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = make(map[*liveSub]struct{})
	}
	if len(h.subs) >= maxLiveStreams {
		return nil, &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "Too many live update streams on this server; try again shortly.", RetryAfter: 5 * time.Second}
	}
	if !h.fresh {
		h.cursor, h.fresh = head, true
	}
	sub := &liveSub{team: team, ch: make(chan chorus.LiveEvent, liveBuffer)}
	h.subs[sub] = struct{}{}
	return sub, nil
}

// unsubscribe closes a stream's queue unless the hub dropped it already.
func (s *Server) unsubscribe(sub *liveSub) {
	h := &s.live
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[sub]; ok {
		delete(h.subs, sub)
		close(sub.ch)
	}
}

// liveStream serves GET /api/events/stream.
func (s *Server) liveStream(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	ctx := r.Context()
	team := p.TeamID()
	head, err := s.Store.LiveHead(ctx)
	if err != nil {
		return err
	}
	sub, err := s.subscribe(team, head)
	if err != nil {
		return err
	}
	defer s.unsubscribe(sub)
	last, resume := chorus.ParseLiveCursor(r.Header.Get("Last-Event-ID"))
	var missed []chorus.LiveEvent
	if resume {
		if missed, _, err = s.liveAfter(ctx, last, &team); err != nil {
			return err
		}
	} else {
		last = head
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &liveWriter{w: w, rc: http.NewResponseController(w), last: last}
	if !resume {
		sw.send(chorus.LiveEvent{Cursor: last, Type: "ready"}) // an id to resume from
	}
	for _, ev := range missed {
		sw.send(ev)
	}
	sw.flush()
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	for sw.err == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-s.draining:
			return nil // the client reconnects to another instance
		case <-beat.C:
			sw.comment("ping")
		case ev, ok := <-sub.ch:
			if !ok {
				return nil // fell behind; the client resumes from its last id
			}
			sw.send(ev)
		}
		sw.flush()
	}
	return nil
}

// liveWriter writes one stream's events, skipping any it sent already
// (the backfill and the live feed may overlap).
type liveWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	last chorus.LiveCursor
	sent map[string]bool // the types sent at last: one change can mean several events (an order fulfilled: order and balance)
	buf  []byte
	err  error
}

func (lw *liveWriter) send(ev chorus.LiveEvent) {
	if ev.Type != "ready" && ev.Cursor.Audit <= lw.last.Audit && ev.Cursor.Event <= lw.last.Event &&
		(ev.Cursor != lw.last || lw.sent[ev.Type]) {
		return
	}
	if ev.Cursor != lw.last {
		clear(lw.sent)
	}
	if lw.sent == nil {
		lw.sent = make(map[string]bool)
	}
	lw.sent[ev.Type] = true
	data := map[string]any{"type": ev.Type}
	for k, v := range ev.Data {
		data[k] = v
	}
	b, _ := json.Marshal(data)
	lw.last = chorus.LiveCursor{Audit: max(lw.last.Audit, ev.Cursor.Audit), Event: max(lw.last.Event, ev.Cursor.Event)}
	lw.buf = append(lw.buf, "id: "...)
	lw.buf = append(lw.buf, lw.last.String()...)
	lw.buf = append(lw.buf, "\ndata: "...)
	lw.buf = append(lw.buf, b...)
	lw.buf = append(lw.buf, "\n\n"...)
}

func (lw *liveWriter) comment(text string) {
	lw.buf = append(lw.buf, ": "+text+"\n\n"...)
}

func (lw *liveWriter) flush() {
	if lw.err != nil || len(lw.buf) == 0 {
		return
	}
	if _, lw.err = lw.w.Write(lw.buf); lw.err == nil {
		lw.err = lw.rc.Flush()
	}
	lw.buf = lw.buf[:0]
}
