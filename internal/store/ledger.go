package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
)

// Ledger limits.
const (
	maxIdempotencyKey = 200 // characters
	maxMemo           = 500 // characters
	maxRef            = 200 // characters
	maxEntries        = 16  // legs of one posting
)

// systemAccounts are the ledger's fixed accounts.
var systemAccounts = map[string]bool{
	chorus.AccountRevenue:    true,
	chorus.AccountPayments:   true,
	chorus.AccountPromotions: true,
	chorus.AccountRefunds:    true,
}

// systemShards is how many rows hold each system account. Every posting
// updates its accounts' balance rows, and a row update holds the row's lock
// until commit: with one revenue row, every team's strict-mode settlement
// would queue behind every other's. A system account is the sum of its
// shards; a posting uses the shard of its team (teamID mod systemShards),
// so one team's postings stay in order on one row while different teams'
// spread over the shards. Entries read back name the account, not the shard.
const systemShards = 16

// accountRow returns the ledger_accounts row an entry of the posting's team
// moves: a wallet's own row, or a system account's shard.
func accountRow(account string, teamID int64) string {
	if !systemAccounts[account] {
		return account
	}
	shard := teamID % systemShards
	if shard < 0 {
		shard = -shard
	}
	return account + "#" + strconv.FormatInt(shard, 10)
}

// accountName returns the account a ledger_accounts row belongs to: the
// row's name without its shard.
func accountName(row string) string {
	if i := strings.IndexByte(row, '#'); i >= 0 && systemAccounts[row[:i]] {
		return row[:i]
	}
	return row
}

// postingKinds are the kinds a posting may have.
var postingKinds = map[string]bool{
	chorus.PostingTopUp:      true,
	chorus.PostingSpend:      true,
	chorus.PostingRefund:     true,
	chorus.PostingRedemption: true,
	chorus.PostingGrant:      true,
}

