package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/store"
)

// The failover tests' model: a whole answer takes 250 ms, a stream 20 ms
// to its first token and foTokens tokens at foTokensPerSecond (300 ms), so
// a kill finds requests and streams in flight; 8 clients make about 30
// requests a second.
const (
	foModel           = "failover-sim"
	foTokens          = 30
	foTokensPerSecond = 100
	foInputPrice      = 1_000_000
	foOutputPrice     = 2_000_000
	foClients         = 8
)

// TestFailover runs three `chorus serve` processes on one PostgreSQL and
// Redis behind Debian's nginx with deploy/nginx/chorus.conf, and 8 clients
// (half streaming) of steady load:
//
//   - Kill/strict, Kill/fast: one instance SIGKILLed every 10 s and
//     restarted 6 s later. Requests that start after a kill see 0 errors;
//     the requests that fail were in flight on the killed instance (nginx's
//     log says so); a stream cut by a kill ends within 2 s with a read
//     error before [DONE] (no hang, no clean end that passes for a whole
//     answer); nginx retried a refused connection on another instance; no
//     request is recorded twice. Strict: every whole answer charged once, a
//     cut stream only if all its content was relayed, and the ledger's
//     spend equals the usage records' cost. Fast: charges and records
//     within docs/billing.md's loss window.
//   - Rolling (strict): each instance in turn SIGTERMed (readiness fails at
//     once, exit 0), restarted and ready before the next: 0 client errors
//     of any kind, and the books match exactly.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, nginx, PostgreSQL and Redis")
	}
	pg, redis := os.Getenv("CHORUS_TEST_POSTGRES_URL"), os.Getenv("CHORUS_TEST_REDIS_URL")
	if pg == "" || redis == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL and Redis are required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REDIS_URL")
		}
		t.Skip("set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REDIS_URL to run the failover tests")
	}
	nginxBinary(t)
	t.Parallel()
	bin := buildChorus(t)
	// One at a time: each runs four processes and eight clients on a
	// machine other tests share.
	t.Run("Kill/strict", func(t *testing.T) { testKillFailover(t, bin, pg, redis, config.BillingStrict) })
	t.Run("Kill/fast", func(t *testing.T) { testKillFailover(t, bin, pg, redis, config.BillingFast) })
	t.Run("Rolling", func(t *testing.T) { testRollingRestart(t, bin, pg, redis) })
}

// fleet is three Chorus instances behind nginx on one fresh schema.
type fleet struct {
	bin   string
	dsn   string
	team  int64
	key   string
	env   []string   // shared by the instances
	addrs []string   // instance i listens on addrs[i]...
	data  []string   // ...and keeps its data dir data[i] across restarts
	procs []*process // the running process of each instance
	nginx *nginx
}

// startFleet prepares the database (a funded customer, the simulated
// model), starts the instances in billing mode and nginx in front of
// them. preDrain is the instances' timeouts.pre_drain.
func startFleet(t *testing.T, bin, pg, redis, mode string, preDrain time.Duration) *fleet {
	t.Helper()
	f := &fleet{bin: bin, dsn: postgresSchema(t, pg)}
	f.team, f.key = prepareFleet(t, f.dsn)
	prefix := fmt.Sprintf("chorus-failover-%d:", time.Now().UnixNano()) // no other test's keys in Redis
	f.env = []string{
		"CHORUS_DATABASE_URL=" + f.dsn, "CHORUS_REDIS_URL=" + redis,
		"CHORUS_CACHE_PREFIX=" + prefix + "cache:", "CHORUS_RATE_LIMITS_PREFIX=" + prefix + "rl:",
		"CHORUS_MASTER_KEY=" + apptest.MasterKey, "CHORUS_SECRET_KEY=" + secret.GenerateKey(),
		"CHORUS_BOOTSTRAP=false", "CHORUS_LOG_LEVEL=warn", "CHORUS_BILLING_MODE=" + mode,
		"CHORUS_TIMEOUTS_PRE_DRAIN=" + preDrain.String(), "CHORUS_TIMEOUTS_DRAIN=10s",
	}
	for i := range 3 {
		f.addrs, f.data = append(f.addrs, freePort(t)), append(f.data, t.TempDir())
		f.procs = append(f.procs, nil)
		f.start(t, i)
	}
	f.nginx = startNginx(t, f.addrs)
	return f
}

