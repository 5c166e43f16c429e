package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// TestReadReplicas runs a gateway on PostgreSQL with the streaming replica
// of CHORUS_TEST_REPLICA_URL, through the HTTP API: a customer's order
// is in their order list at once (read-your-writes); with the replica's
// replay paused, readiness stays 200 and says the replica is degraded,
// listings still show fresh rows (the primary serves them) and the
// metrics say so; resumed, the replica serves listings again.
func TestReadReplicas(t *testing.T) {
	base, replicaBase := os.Getenv("CHORUS_TEST_POSTGRES_URL"), os.Getenv("CHORUS_TEST_REPLICA_URL")
	if base == "" || replicaBase == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("a PostgreSQL replica is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REPLICA_URL (scripts/pg-replica.sh makes one)")
		}
		t.Skip("read-replica test skipped: set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REPLICA_URL (scripts/pg-replica.sh makes one)")
	}
	replay := pauseableReplica(t, base, replicaBase)
	primary := postgresSchema(t, base)
	replicaURL := sameSchema(t, replicaBase, primary)
	g := startGateway(t, func(c *config.Config) {
		c.DatabaseURL, c.DatabaseReplicas, c.ReplicaMaxLag = primary, []string{replicaURL}, 2*time.Second
	})
	pack := g.createProduct("Pack", 500, 10)
	s := g.SignIn(t, chorus.RoleCustomer)

	// Read-your-writes: the order just placed is listed at once.
	pos, first := placeOrder(t, s, pack.ID, "rr-1")
	if pos == "" {
		t.Fatal("checkout answered without Chorus-Read-After")
	}
	if ids := orderIDs(t, s); !contains(ids, first) {
		t.Fatalf("orders right after checkout: %v, want %d", ids, first)
	}

	// Paused replay: readiness degrades but stays 200; listings stay fresh.
	replay(false)
	_, second := placeOrder(t, s, pack.ID, "rr-2")
	ready := waitReady(t, g, "degraded: paused")
	t.Logf("readiness while paused:\n%s", ready)
	before := metricValue(t, g, `chorus_db_replica_reads_total{reason="paused",target="primary"}`)
	key := g.customer().Key // an API client with no write position of its own
	if r := g.do("GET", "/api/orders", key, nil); r.Status != http.StatusOK {
		t.Fatalf("orders: %d %s", r.Status, r.Body)
	}
	if ids := orderIDs(t, s); !contains(ids, second) {
		t.Errorf("orders while paused: %v, want %d", ids, second)
	}
	if after := metricValue(t, g, `chorus_db_replica_reads_total{reason="paused",target="primary"}`); after < before+1 {
		t.Errorf("reads sent to the primary because of the pause: %v then %v", before, after)
	}
	if v := metricValue(t, g, fmt.Sprintf(`chorus_db_replica_status{replica=%q,status="paused"}`, replicaName(t, replicaURL))); v != 1 {
		t.Errorf("status metric paused = %v", v)
	}

	// Resumed: the replica is ok again and serves the listings (once the
	// next check has seen it catch up).
	replay(true)
	waitReady(t, g, "ok (lag")
	deadline := time.Now().Add(15 * time.Second)
	for metricValue(t, g, `chorus_db_replica_reads_total{reason="fresh",target="replica"}`) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no listing served by the replica after resume; readiness:\n%s", g.do("GET", "/readyz", "", nil).Body)
		}
		if r := g.do("GET", "/api/orders", key, nil); r.Status != http.StatusOK {
			t.Fatalf("orders: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pauseableReplica takes the advisory lock that serialises the tests that
// pause the shared replica, and returns a function that pauses (false) or
// resumes (true) its replay; replay is resumed when the test ends.
func pauseableReplica(t *testing.T, base, replicaBase string) func(run bool) {
	t.Helper()
	primary, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := primary.Conn(testContext(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(testContext(t, time.Minute), `SELECT pg_advisory_lock(hashtext('chorus.test.replica'))`); err != nil {
		t.Fatalf("lock the test replica: %v", err)
	}
	replica, err := sql.Open("pgx", replicaBase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := replica.Exec(`SELECT pg_wal_replay_resume()`); err != nil {
			t.Errorf("resume replay: %v", err)
		}
		replica.Close()
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext('chorus.test.replica'))`)
		conn.Close()
		primary.Close()
	})
	return func(run bool) {
		q := `SELECT pg_wal_replay_pause()`
		if run {
			q = `SELECT pg_wal_replay_resume()`
		}
		if _, err := replica.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// sameSchema returns replicaBase with the search_path of primary.
func sameSchema(t *testing.T, replicaBase, primary string) string {
	t.Helper()
	p, err := url.Parse(primary)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(replicaBase)
	if err != nil {
		t.Fatal(err)
	}
	q := r.Query()
	q.Set("search_path", p.Query().Get("search_path"))
	r.RawQuery = q.Encode()
	return r.String()
}

// replicaName is how metrics and readiness name a replica: host:port/db.
func replicaName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host + u.Path
}

// placeOrder checks out one pack as s and returns the write position the
// answer carried and the order's ID.
func placeOrder(t *testing.T, s *apptest.Session, productID int64, idem string) (string, int64) {
	t.Helper()
	if code, body := s.Do(t, "POST", "/api/cart", map[string]any{"product_id": productID, "quantity": 1}); code != http.StatusOK {
		t.Fatalf("add to cart: %d %s", code, body)
	}
	req, err := http.NewRequest("POST", s.URL+"/api/checkout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Idempotency-Key", idem)
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var o struct{ ID int64 }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &o) != nil {
		t.Fatalf("checkout: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Chorus-Read-After"), o.ID
}

// orderIDs lists s's orders.
func orderIDs(t *testing.T, s *apptest.Session) []int64 {
	t.Helper()
	code, body := s.Do(t, "GET", "/api/orders", nil)
	var list struct{ Data []struct{ ID int64 } }
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
		t.Fatalf("orders: %d %s", code, body)
	}
	ids := make([]int64, len(list.Data))
	for i, o := range list.Data {
		ids[i] = o.ID
	}
	return ids
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// waitReady polls /readyz until it answers 200 with a line containing want.
func waitReady(t *testing.T, g *gateway, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := g.do("GET", "/readyz", "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("readyz %d: %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), want) {
			return string(r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never said %q; last:\n%s", want, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricValue scrapes /metrics and returns the value of the sample named
// exactly series (0 when absent).
func metricValue(t *testing.T, g *gateway, series string) float64 {
	t.Helper()
	r := g.do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
