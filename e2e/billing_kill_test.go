package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// TestBillingKill runs the chorus binary in each billing mode, on SQLite
// and (when CHORUS_TEST_POSTGRES_URL is set) PostgreSQL, puts 16 clients'
// load on it, SIGKILLs it mid-load (strict: twice, restarting it on the
// same database in between) and compares what the clients fully received
// with what the database charged:
//
//   - strict: every response a client received whole has its charge
//     (spend posting with the request's ID and cost): 0 missing; and the
//     books are complete: every charged request has exactly one usage
//     record, whose cost is its charge, and no record has a cost that was
//     not charged;
//   - fast: the charges missing are within the documented bound, the
//     requests served in the last flush interval plus the batch being
//     written (measured: received rate × 2 × billing.flush_interval);
//   - neither mode charges a request twice: at most one posting per
//     request ID (strict), at most the cost of the requests sent (both).
func TestBillingKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildChorus(t)
	backends := []struct {
		name string
		dsn  func(t *testing.T, dataDir string) string
	}{
		{"sqlite", func(t *testing.T, dataDir string) string { return filepath.Join(dataDir, "chorus.db") }},
		{"postgres", func(t *testing.T, _ string) string {
			base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
			if base == "" {
				if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
					t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
				}
				t.Skip("set CHORUS_TEST_POSTGRES_URL to run on PostgreSQL too")
			}
			return postgresSchema(t, base)
		}},
	}
	for _, b := range backends {
		for _, mode := range []string{config.BillingStrict, config.BillingFast} {
			t.Run(b.name+"/"+mode, func(t *testing.T) {
				data := t.TempDir()
				killUnderLoad(t, bin, data, b.dsn(t, data), mode)
			})
		}
	}
}

// killSetup is what the database holds before the process starts.
type killSetup struct {
	team int64
	key  string
}

