package store_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// readLog records where the store sent each lag-tolerant read.
type readLog struct {
	mu    sync.Mutex
	reads []string // "target/reason"
}

func (l *readLog) record(target, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, target+"/"+reason)
}

// last returns the newest read's "target/reason".
func (l *readLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.reads) == 0 {
		return ""
	}
	return l.reads[len(l.reads)-1]
}

// replicaEnv is a primary schema of its own, the streaming replica of that
// primary (CHORUS_TEST_REPLICA_URL) seeing the same schema, and a raw
// connection to the replica to pause and resume its replay.
type replicaEnv struct {
	primaryDSN, replicaDSN string
	replica                *sql.DB
}

// mustReplicaEnv returns the replica environment, or skips (or fails, with
// CHORUS_REQUIRE_SERVICES=1) when no replica is configured. Tests that
// pause replay take an advisory lock on the primary for their duration,
// so two test processes never pause the shared replica under each other;
// replay is always resumed when the test ends.
func mustReplicaEnv(t *testing.T) replicaEnv {
	t.Helper()
	base, replicaBase := os.Getenv("CHORUS_TEST_POSTGRES_URL"), os.Getenv("CHORUS_TEST_REPLICA_URL")
	if base == "" || replicaBase == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("a PostgreSQL replica is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REPLICA_URL (scripts/pg-replica.sh makes one)")
		}
		t.Skip("read-replica tests skipped: set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REPLICA_URL (scripts/pg-replica.sh makes one)")
	}
	lockReplica(t, base)
	env := replicaEnv{primaryDSN: postgresDSN(t, base)}
	p, err := url.Parse(env.primaryDSN)
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
	env.replicaDSN = r.String()
	env.replica, err = sql.Open("pgx", replicaBase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := env.replica.Exec(`SELECT pg_wal_replay_resume()`); err != nil {
			t.Errorf("resume replay: %v", err)
		}
		env.replica.Close()
	})
	return env
}

// lockReplica holds an advisory lock on the primary until the test ends.
func lockReplica(t *testing.T, base string) {
	t.Helper()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('chorus.test.replica'))`); err != nil {
		t.Fatalf("lock the test replica: %v", err)
	}
	t.Cleanup(func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext('chorus.test.replica'))`)
		conn.Close()
		db.Close()
	})
}

// open opens the store on the primary with the replica, reads logged.
func (env replicaEnv) open(t *testing.T, maxLag time.Duration) (*store.DB, *readLog) {
	t.Helper()
	log := &readLog{}
	db := MustOpenDB(t, backend{name: store.DialectPostgres, newDSN: func(testing.TB) string { return env.primaryDSN }},
		func(o *store.Options) {
			o.Replicas, o.ReplicaMaxLag = []string{env.replicaDSN}, maxLag
		})
	db.SetReplicaReadHook(log.record)
	return db, log
}

