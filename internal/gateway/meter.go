package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/provider"
)

// Metering on the request path (package meter): after the rate limits, a
// request's worst case is reserved (402 insufficient_quota when the wallet
// or a hard budget cannot cover it); the actual cost of every upstream
// attempt is settled once — before the body of a plain answer, before the
// final event of a stream, or, for errors and streams the client left, when
// the exchange finishes — and the rest of the hold released.
//
// A non-streamed answer that was charged carries
//
//	x-chorus-credits-remaining: <credits>
//
// the team's available credit after the charge: exact in strict mode; in
// fast mode an estimate from this instance's lease (what the wallet had free
// at its last lease change plus what is left of its lease), which does not
// see other instances' charges since.

// creditsHeader carries the team's available credit after a charge.
const creditsHeader = "X-Chorus-Credits-Remaining"

// reserve holds q's worst case for the request, unless it is not metered.
func (x *exchange) reserve(q meter.Quote) error {
	m := x.s.Meter
	if !m.Metered(x.key) {
		return nil
	}
	h, err := m.Reserve(x.r.Context(), x.key, api.RequestID(x.r.Context()), q)
	if err != nil {
		return err
	}
	x.hold = h
	return nil
}

// settle charges the request what its attempts cost and releases the rest
// of its hold, once. With w (a response whose headers are not sent yet) it
// sets the credits header. In strict mode an error means the charge could
// not be written: the answer must not complete.
func (x *exchange) settle(w http.ResponseWriter) error {
	h := x.hold
	if h == nil {
		return nil
	}
	x.hold = nil
	_, _, _, cost := x.usage()
	s, err := x.s.Meter.Settle(x.r.Context(), h, cost)
	if err != nil {
		return err
	}
	if w != nil && s.Available >= 0 {
		w.Header().Set(creditsHeader, chorus.FormatCredits(s.Available))
	}
	return nil
}

// usage is the request's usage lines and totals, summed once: the cache
// hit's line, or one line per upstream attempt.
func (x *exchange) usage() ([]chorus.UsageAttempt, int64, int64, int64) {
	if !x.summed {
		x.summed = true
		if x.cached != nil {
			x.lines, x.in, x.out, x.cost = x.hitUsage()
		} else {
			x.lines, x.in, x.out, x.cost = usageAttempts(x.attempts)
		}
	}
	return x.lines, x.in, x.out, x.cost
}

// settleStream settles a stream that the upstream completed, before its
// final frames: in strict mode the charge is durable before the client has
// the whole answer. It returns the error frame to end the stream with
// instead, if the charge could not be written.
func (x *exchange) settleStream() *chorus.Error {
	err := x.settle(nil)
	if err == nil {
		return nil
	}
	var ce *chorus.Error
	if !errors.As(err, &ce) {
		ce = &chorus.Error{Code: chorus.EINTERNAL, Message: "internal error", Err: err}
	}
	x.fail(ce)
	x.s.Logger.ErrorContext(x.r.Context(), "stream not completed: its charge could not be written", "err", err)
	return ce
}

// finalChunk reports whether c is an upstream's own end of stream relayed
// as is (Anthropic's message_stop), which must wait for the settlement like
// the frames the gateway writes at the end.
func finalChunk(c *provider.StreamChunk) bool {
	return c.RawFormat == provider.FormatAnthropic && c.RawEvent == "message_stop"
}

// collectText appends a stream chunk's output text to b, so a metered
// stream's tokens can be counted when the upstream reports no usage.
func collectText(b *strings.Builder, c *provider.StreamChunk) {
	for i := range c.Choices {
		b.WriteString(c.Choices[i].Content)
		for _, tc := range c.Choices[i].ToolCalls {
			b.WriteString(tc.Name)
			b.WriteString(tc.Arguments)
		}
	}
}

// meteredUsage returns a stream's usage: the upstream's when it completed
// and reported some; otherwise (an aborted stream, a provider that does not
// count) what was generated is counted — with the tokenizer when the
// request is metered, by estimate otherwise — and the larger of that and
// any partial count the upstream sent is billed.
func (x *exchange) meteredUsage(req *provider.ChatRequest, u *provider.Usage, complete bool, outBytes int, gen *strings.Builder) provider.Usage {
	var got provider.Usage
	if u != nil {
		got = *u
	}
	if complete && (got.InputTokens > 0 || got.OutputTokens > 0) {
		return got
	}
	in, out := provider.EstimateInputTokens(req), (outBytes+3)/4
	if x.hold != nil && x.target != nil {
		model := x.target.Deployment.UpstreamModel
		in, out = x.s.Meter.InputTokens(model, req), x.s.Meter.OutputTokens(model, gen.String())
	}
	if got.InputTokens > 0 {
		in = got.InputTokens
	}
	return provider.Usage{InputTokens: in, OutputTokens: max(out, got.OutputTokens),
		CachedInputTokens: got.CachedInputTokens, ReasoningTokens: got.ReasoningTokens}
}
