package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/audit"
	"github.com/chorusgw/chorus/internal/store"
)

// manualClock is a clock that reads what it was last set to.
type manualClock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *manualClock {
	c := &manualClock{}
	c.Set(t)
	return c
}

func (c *manualClock) Set(t time.Time) { c.t.Store(&t) }
func (c *manualClock) Now() time.Time  { return *c.t.Load() }

func mustAudit(tb testing.TB, db *store.DB, ctx context.Context, e *chorus.AuditEntry) *chorus.AuditEntry {
	tb.Helper()
	if err := db.Audit(ctx, e); err != nil {
		tb.Fatal(err)
	}
	return e
}

// allAudit returns every entry, newest first.
func allAudit(tb testing.TB, db *store.DB, f chorus.AuditFilter) []*chorus.AuditEntry {
	tb.Helper()
	var out []*chorus.AuditEntry
	page := chorus.AuditPage{Limit: chorus.MaxPageSize}
	for {
		es, err := db.ListAudit(context.Background(), f, page)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, es...)
		if len(es) < page.Limit {
			return out
		}
		page.Before = es[len(es)-1].Seq
	}
}

func seqs(es []*chorus.AuditEntry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func mustVerifyOK(tb testing.TB, db *store.DB, wantEntries int64) chorus.AuditReport {
	tb.Helper()
	rep, err := db.VerifyAudit(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if !rep.OK || rep.Problem != nil {
		tb.Fatalf("verify: %+v (problem %v)", rep, rep.Problem)
	}
	if rep.Entries != wantEntries || rep.HeadSeq != wantEntries {
		tb.Fatalf("verify: %d entries, head %d; want %d", rep.Entries, rep.HeadSeq, wantEntries)
	}
	return rep
}

func TestAuditAppend(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		start := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
		db := MustOpenDB(t, b, withNow(newClock(start).Now))
		actor := chorus.Actor{UserID: 4, SessionID: 8, IP: "198.51.100.7", RequestID: "req-abc"}
		ctx := chorus.NewContextWithActor(context.Background(), actor)

		t.Run("OK", func(t *testing.T) {
			e := mustAudit(t, db, ctx, &chorus.AuditEntry{Action: chorus.AuditLoginFailed, TargetType: "user",
				TargetID: "4", TeamID: 2, Details: json.RawMessage(`{ "z": 1, "a": "x" }`)})
			if e.Seq != 1 || e.Actor != actor {
				t.Fatalf("seq %d actor %+v", e.Seq, e.Actor)
			}
			got := allAudit(t, db, chorus.AuditFilter{})
			if len(got) != 1 {
				t.Fatalf("%d entries", len(got))
			}
			g := got[0]
			if g.Actor != actor || g.Action != chorus.AuditLoginFailed || g.TargetID != "4" || g.TeamID != 2 {
				t.Errorf("stored %+v", g)
			}
			if want := start.Truncate(time.Microsecond); !g.At.Equal(want) {
				t.Errorf("at %v, want %v", g.At, want)
			}
			if got, want := string(g.Details), `{"a":"x","z":1}`; got != want {
				t.Errorf("details %s, want %s", got, want)
			}
			if !bytes.Equal(g.PrevHash, audit.ZeroHash()) || !bytes.Equal(g.Hash, audit.Hash(g)) || !bytes.Equal(g.Hash, e.Hash) {
				t.Errorf("hashes: prev %x hash %x", g.PrevHash, g.Hash)
			}
		})
		t.Run("Chained", func(t *testing.T) {
			e := mustAudit(t, db, context.Background(), &chorus.AuditEntry{Action: "test.second"})
			if e.Seq != 2 || e.Actor != (chorus.Actor{System: "unknown"}) {
				t.Fatalf("seq %d actor %+v", e.Seq, e.Actor)
			}
			got := allAudit(t, db, chorus.AuditFilter{})
			if len(got) != 2 || !bytes.Equal(got[0].PrevHash, got[1].Hash) || got[0].Details != nil {
				t.Fatalf("chain %+v", got)
			}
		})
		t.Run("ExplicitActor", func(t *testing.T) {
			e := mustAudit(t, db, ctx, &chorus.AuditEntry{Action: "test.third", Actor: chorus.Actor{System: "reconciler"}})
			if e.Actor != (chorus.Actor{System: "reconciler"}) {
				t.Fatalf("actor %+v", e.Actor)
			}
		})
		t.Run("CancelledContext", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			mustAudit(t, db, cctx, &chorus.AuditEntry{Action: "test.cancelled"})
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			assertCode(t, db.Audit(ctx, &chorus.AuditEntry{}), chorus.EINVALID)
			assertCode(t, db.Audit(ctx, &chorus.AuditEntry{Action: "x", Details: json.RawMessage(`{`)}), chorus.EINVALID)
		})
		mustVerifyOK(t, db, 4)
	})
}

