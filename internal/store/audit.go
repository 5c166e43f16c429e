package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/audit"
)

// The audit log is a hash chain (package audit) in the table audit_log, with
// its last seq and hash in the one row of audit_head. An append takes the
// head row (UPDATE … RETURNING), so appends from every goroutine and every
// instance on one database queue there and form one unbroken chain.

// Meta keys of the audit log.
const (
	metaAuditHMACKey      = "audit.hmac_key"      // hex; the fallback HMAC key when Options.AuditKey is nil
	metaAuditConfigDigest = "audit.config_digest" // the digest of the last recorded configuration
)

// auditBatch is how many entries VerifyAudit reads per query.
const auditBatch = 1000

// auditTimeout bounds a standalone audit write (DB.Audit), which does not
// stop when the request that caused it is cancelled.
const auditTimeout = 30 * time.Second

const auditColumns = `seq, at, actor_user_id, actor_key_id, actor_session_id, actor_ip, actor_request_id,
	actor_system, action, target_type, target_id, team_id, details, prev_hash, hash`

// auditKeys holds the key of the audit log's HMACs (see DB.auditSecret).
type auditKeys struct {
	configured []byte // Options.AuditKey
	mu         sync.Mutex
	stored     []byte // the per-database key from the meta table, once read
}

// appendAudit appends e to the hash-chained audit log inside tx, the
// transaction of the action it records, so that no action commits without
// its record (and a failed audit write fails the action). The actor is
// taken from ctx (chorus.ActorFromContext) when e.Actor is zero; Seq, At,
// PrevHash and Hash are set here, and the other fields normalised
// (audit.Normalize).
//
// Call it last, just before commit: it locks the head of the chain until
// the transaction ends, so every other audited transaction waits for this
// one from here on; taking it last keeps that wait short and the lock order
// the same everywhere (registry_version, then audit_head).
func appendAudit(ctx context.Context, tx *tx, e *chorus.AuditEntry) error {
	if e.Action == "" {
		return errors.New("append audit: the action is required")
	}
	if e.Actor == (chorus.Actor{}) {
		e.Actor = chorus.ActorFromContext(ctx)
	}
	e.At = tx.now()
	if err := audit.Normalize(e); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	var prev []byte
	err := tx.queryRow(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&e.Seq, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return errors.New("append audit: the audit head row is missing; the audit log needs repair (chorus audit verify)")
	}
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	audit.Seal(e, prev)
	if _, err := tx.exec(ctx, `INSERT INTO audit_log (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.At, e.Actor.UserID, e.Actor.KeyID, e.Actor.SessionID, e.Actor.IP, e.Actor.RequestID,
		e.Actor.System, e.Action, e.TargetType, e.TargetID, e.TeamID, string(e.Details), e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE audit_head SET hash = ? WHERE id = 1`, e.Hash); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if e.TeamID != 0 { // what a team's console may show live
		return notifyLive(ctx, tx)
	}
	return nil
}

// lockAuditHead takes the head row of the audit log for the rest of tx,
// for a transaction that must read something only appenders change.
func lockAuditHead(ctx context.Context, tx *tx) error {
	if _, err := tx.exec(ctx, `UPDATE audit_head SET seq = seq WHERE id = 1`); err != nil {
		return fmt.Errorf("lock audit head: %w", err)
	}
	return nil
}

// auditEntry builds an entry for appendAudit. details may be nil, a
// json.RawMessage or any value encoding/json can encode; it must not hold
// secrets in the clear (see DB.auditSecret).
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

// idString formats an ID as an audit target ID.
func idString(id int64) string { return strconv.FormatInt(id, 10) }

