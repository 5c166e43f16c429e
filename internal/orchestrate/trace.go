package orchestrate

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/tracing"
)

// Tracing (docs/tracing.md). With a Tracer, every Chat, ChatStream and
// Embed is a routing span ("route {model}") whose children are the
// attempts, one client span per upstream call ("chat {upstream model}"),
// losers, retries and fallbacks included, and a cascade's or ensemble's
// scorings ("evaluate {model}"), under which the judge models' own routing
// and attempt spans sit.
//
// An attempt's outcome is final only when its routing is over (a hedge's
// loser is marked canceled, a cascade's weaker answer rejected, an
// ensemble's loser not_chosen after the call returned), so its span is
// ended then, at the time the call ended (finish records it); a streamed
// winner's span ends with its stream.

// attemptTrace is an attempt's span and what its stream showed.
type attemptTrace struct {
	span  trace.Span
	end   time.Time // when the call ended (finish)
	ended bool
	// A stream's answer, gathered chunk by chunk.
	model, id string
	finish    []string
	out       strings.Builder // the streamed text, when content is captured
	capture   bool
}

// traceAttempt starts a's span under ctx's and returns the context the
// upstream call is made in.
func (o *Orchestrator) traceAttempt(ctx context.Context, a *Attempt, op string, chat *provider.ChatRequest) context.Context {
	t := a.Target
	upstream := t.Deployment.UpstreamModel
	if upstream == "" { // the simulator's deployments name none
		upstream = t.Model.Name
	}
	ctx, span := o.Tracer.StartAttempt(ctx, tracing.AttemptStart{
		Operation: op, Provider: t.Deployment.Provider, Deployment: t.Deployment.Name,
		Model: t.Model.Name, UpstreamModel: upstream, BaseURL: t.Deployment.BaseURL,
		Tier: a.Tier, Chat: chat,
	})
	if span.IsRecording() { // unsampled: the context still carries the trace upstream
		a.tr = &attemptTrace{span: span, capture: o.Tracer.CapturesContent()}
	}
	return ctx
}

// endAttempt ends a's span with its final outcome, once. A judge's call
// that answered is OutcomeJudge (score marks it so only after the judge's
// routing, and so its span, ended).
func (o *Orchestrator) endAttempt(a *Attempt, judge bool) {
	tr := a.tr
	if tr == nil || tr.ended {
		return
	}
	tr.ended = true
	e := tracing.AttemptEnd{Outcome: a.Outcome, Err: a.Err, Usage: a.Usage, Score: a.Score, End: tr.end}
	if judge && a.Outcome == OutcomeOK {
		e.Outcome = OutcomeJudge
	}
	switch {
	case a.resp != nil:
		e.ResponseModel, e.ResponseID, e.FinishReasons, e.Chat = a.resp.Model, a.resp.ID, tracing.FinishReasons(a.resp), a.resp
	case a.emb != nil:
		e.ResponseModel = a.emb.Model
	default:
		e.ResponseModel, e.ResponseID, e.FinishReasons, e.Output = tr.model, tr.id, tr.finish, tr.out.String()
	}
	o.Tracer.EndAttempt(tr.span, e)
}

// endAttempts ends the spans of every attempt but keep (a stream still
// being relayed).
func (o *Orchestrator) endAttempts(ctx context.Context, attempts []*Attempt, keep *Attempt) {
	judge := ctx.Value(judgingKey{}) != nil
	for _, a := range attempts {
		if a != keep {
			o.endAttempt(a, judge)
		}
	}
}

// judgingKey marks the context of a scoring: the calls made in it are a
// judge's.
type judgingKey struct{}

// judging returns ctx marked as a scoring's (tracing on only).
func judging(ctx context.Context) context.Context { return context.WithValue(ctx, judgingKey{}, true) }

// winnerName is the answering deployment's name, "" when none answered.
func winnerName(w *Attempt) string {
	if w == nil {
		return ""
	}
	return w.Target.Deployment.Name
}