func TestListAudit(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		clock := newClock(start)
		db := MustOpenDB(t, b, withNow(clock.Now))
		at := func(seq int) time.Time { return start.Add(time.Duration(seq-1) * time.Minute) }
		as := func(uid int64) context.Context {
			return chorus.NewContextWithActor(context.Background(), chorus.Actor{UserID: uid})
		}
		// seq: action, actor, target, team; at = start + (seq-1) minutes.
		for i, e := range []struct {
			uid                int64
			action, ttype, tid string
			team               int64
		}{
			{1, "auth.login.succeeded", "user", "1", 10}, // 1
			{1, "auth.login.failed", "user", "1", 10},    // 2
			{2, "key.created", "key", "7", 20},           // 3
			{2, "key.revoked", "key", "7", 20},           // 4
			{1, "authz.weird", "user", "1", 10},          // 5: shares "auth" but not "auth."
			{3, "model.created", "model", "7", 0},        // 6
			{2, "auth.logout", "session", "9", 20},       // 7
			{1, "key.created", "key", "8", 10},           // 8
		} {
			clock.Set(at(i + 1))
			mustAudit(t, db, as(e.uid), &chorus.AuditEntry{Action: e.action, TargetType: e.ttype, TargetID: e.tid, TeamID: e.team})
		}
		for _, tt := range []struct {
			name string
			f    chorus.AuditFilter
			want []int64
		}{
			{"All", chorus.AuditFilter{}, []int64{8, 7, 6, 5, 4, 3, 2, 1}},
			{"Actor", chorus.AuditFilter{ActorUserID: ptr(int64(2))}, []int64{7, 4, 3}},
			{"ActionExact", chorus.AuditFilter{Action: "key.created"}, []int64{8, 3}},
			{"ActionPrefix", chorus.AuditFilter{Action: "auth."}, []int64{7, 2, 1}},
			{"ActionPrefixNested", chorus.AuditFilter{Action: "auth.login."}, []int64{2, 1}},
			{"ActionNoPartialWord", chorus.AuditFilter{Action: "auth"}, nil},
			{"TargetType", chorus.AuditFilter{TargetType: "key"}, []int64{8, 4, 3}},
			{"Target", chorus.AuditFilter{TargetType: "key", TargetID: "7"}, []int64{4, 3}},
			{"TargetOtherType", chorus.AuditFilter{TargetType: "model", TargetID: "7"}, []int64{6}},
			{"Team", chorus.AuditFilter{TeamID: ptr(int64(20))}, []int64{7, 4, 3}},
			{"TeamZero", chorus.AuditFilter{TeamID: ptr(int64(0))}, []int64{6}},
			{"Since", chorus.AuditFilter{Since: at(6)}, []int64{8, 7, 6}},
			{"Until", chorus.AuditFilter{Until: at(3)}, []int64{2, 1}},
			{"Range", chorus.AuditFilter{Since: at(3), Until: at(5).Add(time.Second)}, []int64{5, 4, 3}},
			{"Combined", chorus.AuditFilter{ActorUserID: ptr(int64(1)), Action: "auth.", Since: at(2)}, []int64{2}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got := seqs(allAudit(t, db, tt.f))
				if !equalIDs(got, tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
		}
		t.Run("Pages", func(t *testing.T) {
			ctx := context.Background()
			var got []int64
			page := chorus.AuditPage{Limit: 3}
			for i := 0; i < 5; i++ {
				es, err := db.ListAudit(ctx, chorus.AuditFilter{}, page)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, seqs(es)...)
				if len(es) < page.Limit {
					break
				}
				page.Before = es[len(es)-1].Seq
			}
			if want := []int64{8, 7, 6, 5, 4, 3, 2, 1}; !equalIDs(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
		t.Run("LimitClamped", func(t *testing.T) {
			for _, tt := range []struct{ limit, want int }{{0, 8}, {-1, 1}, {2, 2}, {1 << 20, 8}} {
				es, err := db.ListAudit(context.Background(), chorus.AuditFilter{}, chorus.AuditPage{Limit: tt.limit})
				if err != nil {
					t.Fatal(err)
				}
				if len(es) != tt.want {
					t.Errorf("limit %d: %d entries, want %d", tt.limit, len(es), tt.want)
				}
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			for name, f := range map[string]struct {
				f chorus.AuditFilter
				p chorus.AuditPage
			}{
				"TargetIDWithoutType": {chorus.AuditFilter{TargetID: "7"}, chorus.AuditPage{}},
				"NegativeBefore":      {chorus.AuditFilter{}, chorus.AuditPage{Before: -1}},
				"UntilBeforeSince":    {chorus.AuditFilter{Since: at(3), Until: at(2)}, chorus.AuditPage{}},
				"EmptyRange":          {chorus.AuditFilter{Since: at(3), Until: at(3)}, chorus.AuditPage{}},
			} {
				t.Run(name, func(t *testing.T) {
					_, err := db.ListAudit(context.Background(), f.f, f.p)
					assertCode(t, err, chorus.EINVALID)
				})
			}
		})
	})
}

// TestAuditConcurrent appends from many goroutines through two handles on
// one database (two processes, as far as the database can tell), mixing
// standalone entries and audited actions, and checks that the result is one
// unbroken chain. It writes more than one verification batch.
func TestAuditConcurrent(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		dsn := b.newDSN(t)
		db1 := mustOpen(t, dsn)
		if err := db1.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		db2 := mustOpen(t, dsn)
		const workers, each = 8, 140 // 2 × 8 × 140 = 2240 entries
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers)
		for h, db := range []*store.DB{db1, db2} {
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := chorus.NewContextWithActor(context.Background(), chorus.Actor{UserID: int64(h*100 + w)})
					for i := range each {
						var err error
						if i%20 == 0 {
							err = db.CreateModel(ctx, &chorus.Model{Name: fmt.Sprintf("m-%d-%d-%d", h, w, i), Kind: chorus.KindChat, Enabled: true})
						} else {
							err = db.Audit(ctx, &chorus.AuditEntry{Action: "test.concurrent", TargetID: fmt.Sprint(i)})
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		const total = 2 * workers * each
		mustVerifyOK(t, db2, total)
		got := seqs(allAudit(t, db1, chorus.AuditFilter{}))
		if len(got) != total || got[0] != total || got[total-1] != 1 {
			t.Fatalf("%d entries from %d to %d, want %d from %d to 1", len(got), got[0], got[len(got)-1], total, total)
		}
		models := allAudit(t, db1, chorus.AuditFilter{Action: chorus.AuditModelCreated})
		if want := 2 * workers * (each / 20); len(models) != want {
			t.Errorf("%d model.created entries, want %d", len(models), want)
		}
	})
}

// TestVerifyAuditTamper tampers with the database directly, as someone with
// write access to it could, and checks that VerifyAudit names the first
// entry that cannot be trusted.
func TestVerifyAuditTamper(t *testing.T) {
	const n = 12
	for _, tt := range []struct {
		name     string
		tamper   func(t *testing.T, raw *sql.DB, db *store.DB)
		wantSeq  int64
		wantKind string
	}{
		{"UpdateField", func(t *testing.T, raw *sql.DB, _ *store.DB) {
			rawExec(t, raw, `UPDATE audit_log SET target_id = 'someone-else' WHERE seq = 5`)
		}, 5, audit.KindModified},
		{"UpdateActor", func(t *testing.T, raw *sql.DB, _ *store.DB) {
			rawExec(t, raw, `UPDATE audit_log SET actor_user_id = 999 WHERE seq = 1`)
		}, 1, audit.KindModified},
		{"DeleteMiddle", func(t *testing.T, raw *sql.DB, _ *store.DB) {
			rawExec(t, raw, `DELETE FROM audit_log WHERE seq = 6`)
		}, 6, audit.KindMissing},
		{"SwapRows", func(t *testing.T, raw *sql.DB, _ *store.DB) {
			swapAuditRows(t, raw, 3, 9)
		}, 3, audit.KindReordered},
		{"DeleteLast", func(t *testing.T, raw *sql.DB, _ *store.DB) {
			rawExec(t, raw, fmt.Sprintf(`DELETE FROM audit_log WHERE seq = %d`, n))
		}, n, audit.KindTruncated},
		{"DeleteLastAndHead", func(t *testing.T, raw *sql.DB, _ *store.DB) {
			// Also roll the head back: its hash still names the old entry.
			rawExec(t, raw, fmt.Sprintf(`DELETE FROM audit_log WHERE seq = %d`, n))
			rawExec(t, raw, fmt.Sprintf(`UPDATE audit_head SET seq = %d`, n-1))
		}, n - 1, audit.KindRewritten},
		{"RecomputeHash", func(t *testing.T, raw *sql.DB, db *store.DB) {
			e := auditAt(t, db, 7)
			e.Details = json.RawMessage(`{"forged":true}`)
			audit.Seal(e, e.PrevHash)
			rawExec(t, raw, `UPDATE audit_log SET details = $1, hash = $2 WHERE seq = $3`, string(e.Details), e.Hash, e.Seq)
		}, 7, audit.KindRewritten},
		{"RecomputeLastHash", func(t *testing.T, raw *sql.DB, db *store.DB) {
			e := auditAt(t, db, n)
			e.Action = "auth.login.succeeded"
			audit.Seal(e, e.PrevHash)
			rawExec(t, raw, `UPDATE audit_log SET action = $1, hash = $2 WHERE seq = $3`, e.Action, e.Hash, e.Seq)
		}, n, audit.KindRewritten},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, b backend) {
				dsn := b.newDSN(t)
				db := mustOpen(t, dsn)
				ctx := context.Background()
				if err := db.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					mustAudit(t, db, ctx, &chorus.AuditEntry{Action: "test.event", TargetType: "thing",
						TargetID: fmt.Sprint(i + 1), Details: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i+1))})
				}
				mustVerifyOK(t, db, n)
				tt.tamper(t, rawDB(t, b, dsn), db)
				rep, err := db.VerifyAudit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK || rep.Problem == nil {
					t.Fatalf("tampering not detected: %+v", rep)
				}
				if rep.Problem.Seq != tt.wantSeq || rep.Problem.Kind != tt.wantKind {
					t.Fatalf("got %v, want seq %d kind %s", rep.Problem, tt.wantSeq, tt.wantKind)
				}
			})
		})
	}
}

