package gateway

import (
	"context"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/provider"
)

// Metering on the request path (package meter): after the rate limits, a
// request's worst case is reserved (402 insufficient_quota when the wallet
// or a hard budget cannot cover it); the actual cost of every upstream
// attempt is settled once, by settle, between the answer and its end —
// before the body of a plain answer, before the final event of a stream,
// before the error of a failed request — and the rest of the hold released.
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
func (x *exchange) reserve(ctx context.Context, q meter.Quote) error {
	m := x.s.Meter
	if !m.Metered(x.key) {
		return nil
	}
	h, err := m.Reserve(ctx, x.key, x.reqID, q)
	if err != nil {
		return err
	}
	x.hold = h
	return nil
}

// settle charges the request what its attempts cost and releases the rest
// of its hold. The pipeline calls it exactly once, whatever happened. In
// strict mode an error means the charge could not be written: the answer
// must not complete; and the request's usage record is stored with the
// charge, so that the books are complete even if the instance dies before
// finish writes the record (which then completes it).
func (x *exchange) settle(ctx context.Context) error {
	if x.hold == nil {
		return nil
	}
	rec := x.record(x.s.Now().Sub(x.start))
	st, err := x.s.Meter.SettleUsage(ctx, x.hold, &rec)
	if err != nil {
		return err
	}
	x.credits = st.Available
	return nil
}

// setCredits sets the credits header of a charged answer whose headers are
// not sent yet.
func (x *exchange) setCredits(w http.ResponseWriter) {
	if x.credits >= 0 {
		w.Header().Set(creditsHeader, chorus.FormatCredits(x.credits))
	}
}

// finalChunk reports whether c is an upstream's own end of stream relayed
// as is (Anthropic's message_stop, the Responses API's response.completed), which must wait for the settlement like
// the frames the gateway writes at the end.
func finalChunk(c *provider.StreamChunk) bool {
	switch c.RawFormat {
	case provider.FormatAnthropic:
		return c.RawEvent == "message_stop"
	case provider.FormatOpenAIResponses:
		return c.RawEvent == "response.completed" || c.RawEvent == "response.incomplete"
	}
	return false
}

// collectText appends a stream chunk's output text to b, so a metered
// stream's tokens can be counted when the upstream reports no usage.
func collectText(b *strings.Builder, c *provider.StreamChunk) {
	for i := range c.Choices {
		b.WriteString(c.Choices[i].Reasoning)
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
		CachedInputTokens: got.CachedInputTokens, CacheWriteTokens: got.CacheWriteTokens, ReasoningTokens: got.ReasoningTokens}
}
