package bench_test

// What each billing mode adds to a request: the passthrough benchmarks
// with billing off, fast and strict, for a customer whose team pays.
//
//	go test ./bench -run '^$' -bench 'ChatBilling' -benchtime 3000x -count 3
//	go test ./bench -run '^$' -bench 'Tokens' -benchmem
//
// PostgreSQL too when CHORUS_TEST_POSTGRES_URL is set (…/postgres).

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for schema setup

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/provider"
)

// newBillingRig is newRig with billing in mode, on dsn ("" for SQLite),
// and a customer whose team holds plenty of credits.
func newBillingRig(tb testing.TB, mode, dsn string) *rig {
	tb.Helper()
	mock := mockupstream.New(mockupstream.Options{})
	ms := httptest.NewServer(mock)
	tb.Cleanup(ms.Close)
	gw := apptest.Start(tb, func(c *config.Config) {
		c.Billing.Mode = mode
		c.DatabaseURL = dsn
	})
	ctx := context.Background()
	db := gw.App.DB
	user := &chorus.User{Email: "bench@example.com", Name: "Bench", Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, user); err != nil {
		tb.Fatal(err)
	}
	secret, prefix, hash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "bench", Prefix: prefix, Hash: hash, UserID: user.ID}); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Post(ctx, &chorus.Posting{IdempotencyKey: "bench-fund", Kind: chorus.PostingGrant, Entries: []chorus.LedgerEntry{
		{Account: chorus.AccountPromotions, Amount: -1 << 50}, {Account: chorus.WalletAccount(user.TeamID), Amount: 1 << 50}}}); err != nil {
		tb.Fatal(err)
	}
	m := &chorus.Model{Name: "bench-model", Kind: chorus.KindChat, Enabled: true}
	if err := db.CreateModel(ctx, m); err != nil {
		tb.Fatal(err)
	}
	d := &chorus.Deployment{ModelID: m.ID, Name: "bench-mock", Provider: chorus.ProviderOpenAI, UpstreamModel: "mock-model",
		BaseURL: ms.URL + "/v1", InputPrice: 150_000, OutputPrice: 600_000, Weight: 1, Enabled: true}
	if err := db.CreateDeployment(ctx, d); err != nil {
		tb.Fatal(err)
	}
	if err := gw.App.Registry.Refresh(ctx, true); err != nil {
		tb.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true,
	}}
	tb.Cleanup(client.CloseIdleConnections)
	return &rig{gw: gw, mock: mock, directURL: ms.URL + "/v1/chat/completions",
		chorusURL: gw.URL + "/v1/chat/completions", key: secret, client: client}
}

// billingDB is a database the billing benchmarks run on.
type billingDB struct {
	name string
	dsn  func(b *testing.B) string
}

// billingDBs are SQLite and, when configured, PostgreSQL.
func billingDBs() []billingDB {
	dbs := []billingDB{{"sqlite", func(*testing.B) string { return "" }}}
	if base := os.Getenv("CHORUS_TEST_POSTGRES_URL"); base != "" {
		dbs = append(dbs, billingDB{"postgres", func(b *testing.B) string { return benchSchema(b, base) }})
	}
	return dbs
}

// benchSchema creates a schema of its own on base, dropped afterwards, and
// returns base with search_path set to it.
func benchSchema(b *testing.B, base string) string {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("chorus_bench_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if admin, err := sql.Open("pgx", base); err == nil {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		}
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// benchBilling times requests one at a time through a gateway billing in
// each mode; added-ns/op is over the direct call to the mock, so a mode's
// cost is its ns/op less billing off's.
func benchBilling(b *testing.B, body []byte, stream bool) {
	for _, db := range billingDBs() {
		for _, mode := range []string{config.BillingOff, config.BillingFast, config.BillingStrict} {
			b.Run(db.name+"/"+mode, func(b *testing.B) {
				r := newBillingRig(b, mode, db.dsn(b))
				base := r.measureDirect(b, 1000, body, stream)
				rd := bufio.NewReaderSize(nil, 16<<10)
				for range 200 {
					if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
						b.Fatal(err)
					}
				}
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				n := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.StopTimer()
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)-base.ns, "added-ns/op")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n)-base.allocs, "added-allocs/op")
			})
		}
	}
}

// BenchmarkChatBilling is BenchmarkChatPassthrough in each billing mode.
func BenchmarkChatBilling(b *testing.B) { benchBilling(b, chatBody, false) }

// BenchmarkChatStreamBilling is the streamed request in each billing mode
// (strict settles before the final frames).
func BenchmarkChatStreamBilling(b *testing.B) { benchBilling(b, streamBody, true) }

// BenchmarkChatBillingParallel loads one team from GOMAXPROCS×4 clients in
// each mode: strict serialises a team's requests on its wallet's row.
func BenchmarkChatBillingParallel(b *testing.B) {
	for _, db := range billingDBs() {
		for _, mode := range []string{config.BillingOff, config.BillingFast, config.BillingStrict} {
			b.Run(db.name+"/"+mode, func(b *testing.B) { benchParallel(b, newBillingRig(b, mode, db.dsn(b))) })
		}
	}
}