func rawExec(t *testing.T, raw *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := raw.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no row changed", q)
	}
}

// auditAt returns the entry with the given seq.
func auditAt(t *testing.T, db *store.DB, seq int64) *chorus.AuditEntry {
	t.Helper()
	es, err := db.ListAudit(context.Background(), chorus.AuditFilter{}, chorus.AuditPage{Before: seq + 1, Limit: 1})
	if err != nil || len(es) != 1 || es[0].Seq != seq {
		t.Fatalf("entry %d: %v %v", seq, es, err)
	}
	return es[0]
}

// swapAuditRows swaps every column but seq of two entries.
func swapAuditRows(t *testing.T, raw *sql.DB, a, b int64) {
	t.Helper()
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	cols := []string{"at", "actor_user_id", "actor_key_id", "actor_session_id", "actor_ip", "actor_request_id",
		"actor_system", "action", "target_type", "target_id", "team_id", "details", "prev_hash", "hash"}
	var sets []string
	for _, c := range cols {
		sets = append(sets, fmt.Sprintf("%s = (SELECT s.%s FROM audit_swap s WHERE s.seq = %d - audit_log.seq)", c, c, a+b))
	}
	for _, q := range []string{
		fmt.Sprintf(`CREATE TEMP TABLE audit_swap AS SELECT * FROM audit_log WHERE seq IN (%d, %d)`, a, b),
		fmt.Sprintf(`UPDATE audit_log SET %s WHERE seq IN (%d, %d)`, strings.Join(sets, ", "), a, b),
		`DROP TABLE audit_swap`,
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditFailClosed breaks the audit log's head and checks that audited
// actions fail and leave nothing behind.
func TestAuditFailClosed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		break_ string
	}{
		{"HeadMissing", `DELETE FROM audit_head`},
		{"SeqTaken", `UPDATE audit_head SET seq = 0`}, // the next append collides with entry 1
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, b backend) {
				dsn := b.newDSN(t)
				db := mustOpen(t, dsn)
				ctx := context.Background()
				if err := db.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				u := mustCreateUser(t, db, "owner@example.com")
				mustAudit(t, db, ctx, &chorus.AuditEntry{Action: "test.first"})
				before, err := db.RegistryVersion(ctx)
				if err != nil {
					t.Fatal(err)
				}
				rawExec(t, rawDB(t, b, dsn), tt.break_)

				if err := db.CreateModel(ctx, &chorus.Model{Name: "m", Kind: chorus.KindChat}); err == nil {
					t.Error("CreateModel succeeded without its audit entry")
				}
				if _, err := db.ModelByName(ctx, "m"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
					t.Errorf("the model is visible: %v", err)
				}
				if err := db.CreateKey(ctx, &chorus.APIKey{Name: "k", Prefix: "sk-x", Hash: keyHash("sk-x"), UserID: u.ID}); err == nil {
					t.Error("CreateKey succeeded without its audit entry")
				}
				if _, err := db.KeyByHash(ctx, keyHash("sk-x")); chorus.ErrorCode(err) != chorus.ENOTFOUND {
					t.Errorf("the key is visible: %v", err)
				}
				if err := db.Audit(ctx, &chorus.AuditEntry{Action: "test.x"}); err == nil {
					t.Error("Audit succeeded")
				}
				after, err := db.RegistryVersion(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if after != before {
					t.Errorf("registry version %d, was %d: the failed actions were half-written", after, before)
				}
			})
		})
	}
}