// start (re)starts instance i on its port and data dir, and waits until
// it is ready.
func (f *fleet) start(t *testing.T, i int) {
	t.Helper()
	env := chorusEnv(append(f.env[:len(f.env):len(f.env)], "CHORUS_DATA_DIR="+f.data[i],
		"CHORUS_LISTEN="+f.addrs[i], fmt.Sprintf("CHORUS_INSTANCE_ID=chorus-%d", i+1))...)
	f.procs[i] = startProcess(t, f.bin, f.addrs[i], env)
}

// prepareFleet creates a funded customer and the simulated model in dsn.
func prepareFleet(t *testing.T, dsn string) (team int64, key string) {
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
	u := &chorus.User{Email: "failover@example.test", Name: "Failover", Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	secretKey, prefix, hash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "failover", Prefix: prefix, Hash: hash, UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	m := &chorus.Model{Name: foModel, Kind: chorus.KindChat, MaxOutput: 1000, Enabled: true}
	if err := db.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDeployment(ctx, &chorus.Deployment{ModelID: m.ID, Name: foModel + "-dep", Provider: chorus.ProviderSimulator,
		UpstreamModel: foModel, Settings: map[string]any{"output_tokens": foTokens, "tokens_per_second": foTokensPerSecond, "latency_ms": 250, "ttft_ms": 20, "seed": 1},
		InputPrice: foInputPrice, OutputPrice: foOutputPrice, Weight: 1, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Post(ctx, &chorus.Posting{IdempotencyKey: "failover-fund", Kind: chorus.PostingGrant, Entries: []chorus.LedgerEntry{
		{Account: chorus.AccountPromotions, Amount: -1_000_000_000_000}, {Account: chorus.WalletAccount(u.TeamID), Amount: 1_000_000_000_000}}}); err != nil {
		t.Fatal(err)
	}
	return u.TeamID, secretKey
}

// foOutcome is what one client saw of one request.
type foOutcome struct {
	id         string
	stream     bool
	start, end time.Time
	status     int
	instance   string // X-Chorus-Instance
	whole      bool   // the whole answer: a body with usage, or a stream through [DONE]
	chunks     int    // stream content chunks received
	usage      struct{ input, output int64 }
	err        error  // transport or read error
	body       string // an error response's body
}

func (o *foOutcome) failed() bool { return !o.whole }

func (o *foOutcome) String() string {
	return fmt.Sprintf("%s stream=%v status=%d instance=%q chunks=%d err=%v body=%q took=%v",
		o.id, o.stream, o.status, o.instance, o.chunks, o.err, o.body, o.end.Sub(o.start).Round(time.Millisecond))
}

// foLoad is foClients clients sending requests through nginx until stop.
type foLoad struct {
	mu       sync.Mutex
	outcomes []*foOutcome
	stop     atomic.Bool
	wg       sync.WaitGroup
}

func runLoad(f *fleet, name string) *foLoad {
	l := &foLoad{}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: foClients}}
	for c := range foClients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; !l.stop.Load(); n++ {
				o := foRequest(client, f.nginx.url, f.key, fmt.Sprintf("fo-%s-%d-%d", name, c, n), c%2 == 1)
				l.mu.Lock()
				l.outcomes = append(l.outcomes, o)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// finish stops the clients and returns every outcome.
func (l *foLoad) finish() []*foOutcome {
	l.stop.Store(true)
	l.wg.Wait()
	return l.outcomes
}

// foRequest sends one chat request, streamed or not, and reads all of it.
func foRequest(c *http.Client, base, key, id string, stream bool) *foOutcome {
	o := &foOutcome{id: id, stream: stream, start: time.Now()}
	defer func() { o.end = time.Now() }()
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count"}]}`, foModel, stream)
	if !stream {
		body = fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"count"}]}`, foModel)
	}
	req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		o.err = err
		return o
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	resp, err := c.Do(req)
	if err != nil {
		o.err = err
		return o
	}
	defer resp.Body.Close()
	o.status, o.instance = resp.StatusCode, resp.Header.Get(api.InstanceHeader)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		o.body = string(b)
		return o
	}
	type usage struct {
		Usage *struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		} `json:"usage"`
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if !stream {
		b, err := io.ReadAll(resp.Body)
		var u usage
		if o.err = err; err == nil && json.Unmarshal(b, &u) == nil && u.Usage != nil {
			o.whole, o.usage.input, o.usage.output = true, u.Usage.Prompt, u.Usage.Completion
		}
		return o
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := bytes.TrimPrefix(sc.Bytes(), []byte("data: "))
		if string(line) == "[DONE]" {
			o.whole = o.usage.output > 0
			continue
		}
		var u usage
		if json.Unmarshal(line, &u) != nil {
			continue
		}
		if u.Usage != nil {
			o.usage.input, o.usage.output = u.Usage.Prompt, u.Usage.Completion
		}
		if len(u.Choices) > 0 && u.Choices[0].Delta.Content != "" {
			o.chunks++
		}
	}
	o.err = sc.Err()
	return o
}

// foKill is one instance's loss: signalled at at, gone (reaped) at gone,
// restarted at back.
type foKill struct {
	instance       int
	addr           string
	at, gone, back time.Time
}

// overlaps says whether o was in flight while the instance died.
func (k foKill) overlaps(o *foOutcome) bool { return o.start.Before(k.gone) && o.end.After(k.at) }

func testKillFailover(t *testing.T, bin, pg, redis, mode string) {
	f := startFleet(t, bin, pg, redis, mode, 0)
	load := runLoad(f, "kill")
	var kills []foKill
	const every, downFor = 10 * time.Second, 6 * time.Second
	next := time.Now().Add(3 * time.Second) // the load settles first
	for i := range 3 {
		time.Sleep(time.Until(next))
		p := f.procs[i]
		k := foKill{instance: i, addr: f.addrs[i], at: time.Now()}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		k.gone = time.Now()
		// Down longer than nginx's fail_timeout (5 s), so nginx tries the
		// dead instance again, is refused, and must retry elsewhere.
		time.Sleep(downFor)
		k.back = time.Now()
		kills = append(kills, k)
		f.start(t, i)
		t.Logf("SIGKILLed chorus-%d; restarted after %v, ready %v later", i+1, downFor, time.Since(k.back).Round(time.Millisecond))
		next = next.Add(every)
	}
	time.Sleep(3 * time.Second) // the restarted instance takes load
	outcomes := load.finish()
	attempts := f.nginx.attempts(t)

	var inFlight, whileDown, failed, cut, retried int
	for _, o := range outcomes {
		var during *foKill
		for j := range kills {
			if kills[j].overlaps(o) {
				during = &kills[j]
			}
			if !o.start.Before(kills[j].gone) && o.start.Before(kills[j].back) {
				whileDown++
			}
		}
		if during != nil {
			inFlight++
		}
		if len(attempts[o.id].upstreams) > 1 {
			retried++
		}
		if !o.failed() {
			continue
		}
		failed++
		if during == nil {
			t.Errorf("request failed though no instance died while it ran: %v", o)
			continue
		}
		if ups := attempts[o.id].upstreams; len(ups) == 0 || ups[len(ups)-1] != during.addr {
			t.Errorf("request failed during the kill of chorus-%d (%s), but nginx sent it to %v: %v", during.instance+1, during.addr, ups, o)
		}
		switch {
		case o.stream && o.status == http.StatusOK:
			if cut++; cut == 1 {
				t.Logf("a stream cut by a kill: %v", o)
			}
			if o.err == nil {
				t.Errorf("stream cut by the kill ended cleanly without [DONE]; want a read error: %v", o)
			}
			if late := o.end.Sub(during.gone); late > 2*time.Second {
				t.Errorf("stream cut by the kill ended %v after the instance died; want within 2s: %v", late, o)
			}
		case o.status == http.StatusBadGateway:
			if failed-cut == 1 {
				t.Logf("a request in flight on a killed instance: %v", o)
			}
			if !strings.Contains(o.body, `"gateway_unavailable"`) {
				t.Errorf("nginx's 502 is not the JSON error of deploy/nginx/chorus.conf: %v", o)
			}
		default:
			t.Errorf("request in flight on a killed instance failed in an unexpected way: %v", o)
		}
	}
	t.Logf("kill: %d requests, %d kills; %d in flight at a kill, of which %d failed (%d streams cut, %d answered 502); "+
		"%d started while an instance was down; nginx retried %d on another instance",
		len(outcomes), len(kills), inFlight, failed, cut, failed-cut, whileDown, retried)
	if len(outcomes) < 200 {
		t.Errorf("only %d requests in the run; the load did not run", len(outcomes))
	}
	if retried == 0 {
		t.Error("nginx retried no request on another instance: the refused connections to a dead instance were not exercised")
	}
	f.stopAll(t)
	if mode == config.BillingFast {
		f.checkFastBooks(t, outcomes, len(kills))
		return
	}
	f.checkBooks(t, outcomes)
}

func testRollingRestart(t *testing.T, bin, pg, redis string) {
	// pre_drain longer than nginx's upstream keepalive_timeout (4 s), as
	// deploy/compose sets it (6 s).
	const preDrain = 5 * time.Second
	f := startFleet(t, bin, pg, redis, config.BillingStrict, preDrain)
	load := runLoad(f, "rolling")
	time.Sleep(2 * time.Second)
	for i := range 3 {
		p := f.procs[i]
		sigterm := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitDraining(t, p)
		p.wait(t, preDrain+10*time.Second)
		exited := time.Since(sigterm)
		f.start(t, i)
		t.Logf("SIGTERMed chorus-%d: exited 0 after %v; restarted and ready after %v", i+1,
			exited.Round(time.Millisecond), (time.Since(sigterm) - exited).Round(time.Millisecond))
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	outcomes := load.finish()
	served := map[string]int{}
	failed := 0
	for _, o := range outcomes {
		if o.failed() {
			failed++
			if failed <= 10 {
				t.Errorf("request failed during a rolling restart: %v", o)
			}
			continue
		}
		served[o.instance]++
	}
	t.Logf("rolling restart: %d requests, %d errors; by instance %v", len(outcomes), failed, served)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the rolling restart; want 0", failed, len(outcomes))
	}
	if len(served) != 3 {
		t.Errorf("requests were served by %v, want the three instances", served)
	}
	f.stopAll(t)
	f.checkBooks(t, outcomes)
}

// waitDraining waits for a SIGTERMed instance's /readyz to say draining.
func waitDraining(t *testing.T, p *process) {
	t.Helper()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	eventually(t, time.Second, func() string {
		resp, err := c.Get(p.url + "/readyz")
		if err != nil {
			return "readyz: " + err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "draining") {
			return fmt.Sprintf("readyz after SIGTERM = %d %q, want 503 draining", resp.StatusCode, b)
		}
		return ""
	})
}

// stopAll SIGTERMs every instance at once, so their usage is flushed.
func (f *fleet) stopAll(t *testing.T) {
	t.Helper()
	var wg sync.WaitGroup
	for _, p := range f.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}()
	}
	wg.Wait()
	for _, p := range f.procs {
		p.wait(t, 20*time.Second)
	}
}

// checkBooks compares what the clients saw with the database: no request
// charged or recorded twice; every whole answer charged (strict); a stream
// cut short charged only if all its content was relayed; the spend
// postings equal the usage records, request by request — SIGKILL or not,
// since strict mode stores a request's usage record with its settlement.
func (f *fleet) checkBooks(t *testing.T, outcomes []*foOutcome) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, f.dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	charges := spendRefs(t, db, f.team)
	records := usageByRequest(t, db, f.team)
	for _, o := range outcomes {
		if !o.whole {
			continue
		}
		want := chorus.RequestCost(o.usage.input, o.usage.output, foInputPrice, foOutputPrice)
		if got := charges[o.id]; len(got) != 1 || got[0] != want {
			t.Errorf("whole answer %s charged %v, want once %d", o.id, got, want)
		}
	}
	for _, o := range outcomes {
		if o.whole || !o.stream || len(charges[o.id]) == 0 {
			continue
		}
		if o.chunks < foTokens {
			t.Errorf("stream %s cut after %d of %d chunks was charged %v: more than was relayed", o.id, o.chunks, foTokens, charges[o.id])
		}
	}
	var spend, cost int64
	var lost []string
	for id, amounts := range charges {
		if len(amounts) > 1 {
			t.Errorf("request %s charged %d times: %v", id, len(amounts), amounts)
		}
		for _, a := range amounts {
			spend += a
		}
		if len(records[id]) == 0 {
			lost = append(lost, id)
		}
	}
	for id, rs := range records {
		if len(rs) > 1 {
			t.Errorf("request %s has %d usage records", id, len(rs))
		}
		for _, r := range rs {
			cost += r.Cost
			if r.Cost > 0 && (len(charges[id]) == 0 || charges[id][0] != r.Cost) {
				t.Errorf("usage record of %s costs %d, charged %v", id, r.Cost, charges[id])
			}
		}
	}
	t.Logf("books: %d requests charged, spend %d; %d usage records, cost %d; %d charged without a usage record",
		len(charges), spend, len(records), cost, len(lost))
	if spend == cost {
		return
	}
	sort.Strings(lost)
	t.Errorf("the ledger's spend %d != the usage records' cost %d (%d charged without a record: %v)", spend, cost, len(lost), lost)
}

// usageByRequest returns a team's usage records by request ID.
func usageByRequest(t *testing.T, db *store.DB, team int64) map[string][]*chorus.Usage {
	t.Helper()
	out := map[string][]*chorus.Usage{}
	page := chorus.Page{Limit: chorus.MaxPageSize}
	for {
		us, err := db.ListUsage(context.Background(), chorus.UsageFilter{TeamID: &team}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			out[u.RequestID] = append(out[u.RequestID], u)
		}
		if len(us) < page.Limit {
			return out
		}
		page.After = us[len(us)-1].ID
	}
}

// checkFastBooks checks a fast-mode run that SIGKILLed kills instances
// against docs/billing.md's loss window: each kill loses at most the
// charges and usage records of one flush interval plus the batch being
// written (bound: the measured rate × 2 × flush_interval, per kill); no
// request is recorded twice, nothing is charged beyond what was sent, and
// the spend and the usage records' cost differ by at most the bound.
func (f *fleet) checkFastBooks(t *testing.T, outcomes []*foOutcome, kills int) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, f.dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var whole, unit int64
	first, last := outcomes[0].end, outcomes[0].end
	for _, o := range outcomes {
		if !o.whole {
			continue
		}
		whole++
		unit = chorus.RequestCost(o.usage.input, o.usage.output, foInputPrice, foOutputPrice)
		first, last = minTime(first, o.end), maxTime(last, o.end)
	}
	var spend, cost, records int64
	for _, amounts := range spendRefs(t, db, f.team) {
		for _, a := range amounts {
			spend += a
		}
	}
	for id, rs := range usageByRequest(t, db, f.team) {
		if len(rs) > 1 {
			t.Errorf("request %s has %d usage records", id, len(rs))
		}
		for _, r := range rs {
			cost += r.Cost
			records++
		}
	}
	flush := config.DefaultBilling().FlushInterval
	rate := float64(whole) / last.Sub(first).Seconds()
	bound := int64(kills) * (int64(rate*2*flush.Seconds()) + 1)
	charged := spend / unit
	t.Logf("books (fast): %d whole answers (%.0f/s); %d charged (spend %d), %d usage records (cost %d); bound %d (%d kills × 2 × flush_interval %v at the measured rate)",
		whole, rate, charged, spend, records, cost, bound, kills, flush)
	if spend%unit != 0 || spend > int64(len(outcomes))*unit {
		t.Errorf("spend %d for %d requests sent at %d each: something was charged twice or in part", spend, len(outcomes), unit)
	}
	if missing := whole - charged; missing > bound {
		t.Errorf("%d whole answers not charged, above the bound of %d", missing, bound)
	}
	if missing := whole - records; missing > bound {
		t.Errorf("%d whole answers without a usage record, above the bound of %d", missing, bound)
	}
	if gap := max(spend-cost, cost-spend); gap > bound*unit {
		t.Errorf("spend %d and usage cost %d differ by %d, above the bound of %d requests (%d)", spend, cost, gap, bound, bound*unit)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
