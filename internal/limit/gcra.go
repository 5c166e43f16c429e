package limit

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// The GCRA arithmetic, in microseconds held in float64. admit.lua and
// release.lua compute exactly the same expressions (Lua numbers are IEEE
// doubles too), so Memory and Redis agree to the bit.
const (
	periodMicros = float64(Period / time.Microsecond)
	// epochMicros is the origin of the times held (2020-01-01 UTC): times
	// since are small, so their doubles are finely spaced (1/16 µs until
	// 2037) and the rounding of a sum is far below a microsecond. A TAT of
	// 0 means never used: clocks before 2020 are not supported.
	epochMicros = 1_577_836_800_000_000
	// epsMicros forgives that rounding: a unit may fit up to 1 µs early.
	epsMicros = 1.0
)

// sinceEpoch returns t as the float64 µs since epochMicros the buckets hold.
func sinceEpoch(t time.Time) float64 { return float64(t.UnixMicro() - epochMicros) }

// scope is the kind of subject a bucket belongs to.
type scope uint8

const (
	scopeKey scope = iota + 1
	scopeUser
	scopeTeam
	scopeModel // a key on a model
	scopeDeployment
)

var scopeNames = [...]string{scopeKey: "key", scopeUser: "user", scopeTeam: "team", scopeModel: "model", scopeDeployment: "deployment"}

func (s scope) String() string { return scopeNames[s] }

// maxDims is the most subjects one request counts against: key, user,
// team, key on model.
const maxDims = 4

// dim is one subject a request counts against, with its limits.
type dim struct {
	scope scope
	id    int64  // key, user or team ID; the key's ID for scopeModel
	name  string // the model or deployment name
	lim   Limits
}

// describe names the subject for a client-facing message.
func (d *dim) describe() string {
	switch d.scope {
	case scopeKey:
		return "this API key"
	case scopeUser:
		return "this user"
	case scopeTeam:
		return "this team"
	case scopeModel:
		return "this API key on the model `" + d.name + "`"
	default:
		return "the deployment " + d.name
	}
}

// subjects lists the subjects r counts against, into buf.
func (r *Request) subjects(buf *[maxDims]dim) []dim {
	out := buf[:0]
	if !r.KeyLimits.IsZero() {
		out = append(out, dim{scope: scopeKey, id: r.KeyID, lim: r.KeyLimits})
	}
	if r.UserID != 0 && !r.UserLimits.IsZero() {
		out = append(out, dim{scope: scopeUser, id: r.UserID, lim: r.UserLimits})
	}
	if r.TeamID != 0 && !r.TeamLimits.IsZero() {
		out = append(out, dim{scope: scopeTeam, id: r.TeamID, lim: r.TeamLimits})
	}
	if r.Model != "" && !r.ModelLimits.IsZero() {
		out = append(out, dim{scope: scopeModel, id: r.KeyID, name: r.Model, lim: r.ModelLimits})
	}
	return out
}

// interval is T, the time one unit of a limit of rate per minute takes to
// come back.
func interval(rate int64) float64 { return periodMicros / float64(rate) }

// gcra takes n units from a bucket of rate per minute whose TAT is tat, at
// now. ok: the new TAT. Refused: over is the wait until it would fit.
func gcra(tat, now float64, rate, n int64) (newTAT float64, ok bool, over float64) {
	next := math.Max(tat, now) + float64(float64(n)*interval(rate))
	over = next - now - periodMicros
	if over > epsMicros {
		return tat, false, over
	}
	return next, true, 0
}

// correct moves a tokens bucket's TAT by delta units (actual − estimate): a
// refund never past now, a debit from no earlier than now.
func correct(tat, now float64, rate, delta int64) float64 {
	d := float64(float64(delta) * interval(rate))
	if delta > 0 {
		return math.Max(tat, now) + d
	}
	return math.Max(tat+d, now)
}

// remaining is how many units of a bucket could be taken at now.
func remaining(tat, now float64, rate int64) int64 {
	used := math.Max(tat-now, 0)
	r := math.Floor((periodMicros - used + epsMicros) / interval(rate))
	return int64(math.Max(0, math.Min(r, float64(rate))))
}