// TestAuditRecordsActions checks the entries that registry and key changes
// write, and that they carry no secrets.
func TestAuditRecordsActions(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		auditKey := bytes.Repeat([]byte{3}, 32)
		db := MustOpenDB(t, b, func(o *store.Options) { o.AuditKey = auditKey })
		actor := chorus.Actor{UserID: 1, RequestID: "r1"}
		ctx := chorus.NewContextWithActor(context.Background(), actor)
		u := mustCreateUser(t, db, "owner@example.com")
		const secret = "sk-upstream-secret-1234"

		m := mustCreateModel(t, db, "m1")
		m.Description = "changed"
		must(t, db.UpdateModel(ctx, m))
		c := &chorus.Credential{Name: "openai", Provider: chorus.ProviderOpenAI, Secret: secret}
		must(t, db.CreateCredential(ctx, c))
		c.Secret = secret + "-rotated"
		must(t, db.UpdateCredential(ctx, c))
		d := mustCreateDeployment(t, db, m.ID, "d1", &c.ID)
		d.Headers = map[string]string{"X-Gateway-Token": "header-secret"}
		must(t, db.UpdateDeployment(ctx, d))
		r := &chorus.Route{Name: "r1", Strategy: chorus.StrategyFallback, Targets: []chorus.RouteTarget{{Model: "m1"}}}
		must(t, db.CreateRoute(ctx, r))
		r.Description = "changed"
		must(t, db.UpdateRoute(ctx, r))
		k := &chorus.APIKey{Name: "k", Prefix: "sk-abcd", Hash: keyHash("sk-abcd-key-secret"), UserID: u.ID}
		must(t, db.CreateKey(ctx, k))
		must(t, db.SetKeyCacheTTL(ctx, k.ID, 60))
		must(t, db.RevokeKey(ctx, k.ID, time.Now()))
		must(t, db.RevokeKey(ctx, k.ID, time.Now())) // no change, no entry
		must(t, db.DeleteRoute(ctx, r.ID))
		must(t, db.DeleteDeployment(ctx, d.ID))
		must(t, db.DeleteCredential(ctx, c.ID))
		must(t, db.DeleteModel(ctx, m.ID))

		id := func(n int64) string { return fmt.Sprint(n) }
		want := []struct{ action, ttype, tid string }{
			{chorus.AuditModelCreated, "model", id(m.ID)},
			{chorus.AuditModelUpdated, "model", id(m.ID)},
			{chorus.AuditCredentialCreated, "credential", id(c.ID)},
			{chorus.AuditCredentialUpdated, "credential", id(c.ID)},
			{chorus.AuditDeploymentCreated, "deployment", id(d.ID)},
			{chorus.AuditDeploymentUpdated, "deployment", id(d.ID)},
			{chorus.AuditRouteCreated, "route", id(r.ID)},
			{chorus.AuditRouteUpdated, "route", id(r.ID)},
			{chorus.AuditKeyCreated, "key", id(k.ID)},
			{chorus.AuditKeyUpdated, "key", id(k.ID)},
			{chorus.AuditKeyRevoked, "key", id(k.ID)},
			{chorus.AuditRouteDeleted, "route", id(r.ID)},
			{chorus.AuditDeploymentDeleted, "deployment", id(d.ID)},
			{chorus.AuditCredentialDeleted, "credential", id(c.ID)},
			{chorus.AuditModelDeleted, "model", id(m.ID)},
		}
		// Entries of the account helpers (users) are not this test's.
		var got []*chorus.AuditEntry
		all := allAudit(t, db, chorus.AuditFilter{})
		for i := len(all) - 1; i >= 0; i-- {
			if !strings.HasPrefix(all[i].Action, "user.") && !strings.HasPrefix(all[i].Action, "team.") {
				got = append(got, all[i])
			}
		}
		if len(got) != len(want) {
			for _, e := range got {
				t.Logf("%d %s %s %s", e.Seq, e.Action, e.TargetType, e.TargetID)
			}
			t.Fatalf("%d entries, want %d", len(got), len(want))
		}
		for i, w := range want {
			e := got[i]
			if e.Action != w.action || e.TargetType != w.ttype || e.TargetID != w.tid {
				t.Errorf("entry %d: %s %s %s, want %s %s %s", i, e.Action, e.TargetType, e.TargetID, w.action, w.ttype, w.tid)
			}
			for _, leak := range []string{secret, "header-secret", "key-secret", fmt.Sprintf("%x", k.Hash)} {
				if strings.Contains(string(e.Details), leak) {
					t.Errorf("%s details %s contain a secret", e.Action, e.Details)
				}
			}
		}
		byAction := func(action string) map[string]any {
			for _, e := range got {
				if e.Action == action {
					var m map[string]any
					if err := json.Unmarshal(e.Details, &m); err != nil {
						t.Fatal(err)
					}
					return m
				}
			}
			t.Fatalf("no %s entry", action)
			return nil
		}
		if got, want := byAction(chorus.AuditCredentialCreated)["secret"], audit.HMAC(auditKey, secret); got != want {
			t.Errorf("credential.created secret %v, want %v", got, want)
		}
		if got, want := byAction(chorus.AuditCredentialUpdated)["secret"], audit.HMAC(auditKey, secret+"-rotated"); got != want {
			t.Errorf("credential.updated secret %v, want %v", got, want)
		}
		if got := byAction(chorus.AuditKeyCreated)["prefix"]; got != "sk-abcd" {
			t.Errorf("key.created prefix %v", got)
		}
		for _, e := range got {
			if e.Action == chorus.AuditKeyCreated || e.Action == chorus.AuditKeyRevoked || e.Action == chorus.AuditKeyUpdated {
				if e.TeamID != u.TeamID || e.TeamID == 0 {
					t.Errorf("%s team %d, want %d", e.Action, e.TeamID, u.TeamID)
				}
			}
			if e.Action == chorus.AuditModelUpdated && e.Actor != actor {
				t.Errorf("%s actor %+v, want %+v", e.Action, e.Actor, actor)
			}
		}
		mustVerifyOK(t, db, int64(len(all)))
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestAuditHMACKey checks the fallback HMAC key: generated once per
// database, kept across handles, and not the configured key.
func TestAuditHMACKey(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		dsn := b.newDSN(t)
		ctx := context.Background()
		db1 := mustOpen(t, dsn)
		must(t, db1.Migrate(ctx))
		db2 := mustOpen(t, dsn)
		secretOf := func(db *store.DB, name string) string {
			c := &chorus.Credential{Name: name, Provider: chorus.ProviderOpenAI, Secret: "same-secret-value"}
			must(t, db.CreateCredential(ctx, c))
			es := allAudit(t, db, chorus.AuditFilter{TargetType: "credential", TargetID: fmt.Sprint(c.ID)})
			var d map[string]any
			if len(es) != 1 || json.Unmarshal(es[0].Details, &d) != nil {
				t.Fatalf("entries %v", es)
			}
			s, _ := d["secret"].(string)
			return s
		}
		a, bb := secretOf(db1, "c1"), secretOf(db2, "c2")
		if !strings.HasPrefix(a, audit.HMACPrefix) || a != bb {
			t.Fatalf("HMACs %q and %q: want one hmac-sha256 value", a, bb)
		}
		db3 := mustOpen(t, dsn, func(o *store.Options) { o.AuditKey = []byte("configured") })
		if c := secretOf(db3, "c3"); c == a || c != audit.HMAC([]byte("configured"), "same-secret-value") {
			t.Errorf("configured key: %q", c)
		}
	})
}