// BenchmarkTokens is what counting a prompt's tokens costs: the byte bound
// the meter reserves on, against the tokenizer it falls back to when that
// bound is refused (and which counts an aborted stream's output).
func BenchmarkTokens(b *testing.B) {
	m := meter.New(nil, meter.Options{Billing: config.DefaultBilling()})
	for _, size := range []int{100, 1000, 10_000} {
		text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", size/45+1)[:size]
		req := &provider.ChatRequest{Messages: []provider.Message{provider.TextMessage(provider.RoleUser, text)}}
		m.InputTokens("gpt-4o", req) // load the ranks outside the timing
		b.Run(fmt.Sprintf("bound/%dB", size), func(b *testing.B) {
			for b.Loop() { // the same walk over the request as the meter's byte bound
				_ = provider.EstimateInputTokens(req)
			}
		})
		b.Run(fmt.Sprintf("tokenizer/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				_ = m.InputTokens("gpt-4o", req)
			}
		})
	}
}

// TestBillingRig checks the billing benchmark's rig in each mode: requests
// pass and, with billing on, the customer's team pays.
func TestBillingRig(t *testing.T) {
	for _, mode := range []string{config.BillingOff, config.BillingFast, config.BillingStrict} {
		t.Run(mode, func(t *testing.T) {
			r := newBillingRig(t, mode, "")
			rd := bufio.NewReaderSize(nil, 16<<10)
			for _, stream := range []bool{false, true} {
				body := chatBody
				if stream {
					body = streamBody
				}
				if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
					t.Fatalf("stream=%v: %v", stream, err)
				}
			}
			want := mode != config.BillingOff
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, _, charged, err := r.gw.App.DB.SettlementTotals(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				if (charged > 0) == want {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("charged %d with billing %s", charged, mode)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// BenchmarkStrictOneTeam is one team's requests in strict billing mode on
// PostgreSQL, from c concurrent clients at once: sustained requests per
// second (req/s) and the latency of each request (p50-ms, p99-ms), through
// the meter alone (Reserve then Settle: the two database round trips strict
// mode adds to a request) and through the whole gateway (HTTP, billing, the
// usage record). Each client sends b.N/c requests back to back.
//
//	CHORUS_TEST_POSTGRES_URL=… go test ./bench -run '^$' -bench StrictOneTeam -benchtime 4000x -count 3
func BenchmarkStrictOneTeam(b *testing.B) {
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		b.Skip("set CHORUS_TEST_POSTGRES_URL: strict billing of one team is measured on PostgreSQL")
	}
	for _, c := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("meter/c=%d", c), func(b *testing.B) {
			r := newBillingRig(b, config.BillingStrict, benchSchema(b, base))
			m, k, q := r.meterRequest(b)
			runClients(b, c, func(i int) error {
				h, err := m.Reserve(context.Background(), k, fmt.Sprintf("bench-%d", i), q)
				if err != nil {
					return err
				}
				_, err = m.Settle(context.Background(), h, 100)
				return err
			})
			reportBatches(b, m)
		})
		b.Run(fmt.Sprintf("gateway/c=%d", c), func(b *testing.B) {
			r := newBillingRig(b, config.BillingStrict, benchSchema(b, base))
			rds := make([]*bufio.Reader, c)
			for i := range rds {
				rds[i] = bufio.NewReaderSize(nil, 16<<10)
			}
			runClients(b, c, func(i int) error {
				_, err := r.do(r.chorusURL, chatBody, false, rds[i%c])
				return err
			})
			reportBatches(b, r.gw.App.Gateway.Meter)
		})
	}
}

// meterRequest returns the rig's meter, its customer's key and the quote
// of the benchmark's chat request, for calling the meter directly.
func (r *rig) meterRequest(b *testing.B) (*meter.Meter, *chorus.APIKey, meter.Quote) {
	ctx := context.Background()
	ks, err := r.gw.App.DB.ListKeys(ctx, chorus.KeyFilter{}, chorus.Page{Limit: 10})
	if err != nil {
		b.Fatal(err)
	}
	var k *chorus.APIKey
	for _, key := range ks {
		if key.Name == "bench" {
			k = key
		}
	}
	rt := r.gw.App.Registry.Snapshot().Route("bench-model")
	if k == nil || rt == nil {
		b.Fatal("the rig has no bench key or model")
	}
	k.Role = chorus.RoleCustomer
	max := 64
	req := &provider.ChatRequest{Model: "bench-model", MaxTokens: &max,
		Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Say hello in a few words.")}}
	return r.gw.App.Gateway.Meter, k, meter.ChatQuote(rt, req)
}

// reportBatches reports how many holds and settlements the meter wrote
// per transaction, on average.
func reportBatches(b *testing.B, m *meter.Meter) {
	if st := m.Stats(); st.GroupCommits > 0 {
		b.ReportMetric(float64(st.GroupSteps)/float64(st.GroupCommits), "steps/commit")
	}
}

// runClients runs b.N calls of do from c goroutines (call i goes to client
// i mod c), after a warm-up of 2c calls, and reports the rate and the
// latency percentiles of the timed calls.
func runClients(b *testing.B, c int, do func(i int) error) {
	var wg sync.WaitGroup
	run := func(from, n int, lat []time.Duration) {
		var failed atomic.Bool
		for g := range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < n && !failed.Load(); i += c {
					start := time.Now()
					if err := do(from + i); err != nil {
						failed.Store(true)
						b.Error(err)
						return
					}
					if lat != nil {
						lat[i] = time.Since(start)
					}
				}
			}()
		}
		wg.Wait()
	}
	run(0, 2*c, nil)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	run(2*c, b.N, lat)
	el := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[b.N*99/100].Microseconds())/1000, "p99-ms")
}
