package meter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/webhook"
)

func testLogger() *slog.Logger {
	if os.Getenv("CHORUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// priced is a plain model at 1 and 2 credits per million input and output
// tokens: "hello" with max_tokens 100 holds 12 + 200 micro-credits.
var priced = plain(target("sim", 1_000_000, 2_000_000, 4096))

const helloWorst = 212

func hello(maxTokens int) Quote { return ChatQuote(priced, chatReq("hello", maxTokens, 0)) }

func wantQuota(t *testing.T, err error, mention string) {
	t.Helper()
	var e *chorus.Error
	if !errors.As(err, &e) || e.Code != chorus.EQUOTA || e.Type != "insufficient_quota" {
		t.Fatalf("got %v, want EQUOTA of type insufficient_quota", err)
	}
	if !strings.Contains(e.Message, mention) {
		t.Errorf("message %q does not mention %q", e.Message, mention)
	}
}

func TestStrictMeter(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		db := openDB(t, newDSN(t))
		m := startMeter(t, db, billing(config.BillingStrict))
		k := customer(t, db, "strict", 1000)

		var h *Hold
		t.Run("Reserve", func(t *testing.T) {
			var err error
			if h, err = m.Reserve(ctx, k, "req_1", hello(100)); err != nil {
				t.Fatal(err)
			}
			if h == nil || h.Amount() != helloWorst {
				t.Fatalf("hold = %+v, want %d held", h, helloWorst)
			}
			if got := balance(t, db, k.TeamID); got.Reserved != helloWorst {
				t.Errorf("reserved = %d, want %d", got.Reserved, helloWorst)
			}
		})
		t.Run("Settle", func(t *testing.T) {
			s, err := m.Settle(ctx, h, 150)
			if err != nil {
				t.Fatal(err)
			}
			if s.Charged != 150 || s.Available != 850 {
				t.Errorf("settlement = %+v, want 150 charged and 850 available", s)
			}
			if got := balance(t, db, k.TeamID); got.Balance != 850 || got.Reserved != 0 {
				t.Errorf("wallet = %+v, want 850 and nothing reserved", got)
			}
			if s, err := m.Settle(ctx, h, 150); err != nil || s.Charged != 0 {
				t.Errorf("settling again = %+v, %v; want nothing", s, err)
			}
			if got := balance(t, db, k.TeamID); got.Balance != 850 {
				t.Errorf("balance = %d after settling twice, want 850", got.Balance)
			}
		})
		t.Run("ErrInsufficient", func(t *testing.T) {
			_, err := m.Reserve(ctx, k, "req_2", hello(1000))
			wantQuota(t, err, "0.000850 credits available")
			if got := m.Stats().Refused; got != 1 {
				t.Errorf("refused = %d, want 1", got)
			}
		})
		t.Run("TokenizerOnlyWhenTheBoundIsRefused", func(t *testing.T) {
			// 2,000 bytes bound 2,000+ tokens (more than the 850 left); the
			// tokenizer counts about 400.
			long := ChatQuote(priced, chatReq(strings.Repeat("hello ", 333), 100, 0))
			before := m.Stats().Tokenized
			h, err := m.Reserve(ctx, k, "req_3", long)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Stats().Tokenized - before; got != 1 {
				t.Errorf("tokenized %d times, want 1", got)
			}
			if h.Amount() >= 850 || h.Amount() < 400+200 {
				t.Errorf("held %d, want the tokenizer's count (400-ish + 200 output)", h.Amount())
			}
			if _, err := m.Settle(ctx, h, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Reserve(ctx, k, "req_4", hello(100)); err != nil {
				t.Fatal(err) // left unsettled: the reaper's business
			}
			if got := m.Stats().Tokenized - before; got != 1 {
				t.Errorf("a request that fits its bound was tokenized")
			}
		})
		t.Run("NotMetered", func(t *testing.T) {
			admin := *k
			admin.Role = chorus.RoleAdmin
			master := &chorus.APIKey{Role: chorus.RoleAdmin}
			for name, key := range map[string]*chorus.APIKey{"ExemptAdmin": &admin, "MasterKey": master} {
				h, err := m.Reserve(ctx, key, "req_x", hello(1_000_000))
				if err != nil || h != nil {
					t.Errorf("%s: hold = %v, %v; want none", name, h, err)
				}
			}
			var off *Meter
			if off.Metered(k) {
				t.Error("a nil meter meters")
			}
		})
	})
}

func TestUncollected(t *testing.T) {
	for _, mode := range []string{config.BillingStrict, config.BillingFast} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t, t.TempDir()+"/chorus.db")
			m := New(db, Options{Billing: billing(mode), Logger: testLogger()})
			k := customer(t, db, "over", 300)
			h, err := m.Reserve(ctx, k, "req_1", hello(100))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Settle(ctx, h, 5000); err != nil {
				t.Fatal(err)
			}
			if mode == config.BillingFast {
				m.flush(ctx)
				if err := m.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got := balance(t, db, k.TeamID)
			if got.Balance != 0 || got.Reserved != 0 {
				t.Errorf("wallet = %+v, want 0: a request that cost more than its hold takes what is free, never more", got)
			}
			if s := m.Stats(); s.Charged != 300 || s.Uncollected != 4700 {
				t.Errorf("charged %d, uncollected %d; want 300 and 4700", s.Charged, s.Uncollected)
			}
		})
	}
}