func (env replicaEnv) setReplay(t *testing.T, run bool) {
	t.Helper()
	q := `SELECT pg_wal_replay_pause()`
	if run {
		q = `SELECT pg_wal_replay_resume()`
	}
	if _, err := env.replica.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// waitStatus checks the replicas until the first is in status want.
func waitStatus(t *testing.T, db *store.DB, want string) chorus.ReplicaState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := db.CheckReplicas(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := db.Replicas()[0]
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica state %+v, want status %s", st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listOrderIDs lists the team's orders and returns their IDs.
func listOrderIDs(t *testing.T, ctx context.Context, db *store.DB, teamID int64) []int64 {
	t.Helper()
	os, err := db.ListOrders(ctx, chorus.OrderFilter{TeamID: teamID}, chorus.Page{})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(os))
	for i, o := range os {
		ids[i] = o.ID
	}
	return ids
}

// readOwnWrite checks the replicas and lists orders as a caller that wrote
// at pos, until the replica serves the read; it returns how long that took
// and what the read saw.
func readOwnWrite(t *testing.T, db *store.DB, log *readLog, teamID int64, pos string) (time.Duration, []int64) {
	t.Helper()
	ctx := db.ReadAfter(context.Background(), pos)
	start := time.Now()
	for {
		if err := db.CheckReplicas(ctx); err != nil {
			t.Fatal(err)
		}
		ids := listOrderIDs(t, ctx, db, teamID)
		if log.last() == "replica/fresh" {
			return time.Since(start), ids
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the replica never served a read after %s; last read %s, state %+v", pos, log.last(), db.Replicas()[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReplicaReads(t *testing.T) {
	env := mustReplicaEnv(t)
	db, log := env.open(t, 5*time.Second)
	ctx := context.Background()
	u := mustCreateUser(t, db, "ada@example.com")

	// A write on the primary reaches the replica, which then serves reads.
	first := mustOrder(t, db, u, 10)
	pos, err := db.WritePosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took, ids := readOwnWrite(t, db, log, u.TeamID, pos)
	if !slices.Contains(ids, first.ID) {
		t.Fatalf("replica read %v without order %d", ids, first.ID)
	}
	t.Logf("write visible on the replica after %s", took)

	// Replay paused: once the primary moves on the replica is marked
	// paused and listings go to the primary, which has the fresh rows.
	env.setReplay(t, false)
	second := mustOrder(t, db, u, 20)
	st := waitStatus(t, db, chorus.ReplicaPaused)
	if ids := listOrderIDs(t, ctx, db, u.TeamID); !slices.Contains(ids, second.ID) {
		t.Errorf("read while paused: %v, want order %d", ids, second.ID)
	}
	if got, want := log.last(), "primary/"+chorus.ReplicaPaused; got != want {
		t.Errorf("read while paused went to %s, want %s", got, want)
	}
	t.Logf("paused replica: %+v", st)

	// Resumed: it catches up and serves again, with the rows it missed.
	env.setReplay(t, true)
	pos, err = db.WritePosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took, ids = readOwnWrite(t, db, log, u.TeamID, pos)
	if !slices.Contains(ids, second.ID) {
		t.Errorf("replica read after resume %v without order %d", ids, second.ID)
	}
	t.Logf("resumed replica serving again after %s", took)
}

// TestReplicaReadYourWrites: the monitor last saw the replica fresh, but it
// has not replayed the order just placed (replay is paused and not yet
// rechecked). A plain listing reads the replica and misses the order; the
// placing client's listing, bound to its write position, reads the primary
// and sees it.
func TestReplicaReadYourWrites(t *testing.T) {
	env := mustReplicaEnv(t)
	db, log := env.open(t, time.Minute)
	ctx := context.Background()
	u := mustCreateUser(t, db, "ada@example.com")
	pos, err := db.WritePosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	readOwnWrite(t, db, log, u.TeamID, pos)

	env.setReplay(t, false)
	o := mustOrder(t, db, u, 10)
	pos, err = db.WritePosition(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if ids := listOrderIDs(t, ctx, db, u.TeamID); slices.Contains(ids, o.ID) || log.last() != "replica/fresh" {
		t.Fatalf("a plain listing read %v from %s: want the replica, without the new order", ids, log.last())
	}
	own := db.ReadAfter(ctx, pos)
	if ids := listOrderIDs(t, own, db, u.TeamID); !slices.Contains(ids, o.ID) {
		t.Errorf("the client's own listing %v lacks order %d", ids, o.ID)
	}
	if got, want := log.last(), "primary/"+store.ReadReasonReadYourWrites; got != want {
		t.Errorf("own listing went to %s, want %s", got, want)
	}
}

// TestReplicaUnreachable: a replica that does not answer is reported and
// skipped; the store still opens and reads go to the primary. It needs only
// the primary.
func TestReplicaUnreachable(t *testing.T) {
	b := postgresBackend(t)
	log := &readLog{}
	db := MustOpenDB(t, b, func(o *store.Options) {
		o.Replicas = []string{"postgres://postgres:secret@127.0.0.1:1/test?sslmode=disable&connect_timeout=1"}
	})
	db.SetReplicaReadHook(log.record)
	ctx := context.Background()
	if st := db.Replicas()[0]; st.Status != chorus.ReplicaUnknown || st.Name != "127.0.0.1:1/test" {
		t.Errorf("before the first check: %+v", st)
	}
	if err := db.CheckReplicas(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Replicas()[0]
	if st.Status != chorus.ReplicaUnreachable || st.Err == "" {
		t.Errorf("state %+v, want unreachable with the error", st)
	}
	u := mustCreateUser(t, db, "ada@example.com")
	o := mustOrder(t, db, u, 10)
	if ids := listOrderIDs(t, ctx, db, u.TeamID); !slices.Contains(ids, o.ID) {
		t.Errorf("listing %v lacks order %d", ids, o.ID)
	}
	if got, want := log.last(), "primary/"+chorus.ReplicaUnreachable; got != want {
		t.Errorf("read went to %s, want %s", got, want)
	}
}

func TestReplicaOptions(t *testing.T) {
	t.Run("ErrSQLite", func(t *testing.T) {
		_, err := store.Open(context.Background(), sqliteDSN(t), store.Options{Replicas: []string{"postgres://127.0.0.1:5433/test"}})
		if err == nil {
			t.Fatal("opened SQLite with read replicas")
		}
	})
	t.Run("NoReplicas", func(t *testing.T) {
		db := MustOpenDB(t, backend{name: store.DialectSQLite, newDSN: sqliteDSN})
		ctx := context.Background()
		if pos, err := db.WritePosition(ctx); err != nil || pos != "" {
			t.Errorf("WritePosition = %q, %v; want empty", pos, err)
		}
		if err := db.CheckReplicas(ctx); err != nil || db.Replicas() != nil {
			t.Errorf("CheckReplicas: %v, %v", err, db.Replicas())
		}
	})
}

// BenchmarkReplicaCosts measures what replicas add: the check each
// instance runs every second, and the write position a successful
// management write fetches for read-your-writes.
func BenchmarkReplicaCosts(b *testing.B) {
	base, replicaBase := os.Getenv("CHORUS_TEST_POSTGRES_URL"), os.Getenv("CHORUS_TEST_REPLICA_URL")
	if base == "" || replicaBase == "" {
		b.Skip("set CHORUS_TEST_POSTGRES_URL and CHORUS_TEST_REPLICA_URL")
	}
	db := mustOpen(b, base, func(o *store.Options) { o.Replicas = []string{replicaBase} })
	ctx := context.Background()
	b.Run("CheckReplicas", func(b *testing.B) {
		for b.Loop() {
			if err := db.CheckReplicas(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("WritePosition", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.WritePosition(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
