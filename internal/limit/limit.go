// Package limit is Chorus's rate limiting: requests per minute, tokens per
// minute and concurrent requests, per API key, user, team and key-on-model,
// and per deployment (the provider's own limits). It runs in process
// (Memory) or on Redis (Redis) when several instances share the limits.
//
// # Semantics
//
// Every rate is per minute (Period) and is enforced with GCRA, the generic
// cell rate algorithm, one bucket per limited quantity (requests, tokens)
// per subject. For a limit of L per minute:
//
//   - the emission interval is T = 60 s / L and the burst is L: a subject
//     that has been idle may take all L at once, and capacity comes back
//     continuously, one unit every T (not all at once at a minute boundary);
//   - the state is one time, the TAT (theoretical arrival time); a subject
//     never seen, or idle, has TAT ≤ now: a full bucket;
//   - taking n units at time now computes TAT' = max(TAT, now) + n·T and is
//     allowed iff TAT' − now ≤ 60 s; when allowed TAT becomes TAT', when
//     refused nothing changes and RetryAfter = TAT' − now − 60 s, exactly the
//     wait after which the same request fits if nothing else takes capacity;
//   - so over any window of length W at most L + L·W/60 s units are admitted;
//   - remaining = ⌊(60 s − max(TAT − now, 0)) / T⌋, what could be taken now;
//     reset = max(TAT − now, 0), the time until the bucket is full again.
//
// A request costs 1 on the requests bucket and its estimated tokens (input
// plus the most output it may produce) on the tokens bucket. A request whose
// estimate exceeds the TPM limit can never fit and is refused as TooLarge,
// with no RetryAfter. When the request ends, Ticket.Done corrects the tokens
// bucket by actual − estimate: a refund moves TAT back, but never before
// now (a bucket is never fuller than full); an extra debit moves it forward
// and may put the subject in debt beyond the burst, which later requests wait
// out. Concurrency is a count of held tickets; Done releases the slot (on
// Redis a slot is a lease that expires if its holder dies; see Redis).
//
// All of a request's buckets, on every subject, are checked at one instant
// and taken together or not at all. When several refuse, the Decision
// reports the one that binds: TooLarge first, else the longest wait (a full
// concurrency limit counts as ConcurrencyRetry). Times are microseconds
// since 2020 held in float64, the same arithmetic in Go and in the Redis
// script, so both implementations decide identically; a unit may be
// admitted up to 1 µs early (float rounding), never later than its exact
// time.
package limit

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
)

// Period is the window every rate is expressed over.
const Period = time.Minute

// ConcurrencyRetry is the Retry-After given when only the concurrency limit
// refused: when a slot frees cannot be known in advance.
const ConcurrencyRetry = time.Second

// Limits are one subject's limits. Zero means unlimited.
type Limits struct {
	RPM         int64 // requests per minute
	TPM         int64 // tokens per minute (input + output)
	Concurrency int64 // requests in flight at once
}

// IsZero reports whether nothing is limited.
func (l Limits) IsZero() bool { return l.RPM <= 0 && l.TPM <= 0 && l.Concurrency <= 0 }

// Request is what one API request counts against. A subject takes part
// only when its limits are not zero; the user, team and model subjects also
// need their ID or name set.
type Request struct {
	KeyID  int64
	UserID int64
	TeamID int64  // 0 until teams exist
	Model  string // the public model (or route) name
	// Tokens is the estimate reserved on every TPM bucket: input tokens plus
	// the most output the request may produce. Done corrects it. Negative
	// counts as 0.
	Tokens int64

	KeyLimits  Limits // the key's own limits
	UserLimits Limits // shared by all of the user's keys
	TeamLimits Limits // shared by all of the team's users
	// ModelLimits apply to this key on this model (as OpenAI's limits are
	// per organisation per model), on top of KeyLimits.
	ModelLimits Limits
}

// Policy is the configured limits: every key's, user's and team's, and
// each key's on a model, by public name. Its zero value limits nothing.
type Policy struct {
	Key, User, Team Limits
	Models          map[string]Limits
}

// Request returns what a request by key keyID of user userID (team teamID,
// 0 for none) to model, estimated at tokens, counts against.
func (p *Policy) Request(keyID, userID, teamID int64, model string, tokens int64) Request {
	return Request{KeyID: keyID, UserID: userID, TeamID: teamID, Model: model, Tokens: tokens,
		KeyLimits: p.Key, UserLimits: p.User, TeamLimits: p.Team, ModelLimits: p.Models[model]}
}

// Limiter decides requests. Memory and Redis implement it.
type Limiter interface {
	// Admit decides r and, when allowed, takes one request, the estimated
	// tokens and one concurrency slot on every limited subject at once (all
	// or nothing). An allowed decision's Ticket must be Done (it may be
	// nil; Done on nil does nothing). err is set only when the decision
	// could not be made: a *chorus.Error with code EUNAVAILABLE (Redis
	// unreachable with fail-closed; it carries a RetryAfter), or ctx's
	// error when ctx ended first.
	Admit(ctx context.Context, r *Request) (Decision, *Ticket, error)
	// TryDeployment is Admit for one deployment's own limits (the
	// provider's RPM and TPM, and a cap on calls in flight), so that the
	// orchestrator does not send more than the upstream accepts. Refused,
	// the Decision's RetryAfter is how long until the call would fit;
	// TooLarge means it never will.
	TryDeployment(ctx context.Context, deployment string, l Limits, tokens int64) (Decision, *Ticket, error)
}