func TestFastMeter(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		db := openDB(t, newDSN(t))
		// Not started: the test flushes by hand.
		m := New(db, Options{Billing: billing(config.BillingFast), Logger: testLogger()})
		k := customer(t, db, "fast", 10_000)

		t.Run("FirstRequestLeases", func(t *testing.T) {
			h, err := m.Reserve(ctx, k, "req_0", hello(100))
			if err != nil {
				t.Fatal(err)
			}
			if got := balance(t, db, k.TeamID); got.Reserved != 5000 {
				t.Errorf("reserved = %d, want a lease of half the wallet (5000)", got.Reserved)
			}
			if _, err := m.Settle(ctx, h, 150); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("LaterRequestsStayInMemory", func(t *testing.T) {
			for i := range 10 {
				h, err := m.Reserve(ctx, k, fmt.Sprintf("req_%d", i+1), hello(100))
				if err != nil {
					t.Fatal(err)
				}
				s, err := m.Settle(ctx, h, 150)
				if err != nil {
					t.Fatal(err)
				}
				if s.Charged != 150 || s.Available <= 0 {
					t.Errorf("settlement = %+v, want 150 charged and an estimate of what is left", s)
				}
			}
			if got := m.Stats().LeaseWaits; got != 1 {
				t.Errorf("%d requests waited for the database, want only the first", got)
			}
			if got := balance(t, db, k.TeamID); got.Balance != 10_000 {
				t.Errorf("balance = %d before the flush, want 10000", got.Balance)
			}
		})
		t.Run("FlushCharges", func(t *testing.T) {
			m.flush(ctx)
			got := balance(t, db, k.TeamID)
			if got.Balance != 10_000-11*150 || got.Reserved != 5000-11*150 {
				t.Errorf("wallet = %+v, want %d with the lease's %d left reserved", got, 10_000-11*150, 5000-11*150)
			}
			ps, err := db.ListPostings(ctx, chorus.PostingFilter{TeamID: &k.TeamID, Kind: chorus.PostingSpend}, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || ps[0].Memo != "11 requests" {
				t.Errorf("spend postings = %+v, want one for the batch of 11", ps)
			}
			m.flush(ctx) // nothing new: no posting
			if ps, _ := db.ListPostings(ctx, chorus.PostingFilter{TeamID: &k.TeamID, Kind: chorus.PostingSpend}, chorus.Page{}); len(ps) != 1 {
				t.Errorf("%d spend postings after an empty flush, want 1", len(ps))
			}
		})
		t.Run("CloseReturnsLeases", func(t *testing.T) {
			if err := m.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got := balance(t, db, k.TeamID); got.Reserved != 0 || got.Balance != 10_000-11*150 {
				t.Errorf("wallet = %+v after close, want nothing reserved", got)
			}
		})
	})
}

func TestFastDeadInstance(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		dsn := newDSN(t)
		b := billing(config.BillingFast)
		b.LeaseFraction = 1
		b.LeaseTTL = 400 * time.Millisecond
		dbA, dbB := openDB(t, dsn), openDB(t, dsn)
		a := New(dbA, Options{Billing: b, Logger: testLogger()}) // never started: it "dies" unflushed
		mb := startMeter(t, dbB, b)
		k := customer(t, dbA, "dead", 1000)

		h, err := a.Reserve(ctx, k, "req_a", hello(100))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Settle(ctx, h, 200); err != nil {
			t.Fatal(err)
		}
		// A leased the whole wallet; B is refused until A's lease expires.
		_, err = mb.Reserve(ctx, k, "req_b0", hello(100))
		wantQuota(t, err, "credits available")
		var hb *Hold
		waitFor(t, 5*time.Second, "the dead instance's lease to expire", func() bool {
			hb, err = mb.Reserve(ctx, k, "req_b1", hello(100))
			return err == nil
		})
		if _, err := mb.Settle(ctx, hb, 100); err != nil {
			t.Fatal(err)
		}
		mb.flush(ctx)
		got := balance(t, dbB, k.TeamID)
		// A's unflushed 200 is lost (served free), never charged twice.
		if got.Balance != 900 {
			t.Errorf("balance = %d, want 900: only B's request charged", got.Balance)
		}
	})
}