func TestRecordConfig(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		dsn := b.newDSN(t)
		ctx := context.Background()
		db := mustOpen(t, dsn)
		must(t, db.Migrate(ctx))
		record := func(db *store.DB, digest string) bool {
			t.Helper()
			changed, err := db.RecordConfig(ctx, digest, map[string]any{"listen": ":8080"})
			if err != nil {
				t.Fatal(err)
			}
			return changed
		}
		for _, tt := range []struct {
			digest string
			want   bool
		}{{"sha256:aaa", true}, {"sha256:aaa", false}, {"sha256:bbb", true}, {"sha256:aaa", true}} {
			if got := record(db, tt.digest); got != tt.want {
				t.Errorf("RecordConfig(%s) = %v, want %v", tt.digest, got, tt.want)
			}
		}
		es := allAudit(t, db, chorus.AuditFilter{Action: chorus.AuditConfigChanged})
		if len(es) != 3 {
			t.Fatalf("%d entries, want 3", len(es))
		}
		var d map[string]any
		must(t, json.Unmarshal(es[0].Details, &d))
		if es[0].Actor != (chorus.Actor{System: "config"}) || es[0].TargetID != "sha256:aaa" || d["previous_digest"] != "sha256:bbb" {
			t.Errorf("latest entry %+v details %s", es[0], es[0].Details)
		}
		t.Run("Concurrent", func(t *testing.T) {
			other := mustOpen(t, dsn)
			var wg sync.WaitGroup
			var changes atomic.Int32
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := db
					if i%2 == 1 {
						h = other
					}
					changed, err := h.RecordConfig(ctx, "sha256:ccc", nil)
					if err != nil {
						t.Error(err)
					}
					if changed {
						changes.Add(1)
					}
				}()
			}
			wg.Wait()
			if got := changes.Load(); got != 1 {
				t.Errorf("%d instances recorded the change, want 1", got)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.RecordConfig(ctx, " ", nil)
			assertCode(t, err, chorus.EINVALID)
		})
	})
}
