package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Where a lag-tolerant read went and why (SetReplicaReadHook).
const (
	ReadTargetReplica = "replica"
	ReadTargetPrimary = "primary"
	// ReadReasonFresh: the replica's lag is within the max.
	ReadReasonFresh = "fresh"
	// ReadReasonReadYourWrites: a replica was fresh enough by time but has
	// not yet replayed the caller's own last write (ReadAfter).
	ReadReasonReadYourWrites = "read_your_writes"
)

// DefaultReplicaMaxLag is Options.ReplicaMaxLag's default.
const DefaultReplicaMaxLag = 5 * time.Second

// replica is one read replica's pool and its last measured state.
type replica struct {
	name  string
	db    *sql.DB
	state atomic.Pointer[replicaCheck]
}

// replicaCheck is a check's result: the state it reports and the replay
// position it found, as a number to compare.
type replicaCheck struct {
	chorus.ReplicaState
	replay lsn
}

// replicaSet is the read replicas of a DB and the rule that picks one.
type replicaSet struct {
	list    []*replica
	maxLag  time.Duration
	history walHistory
	next    atomic.Uint64 // round-robin among the fresh replicas
	onRead  atomic.Pointer[func(target, reason string)]
	now     func() time.Time
}

// openReplicas opens a pool per replica URL. It does not connect: a
// replica that is down at start is reported unreachable by the first
// check, and reads go to the primary meanwhile.
func (db *DB) openReplicas(urls []string, opts Options) error {
	if len(urls) == 0 {
		return nil
	}
	if db.d.name != DialectPostgres {
		return errors.New("read replicas need PostgreSQL as the primary database")
	}
	maxLag := opts.ReplicaMaxLag
	if maxLag <= 0 {
		maxLag = DefaultReplicaMaxLag
	}
	set := &replicaSet{maxLag: maxLag, now: db.now}
	// Keep the WAL history well past the max lag, so that a replica
	// further behind than everything remembered is surely lagging.
	set.history.keep = max(4*maxLag, 30*time.Second)
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 20
	}
	for _, u := range urls {
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			set.close()
			return fmt.Errorf("replica %s: %w", redactDSN(u), err)
		}
		pool := stdlib.OpenDB(*cfg)
		pool.SetMaxOpenConns(n)
		pool.SetMaxIdleConns(n)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		r := &replica{name: replicaName(cfg), db: pool}
		r.state.Store(&replicaCheck{ReplicaState: chorus.ReplicaState{Name: r.name, Status: chorus.ReplicaUnknown, Err: "not checked yet"}})
		set.list = append(set.list, r)
	}
	db.replicas = set
	return nil
}

// replicaName names a replica in metrics, logs and readiness: host, port
// and database, never the user or password.
func replicaName(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// redactDSN hides the password of a connection URL for an error message.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// close closes every replica pool.
func (s *replicaSet) close() error {
	if s == nil {
		return nil
	}
	var err error
	for _, r := range s.list {
		err = errors.Join(err, r.db.Close())
	}
	return err
}

// Replicas returns the last measured state of each read replica, in
// configuration order (none without database_replicas).
func (db *DB) Replicas() []chorus.ReplicaState {
	if db.replicas == nil {
		return nil
	}
	out := make([]chorus.ReplicaState, len(db.replicas.list))
	for i, r := range db.replicas.list {
		out[i] = r.state.Load().ReplicaState
	}
	return out
}

// beginLagged starts a read-only snapshot transaction for a read that may
// lag: on a fresh replica when there is one (see pick), on the primary
// otherwise. Only listings whose staleness no decision depends on use it —
// history, reports, audit lists, dashboards — never keys, balances, holds
// or idempotency checks.
func (db *DB) beginLagged(ctx context.Context) (*tx, error) {
	if db.replicas == nil {
		return db.beginRead(ctx)
	}
	r, reason := db.replicas.pick(ctx)
	if r != nil {
		t, err := r.db.BeginTx(ctx, db.d.readTx())
		if err == nil {
			db.replicas.count(ReadTargetReplica, ReadReasonFresh)
			return &tx{Tx: t, d: db.d, now: db.timeNow}, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		// It went away since its last check: the primary answers instead.
		reason = chorus.ReplicaUnreachable
	}
	db.replicas.count(ReadTargetPrimary, reason)
	return db.beginRead(ctx)
}

// count reports where a lag-tolerant read went.
func (s *replicaSet) count(target, reason string) {
	if fn := s.onRead.Load(); fn != nil {
		(*fn)(target, reason)
	}
}

// SetReplicaReadHook has fn told where each lag-tolerant read goes
// (ReadTargetReplica or ReadTargetPrimary) and why: ReadReasonFresh, a
// replica status such as chorus.ReplicaPaused, or ReadReasonReadYourWrites.
// Without replicas it does nothing.
func (db *DB) SetReplicaReadHook(fn func(target, reason string)) {
	if db.replicas != nil {
		db.replicas.onRead.Store(&fn)
	}
}

// pick returns a replica that may serve a lag-tolerant read now, or nil
// and the reason the primary serves it. A replica qualifies when its last
// check found it streaming with replay running, its lag then plus the time
// since (how much staler it may have become) is within the max, and it had
// replayed the caller's last write (ReadAfter). Fresh replicas take turns.
func (s *replicaSet) pick(ctx context.Context) (*replica, string) {
	minPos, _ := ctx.Value(readAfterKey{}).(lsn)
	now := s.now()
	reason := chorus.ReplicaUnknown
	start := s.next.Add(1)
	for i := range s.list {
		r := s.list[int((start+uint64(i))%uint64(len(s.list)))] // #nosec G115 -- the modulus is a slice length, so it fits an int
		st := r.state.Load()
		switch {
		case st.Status != chorus.ReplicaOK:
			reason = st.Status
		case st.Lag+now.Sub(st.CheckedAt) > s.maxLag:
			reason = chorus.ReplicaLagging
		case st.replay < minPos:
			reason = ReadReasonReadYourWrites
		default:
			return r, ReadReasonFresh
		}
	}
	return nil, reason
}

// readAfterKey is the context key of the WAL position a caller's
// lag-tolerant reads must include.
type readAfterKey struct{}

// WritePosition returns the primary's current WAL position as an opaque
// token, for a caller that has just written and will want to read its own
// write from a replica (see ReadAfter); "" when there are no replicas.
func (db *DB) WritePosition(ctx context.Context) (string, error) {
	if db.replicas == nil {
		return "", nil
	}
	pos, err := db.primaryPosition(ctx)
	if err != nil {
		return "", err
	}
	return pos.String(), nil
}

// ReadAfter returns ctx with its lag-tolerant reads bound to a replica
// that has replayed at least the position token (from WritePosition), or
// else to the primary: the caller reads its own writes. A token that does
// not parse is ignored (it came from a client; the worst it can do is send
// that client's reads to the primary, or let them lag within the max).
func (db *DB) ReadAfter(ctx context.Context, token string) context.Context {
	if db.replicas == nil || token == "" {
		return ctx
	}
	pos, err := parseLSN(token)
	if err != nil {
		return ctx
	}
	if prev, ok := ctx.Value(readAfterKey{}).(lsn); ok && prev >= pos {
		return ctx
	}
	return context.WithValue(ctx, readAfterKey{}, pos)
}

// primaryPosition reads the primary's current WAL insert position.
func (db *DB) primaryPosition(ctx context.Context) (lsn, error) {
	var s string
	if err := db.wdb.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return 0, fmt.Errorf("primary WAL position: %w", err)
	}
	return parseLSN(s)
}