// TestNeverOverspend hammers one team with a small balance from many
// goroutines through two meters (two instances) on one database, in both
// modes: every admitted request is charged in full, and the charges never
// exceed the balance.
func TestNeverOverspend(t *testing.T) {
	for _, mode := range []string{config.BillingStrict, config.BillingFast} {
		t.Run(mode, func(t *testing.T) {
			eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
				ctx := context.Background()
				dsn := newDSN(t)
				b := billing(mode)
				b.LeaseChunk = 3000
				dbs := []*store.DB{openDB(t, dsn), openDB(t, dsn)}
				meters := []*Meter{New(dbs[0], Options{Billing: b, Logger: testLogger()}), New(dbs[1], Options{Billing: b, Logger: testLogger()})}
				for _, m := range meters {
					if err := m.Start(ctx); err != nil {
						t.Fatal(err)
					}
				}
				const initial = 20_000
				k := customer(t, dbs[0], "hammer", initial)
				var admitted, refused, costs atomic.Int64
				var wg sync.WaitGroup
				for g := range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						m := meters[g%2]
						r := rand.New(rand.NewPCG(uint64(g), 1))
						for i := range 50 {
							q := hello(100 + r.IntN(900))
							h, err := m.Reserve(ctx, k, fmt.Sprintf("req_%d_%d", g, i), q)
							if chorus.ErrorCode(err) == chorus.EQUOTA {
								refused.Add(1)
								continue
							}
							if err != nil {
								t.Error(err)
								return
							}
							admitted.Add(1)
							cost := r.Int64N(h.Amount() + 1)
							if _, err := m.Settle(ctx, h, cost); err != nil {
								t.Error(err)
								return
							}
							costs.Add(cost)
						}
					}()
				}
				wg.Wait()
				for _, m := range meters {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					if err := m.Close(cctx); err != nil {
						t.Fatal(err)
					}
					cancel()
				}
				got := balance(t, dbs[0], k.TeamID)
				_, _, charged, err := dbs[0].SettlementTotals(ctx, k.TeamID)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %d admitted, %d refused; cost %d, charged %d of %d", mode, admitted.Load(), refused.Load(), costs.Load(), charged, initial)
				if admitted.Load() == 0 || refused.Load() == 0 {
					t.Errorf("want some requests admitted and some refused")
				}
				if charged != costs.Load() {
					t.Errorf("charged %d, want every admitted request's cost %d", charged, costs.Load())
				}
				if charged > initial || got.Balance != initial-charged || got.Balance < 0 || got.Reserved != 0 {
					t.Errorf("wallet = %+v after charging %d of %d: want balance = initial - charged >= 0, nothing reserved", got, charged, initial)
				}
				if r, err := dbs[0].CheckLedger(ctx); err != nil || !r.OK {
					t.Errorf("ledger check = %+v, %v", r, err)
				}
			})
		})
	}
}

// webhookSink records the webhooks it receives.
type webhookSink struct {
	*httptest.Server
	got chan webhookCall
}

type webhookCall struct {
	header http.Header
	body   []byte
}

func newSink(t *testing.T, status func(n int) int) *webhookSink {
	s := &webhookSink{got: make(chan webhookCall, 16)}
	var n atomic.Int64
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.got <- webhookCall{r.Header.Clone(), body}
		w.WriteHeader(status(int(n.Add(1))))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *webhookSink) next(t *testing.T) webhookCall {
	t.Helper()
	select {
	case c := <-s.got:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5s")
		return webhookCall{}
	}
}