func (o *Orchestrator) tracedChat(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*Result, error) {
	ctx, span := o.Tracer.StartRoute(ctx, tracing.OpChat, rt.Model.Name, rt.Strategy)
	res, err := o.chat(ctx, rt, req)
	o.endAttempts(ctx, res.Attempts, nil)
	o.Tracer.EndRoute(span, len(res.Attempts), winnerName(res.Winner), res.Tier, err)
	return res, err
}

func (o *Orchestrator) tracedEmbed(ctx context.Context, rt *registry.Route, req *provider.EmbeddingRequest) (*EmbedResult, error) {
	ctx, span := o.Tracer.StartRoute(ctx, tracing.OpEmbeddings, rt.Model.Name, rt.Strategy)
	res, err := o.embed(ctx, rt, req)
	o.endAttempts(ctx, res.Attempts, nil)
	o.Tracer.EndRoute(span, len(res.Attempts), winnerName(res.Winner), -1, err)
	return res, err
}

// tracedChatStream keeps the routing span open while the winner streams:
// StreamResult.Finish ends both (endStream). Cascades and ensembles answer
// through Chat, which traces them whole.
func (o *Orchestrator) tracedChatStream(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*StreamResult, error) {
	if replays(rt) {
		return o.chatStream(ctx, rt, req)
	}
	ctx, span := o.Tracer.StartRoute(ctx, tracing.OpChat, rt.Model.Name, rt.Strategy)
	res, err := o.chatStream(ctx, rt, req)
	o.endAttempts(ctx, res.Attempts, res.Winner)
	if err != nil || res.Winner == nil {
		o.Tracer.EndRoute(span, len(res.Attempts), "", -1, err)
		return res, err
	}
	res.span = span
	return res, nil
}

// endStream ends a finished stream's winner span and its routing span.
func (o *Orchestrator) endStream(s *StreamResult) {
	o.endAttempt(s.Winner, false)
	if s.span != nil {
		o.Tracer.EndRoute(s.span, len(s.Attempts), winnerName(s.Winner), -1, s.Winner.Err)
	}
}

// traceStream wraps an attempt's stream to note, chunk by chunk, what the
// span reports when it ends: the model, the answer's ID, finish reasons
// and (content captured) the text.
func (o *Orchestrator) traceStream(a *Attempt, st provider.Stream) provider.Stream {
	return &tracedStream{Stream: st, tr: a.tr}
}

type tracedStream struct {
	provider.Stream
	tr *attemptTrace
}

func (s *tracedStream) Next() (*provider.StreamChunk, error) {
	c, err := s.Stream.Next()
	if c != nil {
		s.observe(c)
	}
	return c, err
}

func (s *tracedStream) observe(c *provider.StreamChunk) {
	tr := s.tr
	if c.Model != "" && tr.model == "" {
		tr.model = c.Model
	}
	if c.ID != "" && tr.id == "" {
		tr.id = c.ID
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.FinishReason != "" {
			tr.finish = append(tr.finish, string(ch.FinishReason))
		}
		if tr.capture && ch.Index == 0 && ch.Content != "" && tr.out.Len() < maxStreamCapture {
			tr.out.WriteString(ch.Content)
		}
	}
}

// maxStreamCapture bounds the text kept from a stream for its span; the
// span itself carries at most tracing.capture_content_max_bytes of it.
const maxStreamCapture = 1 << 20

// Ready forwards the wrapped stream's report that a chunk is buffered.
func (s *tracedStream) Ready() bool {
	r, ok := s.Stream.(interface{ Ready() bool })
	return ok && r.Ready()
}

// replays reports whether a route's streams are whole answers replayed.
func replays(rt *registry.Route) bool {
	return rt.Strategy == chorus.StrategyCascade || rt.Strategy == chorus.StrategyEnsemble
}
