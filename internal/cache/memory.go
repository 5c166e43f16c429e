package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// Memory is an in-process cache: least recently used entries are evicted
// once it holds maxEntries entries or maxBytes bytes (estimated), and an
// entry is dead after its TTL. It is split into shards, each with its own
// lock and recency list, so Get and Set are O(1) and concurrent requests
// rarely wait for each other. The bounds are global: a Set that takes the
// cache over them evicts the least recently used entries of its own shard,
// so eviction is least-recently-used per shard, which approximates it
// overall (keys are hashes: every shard sees the same traffic). Small
// caches (under 4096 entries) have one shard and are exact.
type Memory struct {
	shards     []memShard
	mask       uint32
	now        func() time.Time
	maxEntries int64
	maxBytes   int64 // 0: no bound
	entries    atomic.Int64
	bytes      atomic.Int64
}

var _ Cache = (*Memory)(nil)

// memShard is one lock's worth of the cache: a map to list nodes and the
// list in recency order (head most recent).
type memShard struct {
	mu         sync.Mutex
	items      map[[32]byte]*memNode
	head, tail *memNode
	evicted    uint64
	expired    uint64
	_          [64]byte // keep shards' locks on separate cache lines
}

type memNode struct {
	key        [32]byte
	e          *Entry
	size       int64
	expires    int64 // unix nanoseconds
	prev, next *memNode
}

// memShardMin is the fewest entries that earn a cache sharding.
const memShardMin = 4096

// memShards is the number of shards of a large cache.
const memShards = 16

// NewMemory returns a cache bounded by maxEntries entries and maxBytes
// bytes (0: no bound on bytes). now is the clock for TTLs (time.Now if
// nil). An entry larger than maxBytes is not stored.
func NewMemory(maxEntries int, maxBytes int64, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	maxEntries = max(maxEntries, 1)
	n := 1
	if maxEntries >= memShardMin {
		n = memShards
	}
	m := &Memory{shards: make([]memShard, n), mask: uint32(n - 1), now: now,
		maxEntries: int64(maxEntries), maxBytes: max(maxBytes, 0)}
	for i := range m.shards {
		m.shards[i].items = make(map[[32]byte]*memNode)
	}
	return m
}

func (m *Memory) shard(key [32]byte) *memShard {
	// Keys are SHA-256 sums: any byte is uniformly distributed.
	return &m.shards[uint32(key[31])&m.mask]
}

// Get returns the live entry for key and marks it recently used. A dead
// entry found on the way is removed.
func (m *Memory) Get(_ context.Context, key [32]byte) (*Entry, bool) {
	s := m.shard(key)
	s.mu.Lock()
	n, ok := s.items[key]
	if !ok {
		s.mu.Unlock()
		return nil, false
	}
	if m.now().UnixNano() >= n.expires {
		m.remove(s, n)
		s.expired++
		s.mu.Unlock()
		return nil, false
	}
	s.moveToFront(n)
	e := n.e
	s.mu.Unlock()
	return e, true
}

// Set stores e under key for ttl, evicting least recently used entries of
// the key's shard while the cache is over its bounds.
func (m *Memory) Set(_ context.Context, key [32]byte, e *Entry, ttl time.Duration) {
	if ttl <= 0 || e == nil {
		return
	}
	expires := m.now().Add(ttl)
	se := stored(e, expires)
	size := entrySize(se)
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items[key]; ok {
		m.remove(s, old)
	}
	if m.maxBytes > 0 && size > m.maxBytes {
		return
	}
	n := &memNode{key: key, e: se, size: size, expires: expires.UnixNano()}
	s.items[key] = n
	s.pushFront(n)
	m.entries.Add(1)
	m.bytes.Add(size)
	// The new entry itself is never evicted: when its shard has nothing
	// else to give, the cache stays over by at most one entry per shard
	// until Sets in other shards evict.
	for s.tail != n && m.over() {
		m.remove(s, s.tail)
		s.evicted++
	}
}

func (m *Memory) over() bool {
	return m.entries.Load() > m.maxEntries || (m.maxBytes > 0 && m.bytes.Load() > m.maxBytes)
}

// remove takes n out of shard s, whose lock the caller holds.
func (m *Memory) remove(s *memShard, n *memNode) {
	s.unlink(n)
	delete(s.items, n.key)
	m.entries.Add(-1)
	m.bytes.Add(-n.size)
}

// MemoryStats describes a Memory cache's contents.
type MemoryStats struct {
	Entries   int
	Bytes     int64  // estimated
	Evictions uint64 // entries evicted to respect the bounds
	Expired   uint64 // dead entries removed when found
}

// Stats returns the cache's current size and counters.
func (m *Memory) Stats() MemoryStats {
	st := MemoryStats{Bytes: m.bytes.Load()}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		st.Entries += len(s.items)
		st.Evictions += s.evicted
		st.Expired += s.expired
		s.mu.Unlock()
	}
	return st
}

func (s *memShard) pushFront(n *memNode) {
	n.prev, n.next = nil, s.head
	if s.head != nil {
		s.head.prev = n
	}
	s.head = n
	if s.tail == nil {
		s.tail = n
	}
}

func (s *memShard) unlink(n *memNode) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		s.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		s.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (s *memShard) moveToFront(n *memNode) {
	if s.head == n {
		return
	}
	s.unlink(n)
	s.pushFront(n)
}

// entrySize estimates the memory an entry holds: its strings and vectors
// plus the fixed size of the structs around them.
func entrySize(e *Entry) int64 {
	const (
		node    = 200 // memNode, map slot, Entry
		perItem = 64  // a choice, part or tool call's fixed fields
	)
	n := int64(node + len(e.Model) + len(e.Deployment) + len(e.Provider))
	if r := e.Response; r != nil {
		n += int64(len(r.ID) + len(r.Model) + len(r.SystemFingerprint) + 128)
		for i := range r.Choices {
			n += perItem + messageSize(&r.Choices[i].Message)
		}
	}
	if r := e.Embedding; r != nil {
		n += int64(len(r.Model) + 64)
		for _, v := range r.Data {
			n += int64(24 + 4*len(v))
		}
	}
	return n
}

func messageSize(m *provider.Message) int64 {
	const perItem = 64
	n := int64(len(m.Role) + len(m.Name) + len(m.ToolCallID))
	for i := range m.Content {
		p := &m.Content[i]
		n += int64(perItem + len(p.Type) + len(p.Text) + len(p.ImageURL) + len(p.ImageDetail))
	}
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		n += int64(perItem + len(tc.ID) + len(tc.Name) + len(tc.Arguments))
	}
	return n
}
