package gateway

import (
	"context"
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// embeddings serves POST /v1/embeddings: the chat pipeline's steps, with
// one whole answer.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	x := s.begin(ctx, "embeddings")
	defer x.finish(ctx)
	req, release, err := x.admitEmbeddings(ctx, w, r)
	defer release()
	var out []byte
	if err == nil {
		out, err = x.answerEmbeddings(ctx, req)
	}
	serr := x.settle(ctx) // the one settlement of this request
	switch {
	case err != nil:
		x.failed(ctx, w, r, api.FormatOpenAI, err)
	case serr != nil:
		x.failed(ctx, w, r, api.FormatOpenAI, serr)
	default:
		x.setHeaders(w)
		x.setCredits(w)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out) // #nosec G705 -- the encoded JSON answer, sent with Content-Type application/json, not HTML
	}
}

// admitEmbeddings checks the caller and the request, then admits it.
// release frees the body; it is never nil.
func (x *exchange) admitEmbeddings(ctx context.Context, w http.ResponseWriter, r *http.Request) (req *provider.EmbeddingRequest, release func(), err error) {
	if err := x.authenticate(r); err != nil {
		return nil, func() {}, err
	}
	body, release, err := x.s.readBody(w, r)
	if err != nil {
		return nil, release, err
	}
	if req, err = openai.DecodeEmbeddingRequest(body); err != nil {
		return nil, release, err
	}
	if err := x.resolve(req.Model, chorus.KindEmbedding); err != nil {
		return nil, release, err
	}
	if n := len(req.Input) + len(req.InputTokens); n > x.s.Limits.MaxEmbeddingInputs {
		return nil, release, chorus.Invalid("input", "Too many inputs: %d. The maximum is %d.", n, x.s.Limits.MaxEmbeddingInputs)
	}
	if err := x.admit(ctx, w, provider.EstimateEmbeddingTokens(req)); err != nil {
		return nil, release, err
	}
	if err := x.reserve(ctx, meter.EmbedQuote(x.route, req)); err != nil {
		return nil, release, err
	}
	return req, release, nil
}

// answerEmbeddings calls the route's deployments and returns the answer in
// OpenAI's format (as received from an OpenAI-format upstream).
func (x *exchange) answerEmbeddings(ctx context.Context, req *provider.EmbeddingRequest) ([]byte, error) {
	uctx, cancel := context.WithTimeout(ctx, x.s.Upstream)
	defer cancel()
	res, err := x.s.Orchestrator.Embed(uctx, x.route, req)
	x.took(res.Attempts, res.Winner, -1)
	if err != nil {
		return nil, upstreamError(err)
	}
	resp := res.Response
	if resp.RawFormat == provider.FormatOpenAI && resp.Raw != nil {
		return resp.Raw, nil
	}
	return openai.AppendEmbeddingResponse(nil, resp, req.EncodingFormat), nil
}
