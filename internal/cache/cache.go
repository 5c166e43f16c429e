// Package cache is Chorus's response cache: exact-match answers to chat and
// embedding requests, keyed by a hash of the normalised request, held in
// process (Memory, an LRU bounded by entries and bytes) and, when configured,
// in Redis (Redis; Tiered puts Memory in front of it). Group makes
// concurrent identical requests share one upstream call.
//
// What is cached is decided by the caller with the helpers here: Decide
// (opt-in per key or route), Bypass and NoStore (per request headers),
// CacheableRequest and CacheableResponse (what may be stored at all).
package cache

import (
	"context"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// Cache stores answers by key. Implementations are safe for concurrent use.
// Entries are shared between callers and must not be modified.
type Cache interface {
	// Get returns the live entry for key. It never blocks longer than the
	// implementation's configured timeout: a slow or failing backend is a
	// miss.
	Get(ctx context.Context, key [32]byte) (*Entry, bool)
	// Set stores e under key for ttl (nothing is stored when ttl <= 0). It
	// is best effort: a failing backend drops the entry.
	Set(ctx context.Context, key [32]byte, e *Entry, ttl time.Duration)
}

// Entry is one cached answer: a chat response or an embedding response,
// in canonical form so it can be served in any client format.
type Entry struct {
	Response   *provider.ChatResponse      // chat answer; Raw is cleared on Set
	Embedding  *provider.EmbeddingResponse // embedding answer; Raw is cleared on Set
	Model      string                      // the public model or route name asked for
	Deployment string                      // the deployment that produced the answer
	Provider   string                      // its provider
	Cost       int64                       // micro-credits the answering upstream call cost
	StoredAt   time.Time
	Expires    time.Time // set by the cache on Set
}

// Chat returns the cached chat answer as a new response with the given ID
// and creation time, so each hit has its own answer ID. Choices are shared
// with the entry: read them, do not modify them.
func (e *Entry) Chat(id string, created int64) *provider.ChatResponse {
	if e.Response == nil {
		return nil
	}
	r := *e.Response
	r.ID, r.Created, r.Raw, r.RawFormat = id, created, nil, ""
	return &r
}

// stored returns the copy of e a cache keeps: Expires set, and the
// response copied with Raw cleared (the entry is canonical), so the caller
// may go on using its own response (set its ID, say). Choices, parts and
// vectors are shared: they must not change after Set.
func stored(e *Entry, expires time.Time) *Entry {
	c := *e
	c.Expires = expires
	if r := c.Response; r != nil {
		rc := *r
		rc.Raw, rc.RawFormat = nil, ""
		c.Response = &rc
	}
	if r := c.Embedding; r != nil {
		rc := *r
		rc.Raw, rc.RawFormat = nil, ""
		c.Embedding = &rc
	}
	return &c
}

// Header is the response header that says what the cache did, with one of
// the Status values.
const Header = "X-Chorus-Cache"

// Values of Header (and of a usage record's cache mark).
const (
	StatusHit    = "hit"    // served from the cache, or shared from a concurrent identical request
	StatusMiss   = "miss"   // looked up, not found: the answer came from upstream
	StatusBypass = "bypass" // the request asked not to be served from the cache
)

// Policy says whether one request's answer is cached, and for how long.
type Policy struct {
	Enabled bool
	TTL     time.Duration
}

// Decide combines the cache settings that apply to a request. Each of def
// (the config's cache.ttl), key (the API key's cache_ttl_s) and route (the
// route's cache_ttl_s) is in seconds: > 0 opts in with that TTL, 0 says
// nothing, < 0 opts out. Any opt-out wins; otherwise the shortest TTL that
// the key and route set applies; if neither sets one, def does. With
// everything 0 (the defaults) nothing is cached: the cache is opt-in.
func Decide(def, key, route int) Policy {
	if def < 0 || key < 0 || route < 0 {
		return Policy{}
	}
	ttl := 0
	for _, s := range [...]int{key, route} {
		if s > 0 && (ttl == 0 || s < ttl) {
			ttl = s
		}
	}
	if ttl == 0 {
		ttl = def
	}
	if ttl <= 0 {
		return Policy{}
	}
	return Policy{Enabled: true, TTL: time.Duration(ttl) * time.Second}
}

// Bypass reports whether the request asks not to be answered from the
// cache: Cache-Control no-cache or no-store, or X-Chorus-Cache: bypass. The
// answer may still be stored unless NoStore says otherwise, as HTTP's
// no-cache means "revalidate", not "do not keep".
func Bypass(h http.Header) bool {
	if strings.EqualFold(strings.TrimSpace(h.Get(Header)), StatusBypass) {
		return true
	}
	return cacheControl(h, "no-cache") || cacheControl(h, "no-store")
}

// NoStore reports whether the request forbids storing its answer
// (Cache-Control: no-store).
func NoStore(h http.Header) bool { return cacheControl(h, "no-store") }

// cacheControl reports whether a Cache-Control header of h holds directive.
func cacheControl(h http.Header, directive string) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d, _, _ = strings.Cut(d, "=")
			if strings.EqualFold(strings.TrimSpace(d), directive) {
				return true
			}
		}
	}
	return false
}

// CacheableResponse reports whether a chat answer may be stored: it has
// choices and every one ended normally (stop, length or tool_calls). A
// content-filtered answer is not stored, so a filter that changes is not
// outlived by the cache; an error or a partial stream never reaches here
// (the caller stores only answers that completed).
func CacheableResponse(r *provider.ChatResponse) bool {
	if r == nil || len(r.Choices) == 0 {
		return false
	}
	for i := range r.Choices {
		switch r.Choices[i].FinishReason {
		case provider.FinishStop, provider.FinishLength, provider.FinishToolCalls:
		default:
			return false
		}
	}
	return true
}

// HitCost returns what a cache hit costs: fraction (0 to 1) of the
// original answer's cost, rounded up by chorus.Cost's one rounding rule.
// A fraction of 0 makes hits free.
func HitCost(original int64, fraction float64) int64 {
	if fraction <= 0 || original <= 0 {
		return 0
	}
	if fraction >= 1 {
		return original
	}
	return chorus.Cost(original, int64(math.Round(fraction*1e6)))
}
