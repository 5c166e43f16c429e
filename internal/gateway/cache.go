package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

// cacheCall is a cacheable request that missed: where to store its answer,
// and the single-flight slot other identical requests wait on.
type cacheCall struct {
	key    [32]byte
	ttl    time.Duration
	flight *cache.Flight // set when this request leads the flight
	store  bool          // false when the client asked for no-store
}

// finish stores the answer (nil: nothing to store) and releases the
// requests waiting on this one.
func (c *cacheCall) finish(ctx context.Context, s *Server, e *cache.Entry) {
	if c == nil {
		return
	}
	if e != nil && c.store {
		s.Cache.Set(context.WithoutCancel(ctx), c.key, e, c.ttl)
	}
	if c.flight != nil {
		c.flight.Finish(e)
		c.flight = nil
	}
}

// cacheLookup decides whether a chat request uses the cache (opted in by
// the server's default TTL, the key's or the route's; Cache-Control:
// no-cache bypasses)
// and looks it up. It returns the entry on a hit, or the call to finish on
// a miss; both nil when the cache is not used. Identical requests in flight
// wait for the first one's answer (single flight).
func (s *Server) cacheLookup(ctx context.Context, x *exchange, h http.Header, req *provider.ChatRequest) (*cache.Entry, *cacheCall) {
	if s.Cache == nil || !s.CacheConfig.Enabled {
		return nil, nil
	}
	pol := cache.Decide(int(s.CacheConfig.TTL/time.Second), x.key.CacheTTLSeconds, x.route.Config.CacheTTL)
	if !pol.Enabled || !cache.CacheableRequest(req) {
		return nil, nil
	}
	if cache.Bypass(h) {
		x.cache = cache.StatusBypass
		return nil, nil
	}
	key := cache.Key(x.route.Model.Name, req)
	if s.CacheConfig.Scope != config.CacheScopeGlobal {
		key = cache.Scope(key, strconv.FormatInt(x.key.TeamID, 10)) // a hit must not tell one team what another asked
	}
	if e, ok := s.Cache.Get(ctx, key); ok {
		x.cache = cache.StatusHit
		return e, nil
	}
	x.cache = cache.StatusMiss
	call := &cacheCall{key: key, ttl: pol.TTL, store: !cache.NoStore(h)}
	f, leader := s.CacheGroup.Start(key)
	if leader {
		call.flight = f
		return nil, call
	}
	if e, err := f.Wait(ctx); err == nil && e != nil {
		x.cache = cache.StatusHit
		if s.CacheMetrics != nil {
			s.CacheMetrics.Shared()
		}
		return e, nil
	}
	return nil, call // the leader had nothing to share: call upstream ourselves
}

// hit records a cache hit on the exchange and returns the answer to send,
// with a fresh ID.
func (x *exchange) hit(ctx context.Context, e *cache.Entry) *provider.ChatResponse {
	x.cached = e
	resp := e.Chat("chatcmpl-"+api.RequestID(ctx), x.s.Now().Unix())
	x.respID = resp.ID
	if x.conv != nil {
		x.respID = x.conv.id
	}
	return resp
}

// cacheEntry is what a successful answer stores.
func (x *exchange) cacheEntry(resp *provider.ChatResponse, w *orchestrate.Attempt) *cache.Entry {
	if w == nil || !cache.CacheableResponse(resp) {
		return nil
	}
	d := w.Target.Deployment
	return &cache.Entry{Response: resp, Model: x.route.Model.Name, Deployment: d.Name, Provider: d.Provider, StoredAt: x.s.Now(),
		Cost: chorus.TokenCost(tokenCounts(w.Usage), d.Prices())}
}

// hitUsage is the usage line of a cache hit: the tokens the client
// received (with the classes the original answer counted), at the
// configured fraction of the original cost, no upstream call.
func (x *exchange) hitUsage() ([]chorus.UsageAttempt, int64, int64, int64) {
	e := x.cached
	u := e.Response.Usage
	in, out := int64(u.InputTokens), int64(u.OutputTokens)
	cost := cache.HitCost(e.Cost, x.s.CacheConfig.CostFraction)
	return []chorus.UsageAttempt{{Deployment: e.Deployment, Provider: e.Provider, Model: e.Model, Outcome: "cache_hit",
		InputTokens: in, OutputTokens: out, CachedInputTokens: int64(u.CachedInputTokens),
		CacheWriteTokens: int64(u.CacheWriteTokens), ReasoningTokens: int64(u.ReasoningTokens), Cost: cost}}, in, out, cost
}
