package store

import (
	"context"
	"encoding/json"

	"github.com/chorusgw/chorus"
)

// appendAudit appends e to the hash-chained audit log inside tx, the
// transaction of the action it records, so that no action commits without
// its record (and a failed audit write fails the action). The actor is
// taken from ctx (chorus.ActorFromContext) when e.Actor is zero; Seq, At,
// PrevHash and Hash are set here.
//
// TODO(audit): chain and store the entry (placeholder until the audit log lands).
func appendAudit(ctx context.Context, tx *tx, e *chorus.AuditEntry) error {
	_ = ctx
	_ = tx
	_ = e
	return nil
}

// audit builds an entry for appendAudit. details may be nil, a
// json.RawMessage or any value encoding/json can encode; it must not hold
// secrets in the clear (see AuditSecret).
func auditEntry(action, targetType, targetID string, teamID int64, details any) *chorus.AuditEntry {
	e := &chorus.AuditEntry{Action: action, TargetType: targetType, TargetID: targetID, TeamID: teamID}
	if details != nil {
		e.Details = mustJSON(details)
	}
	return e
}

// mustJSON encodes v; audit details are plain data, so a failure is a bug
// and is recorded as such rather than dropping the entry.
func mustJSON(v any) json.RawMessage {
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"encode_error": err.Error()})
	}
	return b
}