// Post applies p in a transaction of its own (see postTx). A grant that
// moves credits is recorded in the audit log in the same transaction; the
// other kinds are audited by the action that causes them (an order, a
// redemption) or, for spends, not at all (usage records them).
func (db *DB) Post(ctx context.Context, p *chorus.Posting) (created bool, err error) {
	if err := validatePosting(p); err != nil {
		return false, err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	created, err = postTx(ctx, tx, p)
	if err != nil || !created {
		return false, err
	}
	if p.Kind == chorus.PostingGrant {
		e := auditEntry(chorus.AuditCreditsGranted, "posting", strconv.FormatInt(p.ID, 10), p.TeamID, map[string]any{
			"idempotency_key": p.IdempotencyKey, "entries": p.Entries, "memo": p.Memo, "allow_negative": p.AllowNegative,
		})
		if err := appendAudit(ctx, tx, e); err != nil {
			return false, err
		}
	}
	if err := commit(tx); err != nil {
		return false, err
	}
	return true, nil
}

// postTx applies p inside tx: validates it, is idempotent on
// p.IdempotencyKey (same key and same content returns the first posting in
// p, created=false, and moves nothing; same key and different content is
// ECONFLICT), creates accounts lazily, updates the balances, and fails with
// EQUOTA (type insufficient_quota) if a team wallet would go below zero
// unless p.AllowNegative. It sets p.ID, p.CreatedAt (when zero: the
// store's clock) and p.TeamID (when zero and exactly one wallet takes
// part).
//
// Content is everything stored: kind, team, memo, ref and the entries (in
// any order). On PostgreSQL, a concurrent posting with the same key waits
// for the first to commit and then compares with it; balances are updated
// in ascending account ID order, so postings never deadlock each other.
func postTx(ctx context.Context, tx *tx, p *chorus.Posting) (created bool, err error) {
	if err := validatePosting(p); err != nil {
		return false, err
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = tx.now()
	}
	p.CreatedAt = normTime(p.CreatedAt)

	// The posting row first: a duplicate key stops here, before any
	// balance is touched. DO NOTHING (rather than a unique violation)
	// keeps a PostgreSQL transaction usable for the read-back.
	var id int64
	err = tx.queryRow(ctx, `INSERT INTO ledger_postings (idempotency_key, kind, team_id, memo, ref, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		p.IdempotencyKey, p.Kind, p.TeamID, p.Memo, p.Ref, p.CreatedAt).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, replayed(ctx, tx, p)
	}
	if err != nil {
		return false, fmt.Errorf("post: %w", err)
	}
	p.ID = id

	shardTeam := p.TeamID
	for _, e := range p.Entries { // the wallet's team, when the posting moves one
		if id, ok := parseWallet(e.Account); ok {
			shardTeam = id
		}
	}
	rows := make([]string, len(p.Entries))
	for i, e := range p.Entries {
		rows[i] = accountRow(e.Account, shardTeam)
	}
	accounts, err := resolveAccounts(ctx, tx, rows)
	if err != nil {
		return false, err
	}
	// Ascending account IDs: two postings lock the rows they share in the
	// same order.
	order := make([]int, len(p.Entries))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmpInt64(accounts[a].id, accounts[b].id) })
	for _, i := range order {
		if err := applyEntry(ctx, tx, accounts[i], p.Entries[i].Amount, p.AllowNegative); err != nil {
			return false, err
		}
	}
	for i, e := range p.Entries {
		if _, err := tx.exec(ctx, `INSERT INTO ledger_entries (posting_id, account_id, amount) VALUES (?, ?, ?)`,
			p.ID, accounts[i].id, e.Amount); err != nil {
			return false, fmt.Errorf("post: entry: %w", err)
		}
	}
	return true, nil
}

// replayed handles a posting whose idempotency key is taken: the same
// content returns the first posting in p; different content is ECONFLICT.
func replayed(ctx context.Context, tx *tx, p *chorus.Posting) error {
	first, err := postingByKey(ctx, tx, p.IdempotencyKey)
	if err != nil {
		return fmt.Errorf("post: read back: %w", err)
	}
	if !samePosting(first, p) {
		return chorus.Errorf(chorus.ECONFLICT,
			"idempotency key %q was used already for a different posting", p.IdempotencyKey)
	}
	allow := p.AllowNegative
	*p = *first
	p.AllowNegative = allow
	return nil
}

// account is a ledger account resolved for a posting.
type account struct {
	id     int64
	name   string
	wallet bool
}

// resolveAccounts returns the account of each entry, creating those that do
// not exist yet. Creation goes in name order so that concurrent postings
// creating the same accounts wait for each other rather than deadlock.
func resolveAccounts(ctx context.Context, tx *tx, names []string) ([]account, error) {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	byName := make(map[string]account, len(names))
	for _, name := range sorted {
		a, err := ensureAccount(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		byName[name] = a
	}
	out := make([]account, len(names))
	for i, name := range names {
		out[i] = byName[name]
	}
	return out, nil
}

// ensureAccount returns the named account, creating it if needed. A team
// wallet's team must exist (EINVALID).
func ensureAccount(ctx context.Context, tx *tx, name string) (account, error) {
	teamID, wallet := parseWallet(name)
	a := account{name: name, wallet: wallet}
	err := tx.queryRow(ctx, `SELECT id FROM ledger_accounts WHERE name = ?`, name).Scan(&a.id)
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("post: account %s: %w", name, err)
	}
	var team any
	if wallet {
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM teams WHERE id = ?`, teamID).Scan(&n); err != nil {
			return a, fmt.Errorf("post: account %s: %w", name, err)
		}
		if n == 0 {
			return a, chorus.Invalid("entries", "team %d does not exist", teamID)
		}
		team = teamID
	}
	if _, err := tx.exec(ctx, `INSERT INTO ledger_accounts (name, team_id) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, team); err != nil {
		return a, fmt.Errorf("post: create account %s: %w", name, err)
	}
	if err := tx.queryRow(ctx, `SELECT id FROM ledger_accounts WHERE name = ?`, name).Scan(&a.id); err != nil {
		return a, fmt.Errorf("post: account %s: %w", name, err)
	}
	return a, nil
}

// applyEntry adds amount to the account's balance. The bound in the WHERE
// clause keeps the sum within int64 (SQLite would silently turn an
// overflowing integer into a float); a wallet debited below zero is EQUOTA
// unless allowNegative.
func applyEntry(ctx context.Context, tx *tx, a account, amount int64, allowNegative bool) error {
	bound := `balance <= ?`
	limit := int64(math.MaxInt64) - amount
	if amount < 0 {
		bound, limit = `balance >= ?`, math.MinInt64-amount
	}
	var balance int64
	err := tx.queryRow(ctx, `UPDATE ledger_accounts SET balance = balance + ? WHERE id = ? AND `+bound+` RETURNING balance`,
		amount, a.id, limit).Scan(&balance)
	if errors.Is(err, sql.ErrNoRows) {
		return chorus.Invalid("entries", "the balance of %s would overflow", a.name)
	}
	if err != nil {
		return fmt.Errorf("post: update %s: %w", a.name, err)
	}
	if a.wallet && amount < 0 && balance < 0 && !allowNegative {
		return insufficient(balance - amount)
	}
	return nil
}

// insufficient is the error of a debit larger than the wallet's balance.
func insufficient(balance int64) *chorus.Error {
	return &chorus.Error{
		Code:    chorus.EQUOTA,
		Type:    "insufficient_quota",
		Message: fmt.Sprintf("insufficient credits: the balance is %s credits", chorus.FormatCredits(balance)),
	}
}

// validatePosting checks p and fills in TeamID from its wallet when it is
// zero. The checks are pure, so that an invalid posting fails before it
// touches the database.
func validatePosting(p *chorus.Posting) error {
	if err := validateIdempotencyKey(p.IdempotencyKey); err != nil {
		return err
	}
	if !postingKinds[p.Kind] {
		return chorus.Invalid("kind", "unknown posting kind %q", p.Kind)
	}
	if !utf8.ValidString(p.Memo) || utf8.RuneCountInString(p.Memo) > maxMemo {
		return chorus.Invalid("memo", "memo must be valid UTF-8 of at most %d characters", maxMemo)
	}
	if !utf8.ValidString(p.Ref) || utf8.RuneCountInString(p.Ref) > maxRef {
		return chorus.Invalid("ref", "ref must be valid UTF-8 of at most %d characters", maxRef)
	}
	if p.TeamID < 0 {
		return chorus.Invalid("team_id", "team_id must be positive")
	}
	if len(p.Entries) < 2 || len(p.Entries) > maxEntries {
		return chorus.Invalid("entries", "a posting has 2 to %d entries, not %d", maxEntries, len(p.Entries))
	}
	var sum int64
	var wallets []int64
	seen := make(map[string]bool, len(p.Entries))
	for i, e := range p.Entries {
		switch {
		case e.Amount == 0:
			return chorus.Invalid("entries", "entry %d: amount must not be zero", i)
		case e.Amount == math.MinInt64:
			return chorus.Invalid("entries", "entry %d: amount out of range", i)
		case seen[e.Account]:
			return chorus.Invalid("entries", "entry %d: account %q appears twice", i, e.Account)
		}
		seen[e.Account] = true
		if id, ok := parseWallet(e.Account); ok {
			wallets = append(wallets, id)
		} else if !systemAccounts[e.Account] {
			return chorus.Invalid("entries", "entry %d: unknown account %q", i, e.Account)
		}
		s, overflow := addInt64(sum, e.Amount)
		if overflow {
			return chorus.Invalid("entries", "entries overflow")
		}
		sum = s
	}
	if sum != 0 {
		return chorus.Invalid("entries", "entries sum to %d, not zero", sum)
	}
	// One wallet at most, and TeamID names it: a team's history
	// (ListPostings by team) then holds every movement of its wallet.
	switch {
	case len(wallets) > 1:
		return chorus.Invalid("entries", "a posting moves the credits of one team's wallet at most")
	case p.TeamID == 0 && len(wallets) == 1:
		p.TeamID = wallets[0]
	case p.TeamID != 0 && !slices.Contains(wallets, p.TeamID):
		return chorus.Invalid("team_id", "team %d's wallet is not among the entries", p.TeamID)
	}
	return nil
}

// validateIdempotencyKey accepts 1 to 200 printable characters.
func validateIdempotencyKey(key string) error {
	n := utf8.RuneCountInString(key)
	if key == "" || n > maxIdempotencyKey || !utf8.ValidString(key) {
		return chorus.Invalid("idempotency_key", "idempotency key must be 1 to %d characters", maxIdempotencyKey)
	}
	for _, r := range key {
		if !unicode.IsPrint(r) {
			return chorus.Invalid("idempotency_key", "idempotency key must be printable characters")
		}
	}
	return nil
}

// parseWallet returns the team of a "team:<id>" account name, in its one
// canonical spelling ("team:012" is not a wallet).
func parseWallet(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "team:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, false
	}
	return id, true
}

// addInt64 returns a+b and whether it overflowed.
func addInt64(a, b int64) (int64, bool) {
	s := a + b
	return s, (b > 0 && s < a) || (b < 0 && s > a)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// samePosting reports whether a and b have the same stored content.
func samePosting(a, b *chorus.Posting) bool {
	if a.Kind != b.Kind || a.TeamID != b.TeamID || a.Memo != b.Memo || a.Ref != b.Ref || len(a.Entries) != len(b.Entries) {
		return false
	}
	sortEntries := func(es []chorus.LedgerEntry) []chorus.LedgerEntry {
		es = slices.Clone(es)
		slices.SortFunc(es, func(x, y chorus.LedgerEntry) int { return strings.Compare(x.Account, y.Account) })
		return es
	}
	return slices.Equal(sortEntries(a.Entries), sortEntries(b.Entries))
}

// Balance returns a team wallet's balance; zero for a team that has never
// had credits, ENOTFOUND for a team that does not exist.
func (db *DB) Balance(ctx context.Context, teamID int64) (chorus.Balance, error) {
	b := chorus.Balance{TeamID: teamID}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return b, err
	}
	defer tx.Rollback()
	err = tx.queryRow(ctx, `SELECT balance, reserved FROM ledger_accounts WHERE name = ?`,
		chorus.WalletAccount(teamID)).Scan(&b.Balance, &b.Reserved)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM teams WHERE id = ?`, teamID).Scan(&n); err != nil {
			return b, fmt.Errorf("balance: %w", err)
		}
		if n == 0 {
			return b, notFound("team %d not found", teamID)
		}
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("balance: %w", err)
	}
	b.Available = b.Balance - b.Reserved
	return b, nil
}

