package api

import (
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

// messages serves POST /v1/messages in Anthropic's Messages format, so
// Anthropic clients work against any deployment.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	x := s.newExchange(r, "messages")
	defer x.finish()
	if err := s.messagesErr(w, r, x); err != nil {
		x.fail(err)
		if r.Context().Err() != nil {
			x.status = statusClientClosed
			return
		}
		s.writeError(w, r, formatAnthropic, err)
	}
}

func (s *Server) messagesErr(w http.ResponseWriter, r *http.Request, x *exchange) error {
	key, err := s.authenticate(r)
	if err != nil {
		return err
	}
	x.key = key
	body, release, err := s.readBody(w, r)
	defer release()
	if err != nil {
		return err
	}
	req, err := anthropic.DecodeRequest(body)
	if err != nil {
		return err
	}
	if err := x.resolve(req.Model, chorus.KindChat); err != nil {
		return err
	}
	if err := x.checkChat(req); err != nil {
		return err
	}
	if err := x.admit(w, chatTokens(req)); err != nil {
		return err
	}
	x.stream = req.Stream
	ctx, cancel := x.upstreamContext()
	defer cancel()
	hit, cc := s.cacheLookup(x, r, req)
	if req.Stream {
		return s.streamChat(ctx, w, x, req, &anthropicStreamWriter{model: x.route.Model.Name}, hit, cc)
	}
	var resp *provider.ChatResponse
	var winner *orchestrate.Attempt
	if hit != nil {
		resp = x.hit(hit)
	} else {
		var entry *cache.Entry
		defer func() { cc.finish(s, ctx, entry) }()
		res, err := s.Orchestrator.Chat(ctx, x.route, req)
		x.took(res.Attempts, res.Winner, res.Tier)
		if err != nil {
			return upstreamError(err)
		}
		resp, winner = res.Response, res.Winner
		if cc != nil {
			entry = x.cacheEntry(resp, winner)
		}
	}
	if resp.ID == "" {
		resp.ID = RequestID(r.Context())
	}
	x.respID = anthropic.MessageID(resp.ID)
	if hit == nil {
		s.submitScoring(x, req, resp, inlineScore(winner))
	}
	var out []byte
	if resp.RawFormat == provider.FormatAnthropic && resp.Raw != nil {
		out = resp.Raw
	} else {
		out = anthropic.AppendResponse(nil, resp)
	}
	x.setHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
	return nil
}

// anthropicStreamWriter writes Anthropic SSE events: relayed byte for byte
// from an Anthropic upstream, encoded from canonical chunks otherwise.
type anthropicStreamWriter struct {
	model string
	enc   *anthropic.StreamEncoder
	raw   bool
}

// responseID is the message ID an Anthropic client sees for a stream whose
// first chunk has the given ID.
func (a *anthropicStreamWriter) responseID(id string) string { return anthropic.MessageID(id) }

func (a *anthropicStreamWriter) contentType() string { return "text/event-stream; charset=utf-8" }

func (a *anthropicStreamWriter) chunk(dst []byte, c *provider.StreamChunk) []byte {
	if c.RawFormat == provider.FormatAnthropic && c.Raw != nil {
		a.raw = true
		if c.RawEvent != "" {
			dst = append(dst, "event: "...)
			dst = append(dst, c.RawEvent...)
			dst = append(dst, '\n')
		}
		return appendSSEData(dst, c.Raw)
	}
	if a.enc == nil {
		model := c.Model
		if model == "" {
			model = a.model
		}
		a.enc = anthropic.NewStreamEncoder(model)
	}
	return a.enc.Encode(dst, c)
}

func (a *anthropicStreamWriter) end(dst []byte, usage *provider.Usage) []byte {
	if a.raw || a.enc == nil {
		return dst // an Anthropic upstream sent its own message_stop
	}
	return a.enc.Finish(dst, usage)
}

func (a *anthropicStreamWriter) error(dst []byte, e *chorus.Error) []byte {
	return anthropic.AppendErrorEvent(dst, anthropic.ErrorType(StatusOf(e)), e.Message)
}
