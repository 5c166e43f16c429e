package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
)

// codeAlphabet is base32 without the characters people confuse (0/O,
// 1/I): 8 digits and 24 letters.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// codeLen is the number of characters of a code (80 random bits), shown
// in groups of four: "ABCD-EFGH-JKLM-NPQR".
const codeLen = 16

// codeChunk is how many codes one INSERT carries.
const codeChunk = 500

// CreateCodeBatch validates b, generates b.Count random codes, stores their
// hashes, and sets b.ID, b.CreatedAt, b.CreatedBy (the actor in ctx) and
// b.Codes, in one transaction with its audit entry.
func (db *DB) CreateCodeBatch(ctx context.Context, b *chorus.CodeBatch) error {
	now := db.timeNow()
	switch {
	case b.Count < 1 || b.Count > chorus.MaxCodesPerBatch:
		return chorus.Invalid("count", "count must be 1 to %d", chorus.MaxCodesPerBatch)
	case b.Amount <= 0:
		return chorus.Invalid("amount", "amount must be a positive number of micro-credits")
	case b.MaxUses < 1 || b.MaxUses > chorus.MaxCodeUses:
		return chorus.Invalid("max_uses", "max_uses must be 1 to %d", chorus.MaxCodeUses)
	case b.ExpiresAt != nil && !b.ExpiresAt.After(now):
		return chorus.Invalid("expires_at", "expires_at must be in the future")
	case !utf8.ValidString(b.Memo) || utf8.RuneCountInString(b.Memo) > maxMemo:
		return chorus.Invalid("memo", "memo must be valid UTF-8 of at most %d characters", maxMemo)
	}
	codes := make([]string, b.Count)
	hashes := make([]any, 0, 2*codeChunk)
	for i := range codes {
		codes[i] = newCode()
	}
	b.CreatedAt, b.ExpiresAt, b.DisabledAt, b.Uses = now, normTimePtr(b.ExpiresAt), nil, 0
	b.CreatedBy = chorus.ActorFromContext(ctx).UserID

	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.queryRow(ctx, `INSERT INTO code_batches (memo, amount, max_uses, code_count, expires_at, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		b.Memo, b.Amount, b.MaxUses, b.Count, b.ExpiresAt, b.CreatedBy, b.CreatedAt).Scan(&b.ID); err != nil {
		return fmt.Errorf("create code batch: %w", err)
	}
	for start := 0; start < len(codes); start += codeChunk {
		chunk := codes[start:min(start+codeChunk, len(codes))]
		hashes = hashes[:0]
		for _, c := range chunk {
			hashes = append(hashes, b.ID, codeHash(c))
		}
		q := `INSERT INTO redemption_codes (batch_id, code_hash) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, len(chunk)-1)
		if _, err := tx.exec(ctx, q, hashes...); err != nil {
			return fmt.Errorf("create code batch: codes: %w", err)
		}
	}
	e := auditEntry(chorus.AuditCodeBatchCreated, "code_batch", strconv.FormatInt(b.ID, 10), 0, map[string]any{
		"count": b.Count, "amount": b.Amount, "max_uses": b.MaxUses, "expires_at": b.ExpiresAt, "memo": b.Memo,
	})
	if err := appendAudit(ctx, tx, e); err != nil {
		return err
	}
	if err := commit(tx); err != nil {
		return err
	}
	b.Codes = codes
	return nil
}