func TestBudgets(t *testing.T) {
	for _, mode := range []string{config.BillingStrict, config.BillingFast} {
		t.Run(mode, func(t *testing.T) {
			eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
				ctx := context.Background()
				db := openDB(t, newDSN(t))
				b := billing(mode)
				hooks := startWebhooks(t, db, b.Webhook)
				m := startMeterOpts(t, db, Options{Billing: b, OnAlert: hooks.Kick})
				k := customer(t, db, "budget", 1_000_000)
				// The first attempt fails: the alert is retried.
				sink := newSink(t, func(n int) int { return map[bool]int{true: 500, false: 204}[n == 1] })
				hard := &chorus.Budget{Scope: chorus.BudgetKey, ScopeID: k.ID, Period: chorus.PeriodDay, Amount: 300, Hard: true}
				soft := &chorus.Budget{Scope: chorus.BudgetTeam, TeamID: k.TeamID, Period: chorus.PeriodMonth, Amount: 100, WebhookURL: sink.URL + "/hook"}
				if _, err := db.CreateBudget(ctx, hard); err != nil {
					t.Fatal(err)
				}
				secret, err := db.CreateBudget(ctx, soft)
				if err != nil {
					t.Fatal(err)
				}
				if err := m.RefreshBudgets(ctx); err != nil {
					t.Fatal(err)
				}

				h, err := m.Reserve(ctx, k, "req_1", hello(100))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Settle(ctx, h, 200); err != nil {
					t.Fatal(err)
				}
				t.Run("HardRefuses", func(t *testing.T) {
					_, err := m.Reserve(ctx, k, "req_2", hello(100)) // 200 spent + 212 > 300
					wantQuota(t, err, fmt.Sprintf("daily budget %d of key %d", hard.ID, k.ID))
					h, err := m.Reserve(ctx, k, "req_3", hello(40)) // 200 + 92 fits
					if err != nil {
						t.Fatalf("a request within the budget: %v", err)
					}
					if _, err := m.Settle(ctx, h, 0); err != nil {
						t.Fatal(err)
					}
				})
				t.Run("SoftAlertsOnceSigned", func(t *testing.T) {
					first, second := sink.next(t), sink.next(t)
					if first.header.Get("Chorus-Event-Id") != second.header.Get("Chorus-Event-Id") || second.header.Get("Chorus-Delivery-Attempt") != "2" {
						t.Errorf("retry headers = %v, want the same event's second attempt", second.header)
					}
					if err := webhook.Verify(secret, second.header.Get(webhook.SignatureHeader), second.body, time.Now(), time.Minute); err != nil {
						t.Errorf("signature: %v", err)
					}
					if err := webhook.Verify("whsec_wrong", second.header.Get(webhook.SignatureHeader), second.body, time.Now(), time.Minute); err == nil {
						t.Error("a signature verified with the wrong secret")
					}
					var body webhook.Body
					if err := json.Unmarshal(second.body, &body); err != nil || body.Type != chorus.EventBudgetExceeded || body.TeamID != k.TeamID {
						t.Fatalf("body = %s (%v), want a budget.exceeded event of team %d", second.body, err, k.TeamID)
					}
					var alert chorus.BudgetAlert
					if err := json.Unmarshal(body.Data, &alert); err != nil || alert.BudgetID != soft.ID || alert.Spent != 200 {
						t.Errorf("alert = %+v (%v), want budget %d at 200 spent", alert, err, soft.ID)
					}
					waitFor(t, 5*time.Second, "the delivery to be recorded", func() bool {
						es, err := db.ListEvents(ctx, chorus.EventFilter{TeamID: &k.TeamID}, chorus.Page{})
						return err == nil && len(es) == 1 && es[0].Webhook != nil && es[0].Webhook.Status == chorus.DeliveryDelivered && es[0].Webhook.Attempts == 2
					})
					// Further spend in the period alerts no more.
					h, err := m.Reserve(ctx, k, "req_4", hello(10))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := m.Settle(ctx, h, 10); err != nil {
						t.Fatal(err)
					}
					waitFor(t, 5*time.Second, "the spend to reach the database", func() bool {
						got, err := db.BudgetByID(ctx, soft.ID, 0)
						return err == nil && got.Spent == 210
					})
					es, _ := db.ListEvents(ctx, chorus.EventFilter{TeamID: &k.TeamID}, chorus.Page{})
					if len(es) != 1 {
						t.Errorf("%d events, want 1 per period", len(es))
					}
				})
			})
		})
	}
}
