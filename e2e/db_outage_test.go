package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// TestDatabaseOutage runs the chorus binary on PostgreSQL through a TCP
// proxy, puts a steady load on it, and stops the proxy (every connection
// reset, new ones refused) for CHORUS_TEST_OUTAGE (default 5s; the issue's
// figure is 10s), then starts it again:
//
//   - fast billing: 0 client errors during the outage; the management API
//     answers 503 service_unavailable at once; readiness stays 200 and says
//     "degraded: database"; after the database returns, every request
//     served has exactly one usage record, the settlements charge exactly
//     what the clients were told, nothing twice, and after SIGTERM nothing
//     stays reserved. The time from the proxy's restart to the spools
//     being empty and readiness clean is reported;
//   - strict billing: requests get a 503 within a second (no hang), readiness
//     is 503, and once the database returns and the instance shuts down no
//     hold is left: those the outage cut were released.
func TestDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("PostgreSQL outage test skipped: set CHORUS_TEST_POSTGRES_URL")
	}
	outage := 5 * time.Second
	if v := os.Getenv("CHORUS_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 30*time.Second {
			t.Fatalf("CHORUS_TEST_OUTAGE=%q: want a duration up to 30s", v)
		}
		outage = d
	}
	bin := buildChorus(t)
	for _, mode := range []string{config.BillingFast, config.BillingStrict} {
		t.Run(mode, func(t *testing.T) {
			direct := postgresSchema(t, base)
			setup := prepareKill(t, direct)
			proxy := startDBProxy(t, direct)
			o := &outageRun{t: t, mode: mode, setup: setup, direct: direct, proxy: proxy, outage: outage}
			o.run(bin)
		})
	}
}

// outageRun is one mode's run.
type outageRun struct {
	t      *testing.T
	mode   string
	setup  killSetup
	direct string // the DSN straight to PostgreSQL, for the checks
	proxy  *dbProxy
	outage time.Duration
	p      *process
	client *http.Client

	mu     sync.Mutex
	served map[string]int64 // request ID → cost the client was told, for every 200
	phases map[string]*phaseStats
	phase  atomic.Value // string
}

// phaseStats counts one phase's results.
type phaseStats struct {
	ok, errors, unavailable int
	slowest                 time.Duration
}

func (o *outageRun) run(bin string) {
	t := o.t
	env := chorusEnv("CHORUS_DATA_DIR="+t.TempDir(), "CHORUS_DATABASE_URL="+o.proxy.dsn, "CHORUS_MASTER_KEY="+apptest.MasterKey,
		"CHORUS_BOOTSTRAP=false", "CHORUS_LOG_LEVEL=warn", "CHORUS_BILLING_MODE="+o.mode,
		"CHORUS_OUTAGE_PING_INTERVAL=1s", "CHORUS_OUTAGE_PING_TIMEOUT=500ms")
	listen := freePort(t)
	env = append(env, "CHORUS_LISTEN="+listen)
	o.p = startProcess(t, bin, listen, env)
	o.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer o.client.CloseIdleConnections()
	o.served, o.phases = map[string]int64{}, map[string]*phaseStats{}

	o.phase.Store("before")
	var stop atomic.Bool
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				o.request(fmt.Sprintf("outage-%s-%d-%d", o.mode, c, n), n%2 == 1)
				time.Sleep(10 * time.Millisecond) // a steady, bounded load
			}
		}()
	}
	time.Sleep(2 * time.Second)

	o.proxy.stop()
	cut := time.Now()
	o.phase.Store("cut") // requests in flight when the database went away
	time.Sleep(1500 * time.Millisecond)
	o.phase.Store("outage")
	o.checkDuringOutage()
	time.Sleep(time.Until(cut.Add(o.outage)))

	o.phase.Store("after")
	o.proxy.start()
	restored := time.Now()
	recovered := o.waitRecovered()
	t.Logf("%s: database away %v; recovered %v after it returned (spools empty, readiness clean)",
		o.mode, restored.Sub(cut).Round(time.Millisecond), recovered.Round(time.Millisecond))
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	o.p.stop(t, 30*time.Second)

	o.report()
	o.checkBooks()
}