// reset is how long until a bucket is full again, in µs, rounded to the
// nearest.
func reset(tat, now float64) int64 { return int64(math.Floor(math.Max(tat-now, 0) + 0.5)) }

// roundMicros rounds a wait to the nearest µs.
func roundMicros(us float64) int64 { return int64(math.Floor(us + 0.5)) }

// Refusal kinds, as admit.lua reports them.
const (
	kindRequests    = 1
	kindTokens      = 2
	kindConcurrency = 3
	kindTooLarge    = 4
)

var kindNames = [...]string{kindRequests: "requests", kindTokens: "tokens", kindConcurrency: "concurrency", kindTooLarge: "tokens"}

// verdict accumulates the refusals of one decision: the one that binds is
// a TooLarge (no wait helps), else the one with the longest wait.
type verdict struct {
	allowed bool
	retry   int64 // µs
	dim     int   // index of the binding subject
	kind    int
}

func (v *verdict) refuse(i, kind int, wait int64) {
	if v.allowed || (v.kind != kindTooLarge && (kind == kindTooLarge || wait > v.retry)) {
		v.retry, v.dim, v.kind = wait, i, kind
		if kind == kindTooLarge {
			v.retry = 0
		}
	}
	v.allowed = false
}

// state is one subject's buckets after a decision (after taking when
// allowed): what the headers and the refusal message are made of.
type state struct {
	reqRemaining, reqReset int64 // reset in µs
	tokRemaining, tokReset int64
	inUse                  int64 // concurrency slots held
}

// decision builds the Decision from a verdict and every subject's state.
func decision(v verdict, dims []dim, st []state, tokens int64) Decision {
	d := Decision{Allowed: v.allowed}
	h := &d.Headers
	for i := range dims {
		l, s := &dims[i].lim, &st[i]
		if l.RPM > 0 && (h.LimitRequests == 0 || s.reqRemaining < h.RemainingRequests ||
			s.reqRemaining == h.RemainingRequests && micros(s.reqReset) > h.ResetRequests) {
			h.LimitRequests, h.RemainingRequests, h.ResetRequests = l.RPM, s.reqRemaining, micros(s.reqReset)
		}
		if l.TPM > 0 && (h.LimitTokens == 0 || s.tokRemaining < h.RemainingTokens ||
			s.tokRemaining == h.RemainingTokens && micros(s.tokReset) > h.ResetTokens) {
			h.LimitTokens, h.RemainingTokens, h.ResetTokens = l.TPM, s.tokRemaining, micros(s.tokReset)
		}
	}
	if v.allowed {
		return d
	}
	dm, s := &dims[v.dim], &st[v.dim]
	d.RetryAfter = micros(v.retry)
	d.Scope, d.Kind = dm.scope.String(), kindNames[v.kind]
	switch v.kind {
	case kindRequests:
		d.Reason = fmt.Sprintf("Rate limit reached for requests per minute (RPM) on %s: Limit %d, Remaining %d. Please try again in %s.",
			dm.describe(), dm.lim.RPM, s.reqRemaining, FormatReset(d.RetryAfter))
	case kindTokens:
		d.Reason = fmt.Sprintf("Rate limit reached for tokens per minute (TPM) on %s: Limit %d, Remaining %d, Requested %d. Please try again in %s.",
			dm.describe(), dm.lim.TPM, s.tokRemaining, tokens, FormatReset(d.RetryAfter))
	case kindConcurrency:
		d.RetryAfter = ConcurrencyRetry
		d.Reason = "Too many concurrent requests on " + dm.describe() + ": Limit " + strconv.FormatInt(dm.lim.Concurrency, 10) +
			". Please try again when one of your requests has finished."
	case kindTooLarge:
		d.TooLarge = true
		d.Reason = fmt.Sprintf("Request too large for tokens per minute (TPM) on %s: Limit %d, Requested %d. Lower max_tokens or the size of the input.",
			dm.describe(), dm.lim.TPM, tokens)
	}
	return d
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
