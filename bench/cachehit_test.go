package bench_test

import (
	"bufio"
	"context"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
)

// cachedKey adds a key to the rig that opts into the response cache.
func (r *rig) cachedKey(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	db := r.gw.App.DB
	user := &chorus.User{Email: "bench-cache@example.com", Name: "Bench cache", Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, user); err != nil {
		tb.Fatal(err)
	}
	secret, prefix, hash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "bench-cache", Prefix: prefix, Hash: hash, UserID: user.ID, CacheTTLSeconds: 3600}); err != nil {
		tb.Fatal(err)
	}
	if err := r.gw.App.Registry.Refresh(ctx, true); err != nil {
		tb.Fatal(err)
	}
	return secret
}

// benchCacheHit measures a request answered from the response cache,
// against the same request sent straight to the (instant) mock: what a hit
// costs end to end over HTTP, with the key check, limits, metrics and the
// usage record on.
func benchCacheHit(b *testing.B, body []byte, stream bool) {
	r := newRig(b)
	r.key = r.cachedKey(b)
	base := r.measureDirect(b, 2000, body, stream)
	rd := bufio.NewReaderSize(nil, 16<<10)
	for range 200 { // the first fills the cache; the rest warm the pools
		if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if _, err := r.do(r.chorusURL, body, stream, rd); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StopTimer()
	b.ReportMetric(base.ns, "direct-ns/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)-base.ns, "vs-direct-ns/op")
}

// BenchmarkChatCacheHit is a non-streamed request answered from the cache.
func BenchmarkChatCacheHit(b *testing.B) { benchCacheHit(b, chatBody, false) }

// BenchmarkChatStreamCacheHit is a streamed request answered from the cache
// as a stream.
func BenchmarkChatStreamCacheHit(b *testing.B) { benchCacheHit(b, streamBody, true) }
