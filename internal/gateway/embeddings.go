package gateway

import (
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	x := s.newExchange(r, "embeddings")
	defer x.finish()
	if err := s.embeddingsErr(w, r, x); err != nil {
		x.fail(err)
		if r.Context().Err() != nil {
			x.status = statusClientClosed
			return
		}
		s.writeError(w, r, api.FormatOpenAI, err)
	}
}

func (s *Server) embeddingsErr(w http.ResponseWriter, r *http.Request, x *exchange) error {
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
	req, err := openai.DecodeEmbeddingRequest(body)
	if err != nil {
		return err
	}
	if err := x.resolve(req.Model, chorus.KindEmbedding); err != nil {
		return err
	}
	if n := len(req.Input) + len(req.InputTokens); n > s.Limits.MaxEmbeddingInputs {
		return chorus.Invalid("input", "Too many inputs: %d. The maximum is %d.", n, s.Limits.MaxEmbeddingInputs)
	}
	var tokens int64
	for _, in := range req.Input {
		tokens += int64(provider.EstimateTokens(in))
	}
	for _, in := range req.InputTokens {
		tokens += int64(len(in))
	}
	if err := x.admit(w, tokens); err != nil {
		return err
	}
	if err := x.reserve(meter.EmbedQuote(x.route, req)); err != nil {
		return err
	}
	ctx, cancel := x.upstreamContext()
	defer cancel()
	res, err := s.Orchestrator.Embed(ctx, x.route, req)
	x.took(res.Attempts, res.Winner, -1)
	if err != nil {
		return upstreamError(err)
	}
	resp := res.Response
	var out []byte
	if resp.RawFormat == provider.FormatOpenAI && resp.Raw != nil {
		out = resp.Raw
	} else {
		out = openai.AppendEmbeddingResponse(nil, resp, req.EncodingFormat)
	}
	x.setHeaders(w)
	if err := x.settle(w); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
	return nil
}
