package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/registry"
)

// countTokens serves POST /v1/messages/count_tokens, Anthropic's prompt
// token count: {"input_tokens": N} for a Messages request without
// max_tokens. It authenticates and resolves the model as /v1/messages does
// and is rate limited by requests (not tokens), but reserves and charges no
// credit: counting generates nothing. A model whose first deployment counts
// tokens itself (an Anthropic upstream) is asked; any other is counted
// offline with the meter's tokenizer (system prompt, messages and tools).
//
// Its usage record (endpoint "count_tokens") has no tokens and no cost, so
// the calls show in a key's activity without counting as consumption; the
// count is in the answer, not the record.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	x := s.begin(ctx, "count_tokens")
	defer x.finish(ctx)
	n, err := x.countTokens(ctx, w, r)
	if err != nil {
		x.failed(ctx, w, r, api.FormatAnthropic, err)
		return
	}
	x.setHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(strconv.AppendInt(append([]byte(nil), `{"input_tokens":`...), int64(n), 10)) // #nosec G705 -- a JSON number written with Content-Type application/json, not HTML
	_, _ = w.Write([]byte("}"))
}

// countTokens checks the caller and the request and counts its prompt.
func (x *exchange) countTokens(ctx context.Context, w http.ResponseWriter, r *http.Request) (int, error) {
	if err := x.authenticate(r); err != nil {
		return 0, err
	}
	body, release, err := x.s.readBody(w, r)
	defer release()
	if err != nil {
		return 0, err
	}
	req, err := anthropic.DecodeCountTokensRequest(body)
	if err != nil {
		return 0, err
	}
	anthropicHeaders(r.Header, req)
	if err := x.resolve(req.Model, chorus.KindChat); err != nil {
		return 0, err
	}
	if n := len(req.Messages); n > x.s.Limits.MaxMessages {
		return 0, chorus.Invalid("messages", "Too many messages: %d. The maximum is %d.", n, x.s.Limits.MaxMessages)
	}
	if err := x.admit(ctx, w, 0); err != nil {
		return 0, err
	}
	t := x.route.Targets[0]
	if tc, ok := t.Provider.(provider.TokenCounter); ok {
		return x.countUpstream(ctx, t, tc, req)
	}
	return x.s.Meter.InputTokens(t.Deployment.UpstreamModel, req), nil
}

// countUpstream asks the deployment to count req's prompt.
func (x *exchange) countUpstream(ctx context.Context, t *registry.Target, tc provider.TokenCounter, req *provider.ChatRequest) (int, error) {
	uctx, cancel := context.WithTimeout(ctx, x.s.Upstream)
	defer cancel()
	up := *req
	up.Model = t.Deployment.UpstreamModel
	x.target = t
	n, err := tc.CountTokens(uctx, &up)
	if err != nil {
		return 0, upstreamError(err)
	}
	return n, nil
}
