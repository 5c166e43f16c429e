package gateway

import (
	"context"

	"github.com/chorusgw/chorus/internal/tracing"
)

// annotate puts what the exchange learned — the model asked for and the one
// that answered, the provider, the tokens, the cache, the error code — on
// the request's server span (docs/tracing.md). finish calls it only when
// tracing is on.
func (x *exchange) annotate(ctx context.Context) {
	e := tracing.Exchange{Endpoint: x.endpoint, RequestID: x.reqID, Cache: x.cache, Stream: x.stream,
		Status: x.status, ErrorCode: x.code}
	if x.key != nil {
		e.KeyID, e.TeamID = x.key.ID, x.key.TeamID
		_, e.InputTokens, e.OutputTokens, _ = x.usage()
	}
	e.Model = x.publicName()
	if x.target != nil {
		e.ResponseModel, e.Provider, e.Deployment = x.target.Model.Name, x.target.Deployment.Provider, x.target.Deployment.Name
	}
	if x.cached != nil {
		e.Provider, e.Deployment = x.cached.Provider, x.cached.Deployment
	}
	x.s.Tracer.Annotate(ctx, e)
}