// prepareKill creates a funded customer and a simulated model in dsn.
func prepareKill(t *testing.T, dsn string) killSetup {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u := &chorus.User{Email: "kill@example.test", Name: "Kill", Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret, prefix, hash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "kill", Prefix: prefix, Hash: hash, UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	m := &chorus.Model{Name: "kill-sim", Kind: chorus.KindChat, MaxOutput: 1000, Enabled: true}
	if err := db.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDeployment(ctx, &chorus.Deployment{ModelID: m.ID, Name: "kill-sim-dep", Provider: chorus.ProviderSimulator,
		UpstreamModel: "kill-sim", Settings: map[string]any{"output_tokens": 20, "tokens_per_second": 4000, "latency_ms": 2, "seed": 1},
		InputPrice: 1_000_000, OutputPrice: 2_000_000, Weight: 1, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Post(ctx, &chorus.Posting{IdempotencyKey: "kill-fund", Kind: chorus.PostingGrant, Entries: []chorus.LedgerEntry{
		{Account: chorus.AccountPromotions, Amount: -1_000_000_000_000}, {Account: chorus.WalletAccount(u.TeamID), Amount: 1_000_000_000_000}}}); err != nil {
		t.Fatal(err)
	}
	return killSetup{team: u.TeamID, key: secret}
}

// killLoad is what the clients saw.
type killLoad struct {
	mu       sync.Mutex
	sent     int64
	received map[string]int64 // request ID → cost, for every response received whole
	first    time.Time
	last     time.Time // when the last whole response arrived
}

func killUnderLoad(t *testing.T, bin, data, dsn, mode string) {
	setup := prepareKill(t, dsn)
	flush := config.DefaultBilling().FlushInterval
	load := &killLoad{received: map[string]int64{}}
	rounds := 1
	if mode == config.BillingStrict {
		rounds = 2 // the restarted instance writes on books the first one left
	}
	for round := range rounds {
		listen := freePort(t)
		env := chorusEnv("CHORUS_DATA_DIR="+data, "CHORUS_LISTEN="+listen, "CHORUS_MASTER_KEY="+apptest.MasterKey,
			"CHORUS_BOOTSTRAP=false", "CHORUS_LOG_LEVEL=warn", "CHORUS_BILLING_MODE="+mode)
		if !strings.HasSuffix(dsn, ".db") {
			env = append(env, "CHORUS_DATABASE_URL="+dsn)
		}
		p := startProcess(t, bin, listen, env)
		loadThenKill(t, p, setup.key, fmt.Sprintf("kill-%s-%d", mode, round), load, 3*time.Second/time.Duration(rounds))
	}

	load.mu.Lock()
	defer load.mu.Unlock()
	received := int64(len(load.received))
	if received < 100 {
		t.Fatalf("only %d responses received under load", received)
	}
	var unit int64 // every request is the same: one cost
	for _, c := range load.received {
		if unit == 0 {
			unit = c
		}
		if c != unit {
			t.Fatalf("responses cost %d and %d; the test needs one cost per request", unit, c)
		}
	}
	rate := float64(received) / load.last.Sub(load.first).Seconds()

	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reqs, cost, charged, err := db.SettlementTotals(ctx, setup.team)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := db.CheckLedger(ctx); err != nil || !r.OK || len(r.NegativeWallets) != 0 {
		t.Errorf("ledger check = %+v, %v", r, err)
	}
	if charged != cost || cost%unit != 0 {
		t.Errorf("settlements: cost %d, charged %d; want every settled request charged in full at %d each", cost, charged, unit)
	}
	if charged > load.sent*unit || reqs > load.sent {
		t.Errorf("charged %d for %d requests, but only %d were sent: something was charged twice", charged, reqs, load.sent)
	}
	bal, _ := db.Balance(ctx, setup.team)

	switch mode {
	case config.BillingStrict:
		refs := spendRefs(t, db, setup.team)
		missing, twice := 0, 0
		for id, c := range load.received {
			switch got := refs[id]; {
			case len(got) == 0:
				missing++
			case len(got) > 1:
				twice++
			case got[0] != c:
				t.Errorf("request %s charged %d, cost %d", id, got[0], c)
			}
		}
		for id, got := range refs {
			if len(got) > 1 {
				t.Errorf("request %s charged %d times", id, len(got))
			}
		}
		t.Logf("strict: %d sent, %d received whole (%.0f/s), %d charged (%d micro-credits), %d received but not charged, %d charged twice; %d held by requests cut off",
			load.sent, received, rate, reqs, charged, missing, twice, bal.Reserved)
		if missing != 0 || twice != 0 {
			t.Errorf("%d responses received without their charge, %d charged twice; want 0 and 0", missing, twice)
		}
		checkBooks(t, db, setup.team, refs)
	case config.BillingFast:
		chargedReqs := charged / unit
		missing := max(received-chargedReqs, 0)
		bound := int64(math.Ceil(rate*2*flush.Seconds())) + 1
		t.Logf("fast: %d sent, %d received whole (%.0f/s), %d charged (%d micro-credits): %d missing (%.0f ms of traffic), bound %d (2 × flush_interval %v at the measured rate); lease left held until it expires: %d",
			load.sent, received, rate, chargedReqs, charged, missing, float64(missing)/rate*1000, bound, flush, bal.Reserved)
		if missing > bound {
			t.Errorf("%d charges missing, above the bound of %d", missing, bound)
		}
	}
}

// loadThenKill loads p from 16 clients (request IDs prefix-<client>-<n>)
// for d, SIGKILLs it in the middle of that load and records in load what
// the clients received.
func loadThenKill(t *testing.T, p *process, key, prefix string, load *killLoad, d time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer client.CloseIdleConnections()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				id := fmt.Sprintf("%s-%d-%d", prefix, c, n)
				atomic.AddInt64(&load.sent, 1)
				cost, ok := killRequest(client, p.url, key, id, c%2 == 1)
				if ok {
					load.mu.Lock()
					load.received[id] = cost
					now := time.Now()
					if load.first.IsZero() {
						load.first = now
					}
					load.last = now
					load.mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(d) // the load runs; then the process dies in the middle of it
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	stop.Store(true)
	wg.Wait()
}

// killRequest sends one chat request and reports its cost if the whole
// answer arrived: the body of a plain answer, or a stream through [DONE].
func killRequest(c *http.Client, base, key, id string, stream bool) (int64, bool) {
	body := `{"model":"kill-sim","messages":[{"role":"user","content":"count to twenty"}]}`
	if stream {
		body = `{"model":"kill-sim","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count to twenty"}]}`
	}
	req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return 0, false
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, false
	}
	type usage struct {
		Usage *struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if !stream {
		b, err := io.ReadAll(resp.Body)
		var u usage
		if err != nil || json.Unmarshal(b, &u) != nil || u.Usage == nil {
			return 0, false
		}
		return chorus.RequestCost(u.Usage.Prompt, u.Usage.Completion, 1_000_000, 2_000_000), true
	}
	sc := bufio.NewScanner(resp.Body)
	var cost int64
	for sc.Scan() {
		line := bytes.TrimPrefix(sc.Bytes(), []byte("data: "))
		if string(line) == "[DONE]" {
			return cost, cost > 0
		}
		var u usage
		if json.Unmarshal(line, &u) == nil && u.Usage != nil {
			cost = chorus.RequestCost(u.Usage.Prompt, u.Usage.Completion, 1_000_000, 2_000_000)
		}
	}
	return 0, false // cut off before [DONE]
}

// spendRefs returns the amounts of a team's spend postings by ref.
func spendRefs(t *testing.T, db *store.DB, team int64) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	page := chorus.Page{Limit: chorus.MaxPageSize}
	for {
		ps, err := db.ListPostings(context.Background(), chorus.PostingFilter{TeamID: &team, Kind: chorus.PostingSpend}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			for _, e := range p.Entries {
				if e.Account == chorus.AccountRevenue {
					out[p.Ref] = append(out[p.Ref], e.Amount)
				}
			}
		}
		if len(ps) < page.Limit {
			return out
		}
		page.After = ps[len(ps)-1].ID
	}
}

// checkBooks checks that a team's strict-mode books are complete: every
// charged request (spend posting, by request ID) has exactly one usage
// record and that record's cost is what was charged; and every usage
// record that has a cost was charged that cost.
func checkBooks(t *testing.T, db *store.DB, team int64, charged map[string][]int64) {
	t.Helper()
	recs := usageByRequest(t, db, team)
	unrecorded, twice, wrong, uncharged := 0, 0, 0, 0
	for id, c := range charged {
		switch got := recs[id]; {
		case len(got) == 0:
			unrecorded++
		case len(got) > 1:
			twice++
		case got[0].Cost != c[0]:
			wrong++
			t.Errorf("request %s: usage record's cost %d, charged %d", id, got[0].Cost, c[0])
		}
	}
	for id, us := range recs {
		if len(charged[id]) == 0 && slices.ContainsFunc(us, func(u *chorus.Usage) bool { return u.Cost > 0 }) {
			uncharged++
		}
	}
	t.Logf("books: %d charged requests, %d usage records; %d charged without a record, %d with two or more, %d with another cost, %d records with a cost never charged",
		len(charged), len(recs), unrecorded, twice, wrong, uncharged)
	if unrecorded != 0 || twice != 0 || wrong != 0 || uncharged != 0 {
		t.Errorf("strict books incomplete: %d charged requests without their usage record, %d with more than one, %d whose record's cost differs, %d records of a cost never charged; want 0 of each",
			unrecorded, twice, wrong, uncharged)
	}
}