// ListCodeBatches returns one page of batches in ID order, with their uses
// so far; the codes themselves are not kept.
func (db *DB) ListCodeBatches(ctx context.Context, page chorus.Page) ([]*chorus.CodeBatch, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT b.id, b.memo, b.amount, b.max_uses, b.code_count, b.expires_at, b.disabled_at,
			b.created_by, b.created_at,
			COALESCE((SELECT CAST(SUM(c.uses) AS BIGINT) FROM redemption_codes c WHERE c.batch_id = b.id), 0)
		FROM code_batches b WHERE b.id > ? ORDER BY b.id LIMIT ?`, page.After, limit(page))
	if err != nil {
		return nil, fmt.Errorf("list code batches: %w", err)
	}
	defer rows.Close()
	out := []*chorus.CodeBatch{}
	for rows.Next() {
		b := &chorus.CodeBatch{}
		if err := rows.Scan(&b.ID, &b.Memo, &b.Amount, &b.MaxUses, &b.Count, scanNullTime(&b.ExpiresAt),
			scanNullTime(&b.DisabledAt), &b.CreatedBy, scanTime(&b.CreatedAt), &b.Uses); err != nil {
			return nil, fmt.Errorf("list code batches: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list code batches: %w", err)
	}
	return out, nil
}

// DisableCodeBatch stops every code of a batch from being redeemed
// (ENOTFOUND if there is no such batch). Disabling a disabled batch changes
// nothing and is not an error.
func (db *DB) DisableCodeBatch(ctx context.Context, id int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `UPDATE code_batches SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL`, db.timeNow(), id)
	if err != nil {
		return fmt.Errorf("disable code batch: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		var exists int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM code_batches WHERE id = ?`, id).Scan(&exists); err != nil {
			return fmt.Errorf("disable code batch: %w", err)
		}
		if exists == 0 {
			return notFound("code batch %d not found", id)
		}
		return nil
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditCodeBatchDisabled, "code_batch", strconv.FormatInt(id, 10), 0, nil)); err != nil {
		return err
	}
	return commit(tx)
}

// errCodeInvalid is the one answer for a code that does not exist, is
// disabled or has expired, so that guessing learns nothing more.
func errCodeInvalid() error { return chorus.Invalid("code", "code is invalid or expired") }

// Redeem credits a team's wallet with a code's amount (promotions →
// wallet), in one transaction with the code's use count, the redemption
// record and the audit entry. A code is redeemed at most once per team and
// at most MaxUses times in all: a second redemption by the same team is
// ECONFLICT ("already redeemed"), one beyond the limit ECONFLICT ("fully
// redeemed"); an unknown, disabled or expired code is EINVALID.
func (db *DB) Redeem(ctx context.Context, teamID int64, code string) (*chorus.Posting, error) {
	norm, ok := normCode(code)
	if !ok {
		return nil, errCodeInvalid()
	}
	now := db.timeNow()
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c, err := redeemableCode(ctx, tx, norm, now)
	if err != nil {
		return nil, err
	}
	if err := checkNotRedeemed(ctx, tx, c.codeID, teamID); err != nil {
		return nil, err
	}
	if err := useCode(ctx, tx, c); err != nil {
		return nil, err
	}
	p, err := postRedemption(ctx, tx, c, teamID, now)
	if err != nil {
		return nil, err
	}
	if err := recordRedemption(ctx, tx, c.codeID, teamID, p.ID, now); err != nil {
		return nil, err
	}
	e := auditEntry(chorus.AuditCodeRedeemed, "code", strconv.FormatInt(c.codeID, 10), teamID, map[string]any{
		"batch_id": c.batchID, "amount": c.amount, "posting_id": p.ID,
	})
	if err := appendAudit(ctx, tx, e); err != nil {
		return nil, err
	}
	if err := commit(tx); err != nil {
		return nil, err
	}
	return p, nil
}

// errAlreadyRedeemed is the answer to a team redeeming a code a second time.
func errAlreadyRedeemed() error {
	return chorus.Errorf(chorus.ECONFLICT, "your team has already redeemed this code")
}

// redeemable is a code with its batch's terms.
type redeemable struct {
	codeID, batchID, amount, maxUses int64
	memo                             string
}

// redeemableCode looks up the normalised code. Unknown, disabled and
// expired codes are all errCodeInvalid.
func redeemableCode(ctx context.Context, tx *tx, norm string, now time.Time) (redeemable, error) {
	var c redeemable
	var expires, disabled *time.Time
	err := tx.queryRow(ctx, `SELECT c.id, b.id, b.amount, b.max_uses, b.memo, b.expires_at, b.disabled_at
		FROM redemption_codes c JOIN code_batches b ON b.id = c.batch_id WHERE c.code_hash = ?`, codeHash(norm)).
		Scan(&c.codeID, &c.batchID, &c.amount, &c.maxUses, &c.memo, scanNullTime(&expires), scanNullTime(&disabled))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, errCodeInvalid()
	case err != nil:
		return c, fmt.Errorf("redeem: %w", err)
	case disabled != nil || (expires != nil && !now.Before(*expires)):
		return c, errCodeInvalid()
	}
	return c, nil
}