// ListPostings returns one page of postings, with their entries, in ID
// order.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListPostings(ctx context.Context, f chorus.PostingFilter, page chorus.Page) ([]*chorus.Posting, error) {
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"id > ?"}, []any{page.After}
	if f.TeamID != nil {
		where, args = append(where, "team_id = ?"), append(args, *f.TeamID)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, f.Since)
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, f.Until)
	}
	args = append(args, limit(page))
	ps, err := queryPostings(ctx, tx, `WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list postings: %w", err)
	}
	return ps, nil
}

// PostingByKey returns the posting with the given idempotency key, or
// ENOTFOUND.
func (db *DB) PostingByKey(ctx context.Context, key string) (*chorus.Posting, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, err := postingByKey(ctx, tx, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("posting %q not found", key)
	}
	return p, err
}

func postingByKey(ctx context.Context, tx *tx, key string) (*chorus.Posting, error) {
	ps, err := queryPostings(ctx, tx, `WHERE idempotency_key = ?`, key)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, sql.ErrNoRows
	}
	return ps[0], nil
}

// queryPostings returns the postings matching where, with their entries in
// the order they were posted.
func queryPostings(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.Posting, error) {
	rows, err := tx.query(ctx, `SELECT id, idempotency_key, kind, team_id, memo, ref, created_at FROM ledger_postings `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.Posting
	byID := map[int64]*chorus.Posting{}
	for rows.Next() {
		p := &chorus.Posting{Entries: []chorus.LedgerEntry{}}
		if err := rows.Scan(&p.ID, &p.IdempotencyKey, &p.Kind, &p.TeamID, &p.Memo, &p.Ref, scanTime(&p.CreatedAt)); err != nil {
			return nil, err
		}
		out = append(out, p)
		byID[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, len(out))
	for i, p := range out {
		ids[i] = p.ID
	}
	rows, err = tx.query(ctx, `SELECT e.posting_id, a.name, e.amount FROM ledger_entries e
		JOIN ledger_accounts a ON a.id = e.account_id
		WHERE e.posting_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY e.id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var e chorus.LedgerEntry
		if err := rows.Scan(&id, &e.Account, &e.Amount); err != nil {
			return nil, err
		}
		e.Account = accountName(e.Account)
		if p := byID[id]; p != nil {
			p.Entries = append(p.Entries, e)
		}
	}
	return out, rows.Err()
}