// Audit appends a standalone entry to the audit log, for an event that
// writes nothing else (a failed login, say). The actor comes from ctx when
// e.Actor is zero; Seq, At, PrevHash and Hash are set. The write is not
// cancelled with ctx: a client that hangs up cannot prevent its record.
func (db *DB) Audit(ctx context.Context, e *chorus.AuditEntry) error {
	if strings.TrimSpace(e.Action) == "" {
		return chorus.Invalid("action", "audit action is required")
	}
	if _, err := audit.Canonical(e.Details); err != nil {
		return chorus.Invalid("details", "audit details must be JSON: %v", err)
	}
	if e.Actor == (chorus.Actor{}) {
		e.Actor = chorus.ActorFromContext(ctx)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := appendAudit(ctx, tx, e); err != nil {
		return err
	}
	return commit(tx)
}

// auditSecret returns the HMAC (audit.HMAC) of a secret for audit details,
// under Options.AuditKey or, without one, a random key generated once per
// database and kept in the meta table. It may write that key in a
// transaction of its own, so call it before beginning the action's
// transaction (SQLite has one write connection).
// AuditSecret returns the HMAC that stands for secret in the audit log.
func (db *DB) AuditSecret(ctx context.Context, secret string) (string, error) {
	return db.auditSecret(ctx, secret)
}

func (db *DB) auditSecret(ctx context.Context, secret string) (string, error) {
	key, err := db.auditHMACKey(ctx)
	if err != nil {
		return "", err
	}
	return audit.HMAC(key, secret), nil
}

func (db *DB) auditHMACKey(ctx context.Context) ([]byte, error) {
	if len(db.auditKeys.configured) > 0 {
		return db.auditKeys.configured, nil
	}
	db.auditKeys.mu.Lock()
	defer db.auditKeys.mu.Unlock()
	if db.auditKeys.stored != nil {
		return db.auditKeys.stored, nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	fresh := make([]byte, 32)
	rand.Read(fresh)
	// Another instance may have stored one first: keep theirs.
	if _, err := tx.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
		metaAuditHMACKey, hex.EncodeToString(fresh)); err != nil {
		return nil, fmt.Errorf("audit hmac key: %w", err)
	}
	var v string
	if err := tx.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, metaAuditHMACKey).Scan(&v); err != nil {
		return nil, fmt.Errorf("audit hmac key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("audit hmac key: meta %q is not a hex key", metaAuditHMACKey)
	}
	if err := commit(tx); err != nil {
		return nil, err
	}
	db.auditKeys.stored = key
	return key, nil
}

// ListAudit returns one page of audit entries matching f, newest (highest
// seq) first.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListAudit(ctx context.Context, f chorus.AuditFilter, page chorus.AuditPage) ([]*chorus.AuditEntry, error) {
	where, args, err := auditWhere(f, page)
	if err != nil {
		return nil, err
	}
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	args = append(args, limit(chorus.Page{Limit: page.Limit}))
	es, err := queryAudit(ctx, tx, where+` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return es, nil
}

func auditWhere(f chorus.AuditFilter, page chorus.AuditPage) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	switch {
	case page.Before < 0:
		return "", nil, chorus.Invalid("before", "before must be a positive seq")
	case page.Before > 0:
		add(`seq < ?`, page.Before)
	}
	if f.ActorUserID != nil {
		add(`actor_user_id = ?`, *f.ActorUserID)
	}
	if prefix, ok := strings.CutSuffix(f.Action, "."); ok {
		// A range over the byte order of action (the column's collation):
		// '/' is the byte after '.'.
		add(`action >= ? AND action < ?`, f.Action, prefix+"/")
	} else if f.Action != "" {
		add(`action = ?`, f.Action)
	}
	switch {
	case f.TargetID != "" && f.TargetType == "":
		return "", nil, chorus.Invalid("target_id", "target_id needs target_type")
	case f.TargetType != "":
		add(`target_type = ?`, f.TargetType)
		if f.TargetID != "" {
			add(`target_id = ?`, f.TargetID)
		}
	}
	if f.TeamID != nil {
		add(`team_id = ?`, *f.TeamID)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return "", nil, chorus.Invalid("until", "until must be after since")
	}
	if !f.Since.IsZero() {
		add(`at >= ?`, f.Since)
	}
	if !f.Until.IsZero() {
		add(`at < ?`, f.Until)
	}
	if len(conds) == 0 {
		return "", args, nil
	}
	return `WHERE ` + strings.Join(conds, ` AND `), args, nil
}

func queryAudit(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.AuditEntry, error) {
	rows, err := tx.query(ctx, `SELECT `+auditColumns+` FROM audit_log `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.AuditEntry
	for rows.Next() {
		var e chorus.AuditEntry
		var details string
		if err := rows.Scan(&e.Seq, scanTime(&e.At), &e.Actor.UserID, &e.Actor.KeyID, &e.Actor.SessionID,
			&e.Actor.IP, &e.Actor.RequestID, &e.Actor.System, &e.Action, &e.TargetType, &e.TargetID,
			&e.TeamID, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		if details != "" {
			e.Details = json.RawMessage(details)
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

// VerifyAudit reads the whole audit log in seq order, in batches so that
// memory stays bounded however long it is, and checks the hash chain and
// its head. Tampering is reported in the AuditReport (the first problem:
// a modified, deleted, reordered or rewritten entry, or a truncated tail);
// the error is for failures to read. Entries appended while it runs are
// verified too.
func (db *DB) VerifyAudit(ctx context.Context) (chorus.AuditReport, error) {
	var v audit.Verifier
	var rep chorus.AuditReport
	after := int64(0)
	for {
		es, head, err := db.readAuditBatch(ctx, after)
		if err != nil {
			return rep, fmt.Errorf("verify audit: %w", err)
		}
		for _, e := range es {
			if p := v.Add(e); p != nil {
				return db.auditProblem(ctx, &v, p)
			}
		}
		if head == nil {
			after = es[len(es)-1].Seq
			continue
		}
		rep.Entries, rep.HeadSeq, rep.HeadHash = v.Entries(), head.Seq, hex.EncodeToString(head.Hash)
		if p := v.End(head.Seq, head.Hash); p != nil {
			rep.Problem = p
			return rep, nil
		}
		rep.OK = true
		return rep, nil
	}
}

// readAuditBatch reads the entries after seq after, and, with the last batch
// (fewer than auditBatch entries), the head in the same snapshot.
func (db *DB) readAuditBatch(ctx context.Context, after int64) ([]*chorus.AuditEntry, *chorus.AuditEntry, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	es, err := queryAudit(ctx, tx, `WHERE seq > ? ORDER BY seq LIMIT ?`, after, auditBatch)
	if err != nil || len(es) == auditBatch {
		return es, nil, err
	}
	head, err := auditHead(ctx, tx)
	return es, head, err
}

// auditHead reads the head row: the seq and hash of the last entry.
func auditHead(ctx context.Context, tx *tx) (*chorus.AuditEntry, error) {
	var h chorus.AuditEntry
	err := tx.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("the audit head row is missing")
	}
	if err != nil {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	return &h, nil
}

// auditProblem reports a problem found before the end of the chain, with
// the stored head (or without it when that cannot be read either).
func (db *DB) auditProblem(ctx context.Context, v *audit.Verifier, p *audit.Problem) (chorus.AuditReport, error) {
	rep := chorus.AuditReport{Entries: v.Entries(), Problem: p}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return rep, nil
	}
	defer tx.Rollback()
	if head, err := auditHead(ctx, tx); err == nil {
		rep.HeadSeq, rep.HeadHash = head.Seq, hex.EncodeToString(head.Hash)
	}
	return rep, nil
}

// RecordConfig appends a config.changed entry (actor system "config") when
// digest, a digest of the effective configuration without its secrets,
// differs from the last one recorded, and remembers it; it reports whether
// it did. summary (plain data, no secrets) goes into the entry's details.
// Instances starting together record one change, not one each.
func (db *DB) RecordConfig(ctx context.Context, digest string, summary any) (changed bool, err error) {
	if strings.TrimSpace(digest) == "" {
		return false, chorus.Invalid("digest", "config digest is required")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// Other instances wait here, and then see this one's digest.
	if err := lockAuditHead(ctx, tx); err != nil {
		return false, err
	}
	var prev string
	err = tx.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, metaAuditConfigDigest).Scan(&prev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("record config: %w", err)
	case prev == digest:
		return false, nil
	}
	if _, err := tx.exec(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaAuditConfigDigest, digest); err != nil {
		return false, fmt.Errorf("record config: %w", err)
	}
	details := map[string]any{"digest": digest, "summary": summary}
	if prev != "" {
		details["previous_digest"] = prev
	}
	e := auditEntry(chorus.AuditConfigChanged, "config", digest, 0, details)
	e.Actor = chorus.Actor{System: "config"}
	if err := appendAudit(ctx, tx, e); err != nil {
		return false, err
	}
	if err := commit(tx); err != nil {
		return false, err
	}
	return true, nil
}

// Details of the registry and key entries: what changed, never a secret.
// Deployment headers may carry upstream credentials, so only their names
// are recorded; a key is named by its prefix, never its secret or hash.

func modelDetails(m *chorus.Model) map[string]any {
	return map[string]any{"name": m.Name, "kind": m.Kind, "enabled": m.Enabled, "context_window": m.ContextWindow,
		"max_output_tokens": m.MaxOutput, "max_tokens_policy": m.MaxTokensPolicy, "owned_by": m.OwnedBy}
}

func deploymentDetails(d *chorus.Deployment) map[string]any {
	headers := make([]string, 0, len(d.Headers))
	for h := range d.Headers {
		headers = append(headers, h)
	}
	slices.Sort(headers)
	settings := make([]string, 0, len(d.Settings))
	for s := range d.Settings {
		settings = append(settings, s)
	}
	slices.Sort(settings)
	return map[string]any{"name": d.Name, "model_id": d.ModelID, "provider": d.Provider,
		"upstream_model": d.UpstreamModel, "base_url": d.BaseURL, "credential_id": d.CredentialID,
		"header_names": headers, "setting_names": settings, "input_price": d.InputPrice,
		"output_price": d.OutputPrice, "cached_input_price": d.CachedInputPrice, "cache_write_price": d.CacheWritePrice,
		"reasoning_price": d.ReasoningPrice, "weight": d.Weight, "enabled": d.Enabled}
}

func routeDetails(r *chorus.Route) map[string]any {
	return map[string]any{"name": r.Name, "strategy": r.Strategy, "targets": r.Targets, "config": r.Config, "enabled": r.Enabled}
}

func keyDetails(k *chorus.APIKey) map[string]any {
	return map[string]any{"name": k.Name, "prefix": k.Prefix, "user_id": k.UserID, "allowed_models": k.AllowedModels,
		"expires_at": k.ExpiresAt, "cache_ttl_s": k.CacheTTLSeconds}
}