// request sends one chat request and counts its result in the phase.
func (o *outageRun) request(id string, stream bool) {
	phase := o.phase.Load().(string)
	start := time.Now()
	cost, status, ok := outageRequest(o.client, o.p.url, o.setup.key, id, stream)
	took := time.Since(start)
	unavailable := status == http.StatusServiceUnavailable
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.phases[phase]
	if s == nil {
		s = &phaseStats{}
		o.phases[phase] = s
	}
	s.slowest = max(s.slowest, took)
	switch {
	case ok:
		s.ok++
		o.served[id] = cost
	case unavailable:
		s.unavailable++
	default:
		s.errors++
	}
}

// outageRequest sends killRequest's request and returns the cost the
// client was told, the status, and whether the answer arrived whole.
func outageRequest(c *http.Client, base, key, id string, stream bool) (int64, int, bool) {
	var status int
	rt := c.Transport
	c2 := *c
	c2.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			status = resp.StatusCode
		}
		return resp, err
	})
	cost, ok := killRequest(&c2, base, key, id, stream)
	return cost, status, ok
}

// roundTripFunc is an http.RoundTripper from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type probe struct {
	status int
	body   string
	took   time.Duration
}

func (o *outageRun) get(path, key string) probe {
	start := time.Now()
	req, _ := http.NewRequest("GET", o.p.url+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return probe{status: -1, body: err.Error(), took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return probe{status: resp.StatusCode, body: string(b), took: time.Since(start)}
}

// checkDuringOutage checks what the management API and readiness say.
func (o *outageRun) checkDuringOutage() {
	t := o.t
	m := o.get("/api/keys", o.setup.key)
	if m.status != http.StatusServiceUnavailable || !strings.Contains(m.body, `"service_unavailable"`) || m.took > time.Second {
		t.Errorf("management during the outage: %d %s after %v; want 503 service_unavailable at once", m.status, m.body, m.took)
	}
	r := o.get("/readyz", "")
	switch o.mode {
	case config.BillingFast:
		if r.status != http.StatusOK || !strings.Contains(r.body, "degraded: database") {
			t.Errorf("readiness during the outage (fast): %d %q; want 200 saying the database is degraded", r.status, r.body)
		}
	default:
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "database unreachable") {
			t.Errorf("readiness during the outage (strict): %d %q; want 503 saying the database is unreachable", r.status, r.body)
		}
	}
	if r.took > time.Second {
		t.Errorf("readiness took %v during the outage", r.took)
	}
}

// waitRecovered waits until readiness is clean and nothing waits in the
// spools, and returns how long that took.
func (o *outageRun) waitRecovered() time.Duration {
	start := time.Now()
	for {
		r := o.get("/readyz", "")
		if r.status == http.StatusOK && !strings.Contains(r.body, "degraded") {
			m := o.get("/metrics", "")
			if metricZero(m.body, `chorus_spool_bytes{spool="usage"}`) && metricZero(m.body, `chorus_spool_bytes{spool="billing"}`) &&
				metricZero(m.body, "chorus_billing_waiting_batches") && metricZero(m.body, "chorus_billing_cut_holds") {
				return time.Since(start)
			}
		}
		if time.Since(start) > 30*time.Second {
			o.t.Fatalf("not recovered 30s after the database returned: readiness %d %q", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricZero reports whether the metric line name reads 0.
func metricZero(body, name string) bool {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v) == "0"
		}
	}
	return false
}

func (o *outageRun) report() {
	t := o.t
	o.mu.Lock()
	defer o.mu.Unlock()
	// A request counts in the phase it started in: "before" includes those
	// in flight when the database went away, "cut" the first 1.5 s of the
	// outage (the circuit opens within it), "after" starts when the proxy
	// listens again.
	for _, ph := range []string{"before", "cut", "outage", "after"} {
		s := o.phases[ph]
		if s == nil {
			s = &phaseStats{}
		}
		t.Logf("%s %-6s: %4d ok, %3d 503, %3d other errors, slowest %v", o.mode, ph, s.ok, s.unavailable, s.errors, s.slowest.Round(time.Millisecond))
	}
	lines := strings.Count(o.p.stderr.String(), "\n")
	t.Logf("%s: %d log lines (warn and above) for the whole run", o.mode, lines)
	if lines > 40 {
		t.Errorf("%d log lines for one outage: a flood\n%s", lines, o.p.stderr.String())
	}
	out := o.phases["outage"]
	if out == nil || o.phases["before"] == nil || o.phases["before"].ok == 0 {
		t.Fatal("no load ran")
	}
	switch o.mode {
	case config.BillingFast:
		if out.errors+out.unavailable != 0 || out.ok == 0 {
			t.Errorf("fast mode during the outage: %d ok, %d errors; want every request served", out.ok, out.errors+out.unavailable)
		}
	default:
		if out.ok != 0 || out.errors != 0 || out.unavailable == 0 {
			t.Errorf("strict mode during the outage: %d ok, %d 503, %d other; want only 503s", out.ok, out.unavailable, out.errors)
		}
		if out.slowest > time.Second {
			t.Errorf("strict mode during the outage: slowest answer %v, want under 1s (no hang)", out.slowest)
		}
	}
	if a := o.phases["after"]; a == nil || a.ok == 0 {
		t.Errorf("nothing served after the database returned")
	}
}

// checkBooks compares what the clients were served with what the database
// recorded and charged.
func (o *outageRun) checkBooks() {
	t := o.t
	ctx := context.Background()
	sdb, err := sql.Open("pgx", o.direct)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	records := countBy(t, sdb, `SELECT request_id, COUNT(*) FROM usage_records WHERE request_id LIKE 'outage-%' GROUP BY request_id`)
	o.mu.Lock()
	defer o.mu.Unlock()
	var lost, twice int
	var servedCost int64
	for id, cost := range o.served {
		servedCost += cost
		if records[id] == 0 {
			lost++
		}
	}
	for _, n := range records {
		if n > 1 {
			twice++
		}
	}
	t.Logf("%s: %d requests served, %d usage records; %d served without a record, %d recorded twice", o.mode, len(o.served), len(records), lost, twice)
	if lost != 0 || twice != 0 {
		t.Errorf("usage records: %d lost, %d twice; want 0 and 0", lost, twice)
	}

	db, err := store.Open(ctx, o.direct, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, cost, charged, err := db.SettlementTotals(ctx, o.setup.team)
	if err != nil {
		t.Fatal(err)
	}
	refs := spendRefs(t, db, o.setup.team)
	switch o.mode {
	case config.BillingFast:
		// A clean shutdown writes every charge: exact.
		if cost != servedCost || charged != servedCost {
			t.Errorf("fast: settlements cost %d, charged %d; the clients were served %d", cost, charged, servedCost)
		}
	default:
		var doubled, missing int
		for id := range o.served {
			if len(refs[id]) == 0 {
				missing++
			}
		}
		for _, amounts := range refs {
			if len(amounts) > 1 {
				doubled++
			}
		}
		if missing != 0 || doubled != 0 || charged < servedCost {
			t.Errorf("strict: %d served requests uncharged, %d charged twice, charged %d for %d served", missing, doubled, charged, servedCost)
		}
	}
	if r, err := db.CheckLedger(ctx); err != nil || !r.OK {
		t.Errorf("ledger check = %+v, %v", r, err)
	}
	b, err := db.Balance(ctx, o.setup.team)
	if err != nil {
		t.Fatal(err)
	}
	if b.Reserved != 0 {
		holds, _ := db.HoldsOf(ctx, o.setup.team)
		t.Errorf("%s: %d micro-credits still reserved after a clean shutdown (%v); want 0", o.mode, b.Reserved, holds)
	}
}

// countBy runs a query of (text, count) rows into a map.
func countBy(t *testing.T, db *sql.DB, query string) map[string]int {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dbProxy forwards a loopback port to PostgreSQL. stop closes the listener
// and resets every connection (the database "goes away": new connections
// are refused); start listens on the same port again.
type dbProxy struct {
	t        *testing.T
	addr     string // where the proxy listens
	upstream string // PostgreSQL's host:port
	dsn      string // the DSN through the proxy

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startDBProxy(t *testing.T, dsn string) *dbProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{t: t, upstream: u.Host, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	u.Host = p.addr
	p.dsn = u.String()
	p.serve(ln)
	t.Cleanup(func() { p.stop(); p.wg.Wait() })
	return p
}

// start listens again on the proxy's port.
func (p *dbProxy) start() {
	var ln net.Listener
	var err error
	for range 50 { // the port is ours; a moment may pass before it is free
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *dbProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
}

// forward pipes c to PostgreSQL until either side closes.
func (p *dbProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // stopped meanwhile
		p.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}
	p.wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
}

// stop closes the listener and resets every connection.
func (p *dbProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as when the database host goes away
		}
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			p.t.Logf("proxy: close: %v", err)
		}
	}
	clear(p.conns)
}