// maxReported is how many problems of one kind CheckLedger lists.
const maxReported = 20

// CheckLedger verifies the ledger's invariants on one snapshot: every
// posting has at least two entries that sum to zero, the sum over all
// entries is zero, every account's balance equals the sum of its entries,
// and no reservation is negative.
func (db *DB) CheckLedger(ctx context.Context) (chorus.LedgerReport, error) {
	r := chorus.LedgerReport{Problems: []string{}, NegativeWallets: []chorus.Balance{}}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	if err := checkLedger(ctx, tx, &r); err != nil {
		return r, fmt.Errorf("check ledger: %w", err)
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}

func checkLedger(ctx context.Context, tx *tx, r *chorus.LedgerReport) error {
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM ledger_accounts`).Scan(&r.Accounts); err != nil {
		return err
	}
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM ledger_postings`).Scan(&r.Postings); err != nil {
		return err
	}
	if err := tx.queryRow(ctx, `SELECT COUNT(*), COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM ledger_entries`).
		Scan(&r.Entries, &r.Total); err != nil {
		return err
	}
	if r.Total != 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("the entries sum to %d, not zero", r.Total))
	}
	checks := []struct {
		query  string
		report func(a, b, c int64, name string) string
	}{{
		`SELECT posting_id, COUNT(*), CAST(SUM(amount) AS BIGINT), '' FROM ledger_entries
			GROUP BY posting_id HAVING SUM(amount) <> 0 OR COUNT(*) < 2 ORDER BY posting_id LIMIT ?`,
		func(id, n, sum int64, _ string) string {
			return fmt.Sprintf("posting %d: %d entries summing to %d", id, n, sum)
		},
	}, {
		`SELECT p.id, 0, 0, '' FROM ledger_postings p
			WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.posting_id = p.id) ORDER BY p.id LIMIT ?`,
		func(id, _, _ int64, _ string) string { return fmt.Sprintf("posting %d has no entries", id) },
	}, {
		`SELECT a.id, a.balance, COALESCE(CAST(SUM(e.amount) AS BIGINT), 0), a.name FROM ledger_accounts a
			LEFT JOIN ledger_entries e ON e.account_id = a.id
			GROUP BY a.id, a.balance, a.name HAVING a.balance <> COALESCE(SUM(e.amount), 0) ORDER BY a.id LIMIT ?`,
		func(_, balance, sum int64, name string) string {
			return fmt.Sprintf("account %s: balance %d, but its entries sum to %d", name, balance, sum)
		},
	}, {
		`SELECT id, reserved, 0, name FROM ledger_accounts WHERE reserved < 0 ORDER BY id LIMIT ?`,
		func(_, reserved, _ int64, name string) string {
			return fmt.Sprintf("account %s: reserved %d is negative", name, reserved)
		},
	}}
	for _, c := range checks {
		rows, err := tx.query(ctx, c.query, maxReported)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a, b, n int64
			var name string
			if err := rows.Scan(&a, &b, &n, &name); err != nil {
				rows.Close()
				return err
			}
			r.Problems = append(r.Problems, c.report(a, b, n, name))
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	rows, err := tx.query(ctx, `SELECT team_id, balance, reserved FROM ledger_accounts
		WHERE team_id IS NOT NULL AND balance < 0 ORDER BY id LIMIT ?`, chorus.MaxPageSize)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b chorus.Balance
		if err := rows.Scan(&b.TeamID, &b.Balance, &b.Reserved); err != nil {
			return err
		}
		b.Available = b.Balance - b.Reserved
		r.NegativeWallets = append(r.NegativeWallets, b)
	}
	return rows.Err()
}
