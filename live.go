package chorus

import (
	"strconv"
	"strings"
)

// LiveEvent is a change a signed-in console shows without reloading: a
// balance that moved, an order or payment that changed state, a budget
// alert, a key made or revoked. Live events are read from the audit log and
// the events table, so a change is live exactly when it committed.
type LiveEvent struct {
	Cursor LiveCursor     // where the stream stands after this event
	TeamID int64          // the team it concerns
	Type   string         // balance, order, payment, key, budget, budget_alert
	Data   map[string]any // what changed (ids, the new status); "type" is added on the wire
}

// LiveCursor is a position in the live event stream: the last audit entry
// (seq) and the last event (id) read. Its text form "seq-id" is the SSE
// event id a client resumes from (Last-Event-ID).
type LiveCursor struct {
	Audit int64
	Event int64
}

// String is the cursor's text form.
func (c LiveCursor) String() string {
	return strconv.FormatInt(c.Audit, 10) + "-" + strconv.FormatInt(c.Event, 10)
}

// ParseLiveCursor reads a cursor's text form; ok is false for anything
// else.
func ParseLiveCursor(s string) (c LiveCursor, ok bool) {
	a, e, found := strings.Cut(s, "-")
	if !found {
		return c, false
	}
	var err1, err2 error
	c.Audit, err1 = strconv.ParseInt(a, 10, 64)
	c.Event, err2 = strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || c.Audit < 0 || c.Event < 0 {
		return LiveCursor{}, false
	}
	return c, true
}