// checkNotRedeemed fails with errAlreadyRedeemed when the team has redeemed
// the code before.
func checkNotRedeemed(ctx context.Context, tx *tx, codeID, teamID int64) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM code_redemptions WHERE code_id = ? AND team_id = ?`,
		codeID, teamID).Scan(&n); err != nil {
		return fmt.Errorf("redeem: %w", err)
	}
	if n > 0 {
		return errAlreadyRedeemed()
	}
	return nil
}

// useCode counts one more use of the code, or fails when it has been used
// MaxUses times. The conditional increment is the limit: on PostgreSQL
// concurrent redeemers queue on the code's row and each re-checks
// uses < max_uses against the committed count.
func useCode(ctx context.Context, tx *tx, c redeemable) error {
	res, err := tx.exec(ctx, `UPDATE redemption_codes SET uses = uses + 1 WHERE id = ? AND uses < ?`, c.codeID, c.maxUses)
	if err != nil {
		return fmt.Errorf("redeem: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n == 0 {
		return chorus.Errorf(chorus.ECONFLICT, "this code has been fully redeemed")
	}
	return nil
}

// postRedemption moves the code's amount from promotions to the team's
// wallet.
func postRedemption(ctx context.Context, tx *tx, c redeemable, teamID int64, now time.Time) (*chorus.Posting, error) {
	p := &chorus.Posting{
		IdempotencyKey: fmt.Sprintf("code:%d:team:%d", c.codeID, teamID),
		Kind:           chorus.PostingRedemption,
		TeamID:         teamID,
		Memo:           c.memo,
		Ref:            "code:" + strconv.FormatInt(c.codeID, 10),
		Entries: []chorus.LedgerEntry{
			{Account: chorus.AccountPromotions, Amount: -c.amount},
			{Account: chorus.WalletAccount(teamID), Amount: c.amount},
		},
		CreatedAt: now,
	}
	created, err := postTx(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	if !created {
		// The same team redeemed it concurrently and committed first.
		return nil, errAlreadyRedeemed()
	}
	return p, nil
}

// recordRedemption records that the team redeemed the code with the
// posting.
func recordRedemption(ctx context.Context, tx *tx, codeID, teamID, postingID int64, now time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO code_redemptions (code_id, team_id, posting_id, created_at) VALUES (?, ?, ?, ?)`,
		codeID, teamID, postingID, now)
	switch {
	case tx.d.isUnique(err):
		return errAlreadyRedeemed()
	case err != nil:
		return fmt.Errorf("redeem: %w", err)
	}
	return nil
}

// newCode returns a random code, grouped for reading: "ABCD-EFGH-JKLM-NPQR".
func newCode() string {
	var raw [codeLen]byte
	rand.Read(raw[:]) // never fails (crypto/rand since Go 1.24)
	var b strings.Builder
	for i, r := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(codeAlphabet[r&31]) // 256 is a multiple of 32: no bias
	}
	return b.String()
}

// normCode returns a code as it is hashed: upper case, without dashes or
// spaces; ok is false unless it has the shape of a code.
func normCode(code string) (string, bool) {
	if len(code) > 4*codeLen {
		return "", false
	}
	var b strings.Builder
	for _, r := range code {
		switch {
		case r == '-' || r == ' ':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(codeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != codeLen {
		return "", false
	}
	return b.String(), true
}

// codeHash is what is stored of a code: the SHA-256 of its normal form.
func codeHash(code string) []byte {
	norm, ok := normCode(code)
	if !ok {
		norm = code
	}
	h := sha256.Sum256([]byte(norm))
	return h[:]
}