// Decision is the outcome of Admit or TryDeployment.
type Decision struct {
	Allowed bool
	// RetryAfter, when refused, is how long until this request would be
	// admitted if nothing else took capacity first. 0 when TooLarge.
	RetryAfter time.Duration
	// Headers describe the most constraining requests and tokens buckets
	// (after taking, when allowed).
	Headers Headers
	// Reason is the client-safe message for a refusal, worded as OpenAI's.
	Reason string
	// Scope ("key", "user", "team", "model", "deployment") and Kind
	// ("requests", "tokens", "concurrency") name the limit that refused,
	// for metrics and logs.
	Scope, Kind string
	// TooLarge: the request's token estimate exceeds the TPM limit itself,
	// so waiting will not help.
	TooLarge bool
	// Degraded: the shared limits could not be checked (Redis slow or
	// unreachable) and, failing open, this instance decided alone on its
	// share of every limit (see Redis). Headers then show that share.
	Degraded bool
}

// Err returns a refusal as the application's error, as OpenAI words it: code
// ERATELIMIT (429, code "rate_limit_exceeded"), the Reason, the RetryAfter,
// and OpenAI's error type for rate limits, "requests" or "tokens". It
// returns nil when the decision allowed the request.
func (d *Decision) Err() error {
	if d.Allowed {
		return nil
	}
	typ := "requests"
	if d.Kind == "tokens" {
		typ = "tokens"
	}
	return &chorus.Error{Code: chorus.ERATELIMIT, Message: d.Reason, Type: typ, RetryAfter: d.RetryAfter}
}

// Headers are the x-ratelimit-* values, as OpenAI sends them. A zero limit
// means that kind is not limited.
type Headers struct {
	LimitRequests, RemainingRequests int64
	ResetRequests                    time.Duration
	LimitTokens, RemainingTokens     int64
	ResetTokens                      time.Duration
}

// Write sets the x-ratelimit-* headers for the limited kinds:
// x-ratelimit-limit-requests: 60, x-ratelimit-remaining-requests: 59,
// x-ratelimit-reset-requests: 1s, and the same for tokens. Resets are
// rounded up to the millisecond and written as OpenAI does ("6m0s",
// "1.5s", "20ms").
//
// The values share one backing array (one allocation for up to six
// headers on every request), each a full one-element slice, so that a
// later Add copies it instead of writing into its neighbour.
func (h *Headers) Write(hd http.Header) {
	if h.LimitRequests <= 0 && h.LimitTokens <= 0 {
		return
	}
	vals := make([]string, 0, 6)
	set := func(key, v string) {
		vals = append(vals, v)
		hd[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if h.LimitRequests > 0 {
		set("X-Ratelimit-Limit-Requests", strconv.FormatInt(h.LimitRequests, 10))
		set("X-Ratelimit-Remaining-Requests", strconv.FormatInt(h.RemainingRequests, 10))
		set("X-Ratelimit-Reset-Requests", FormatReset(h.ResetRequests))
	}
	if h.LimitTokens > 0 {
		set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(h.LimitTokens, 10))
		set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(h.RemainingTokens, 10))
		set("X-Ratelimit-Reset-Tokens", FormatReset(h.ResetTokens))
	}
}

// FormatReset writes a reset duration as OpenAI does: rounded up to the
// millisecond, in Go's duration syntax ("0s", "20ms", "1.5s", "6m0s").
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return ((d + time.Millisecond - 1) / time.Millisecond * time.Millisecond).String()
}

// Ticket is what an admitted request holds: its token reservation and its
// concurrency slots. Done must be called once the request has ended.
type Ticket struct {
	owner    releaser
	dims     [maxDims]dim
	n        int
	estimate int64
	lease    string // the Redis lease member; "" without a concurrency limit
	done     atomic.Bool
}

// releaser is the limiter a ticket came from.
type releaser interface {
	release(t *Ticket, actual int64)
}

// Done corrects the tokens buckets by actualTokens − the estimate and frees
// the concurrency slots. Only the first call counts; Done on a nil Ticket
// does nothing. On Redis it makes one bounded call of its own (not tied to
// the request's context: a client that left must still give its slot back).
func (t *Ticket) Done(actualTokens int64) {
	if t == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.owner.release(t, actualTokens)
}

// dims returns the ticket's subjects.
func (t *Ticket) subjects() []dim { return t.dims[:t.n] }

// needsTicket reports whether anything must happen when a request over
// these subjects ends: a tokens correction or a slot to free.
func needsTicket(dims []dim) bool {
	for i := range dims {
		if dims[i].lim.TPM > 0 || dims[i].lim.Concurrency > 0 {
			return true
		}
	}
	return false
}

// newTicket returns the ticket for an admitted request, or nil when there
// is nothing to do at its end.
func newTicket(owner releaser, dims []dim, tokens int64) *Ticket {
	if !needsTicket(dims) {
		return nil
	}
	t := &Ticket{owner: owner, estimate: tokens, n: len(dims)}
	copy(t.dims[:], dims)
	return t
}
