package gateway

import (
	"context"

	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

// submitScoring queues an answer for scoring off the request path, with the
// route's scorers and those the request implies (quality.AutoSpecs). inline
// carries scores a cascade or ensemble computed already (stored as they
// are); nil means evaluate. It does nothing without a Runner, a resolved
// route or anything to score, and never blocks: a full queue drops the job.
// Call it after the answer was written; req and resp must not change after.
func (s *Server) submitScoring(ctx context.Context, x *exchange, req *provider.ChatRequest, resp *provider.ChatResponse, inline *quality.Result) {
	if s.Quality == nil || x.route == nil || x.key == nil || resp == nil {
		return
	}
	specs, err := s.Quality.Evaluator().SpecsFor(x.route.Config.Scorers, req)
	if err != nil {
		// Validated when the route was written; a config that fails now is
		// one the file or an older binary wrote.
		s.Logger.WarnContext(ctx, "route scorers not usable; answer not scored", "route", x.route.Model.Name, "err", err)
		return
	}
	if len(specs) == 0 && inline == nil {
		return
	}
	job := quality.Job{
		RequestID: x.reqID, ResponseID: x.respID, Model: x.route.Model.Name,
		KeyID: x.key.ID, UserID: x.key.UserID, Specs: specs, Request: req, Response: resp, Inline: inline,
	}
	if x.target != nil {
		job.Deployment = x.target.Deployment.Name
		if x.route.Routed { // as usage records name them: the answering model, and the route
			job.Route, job.Model = x.route.Model.Name, x.target.Model.Name
		}
	}
	s.Quality.Submit(job)
}

// wantsScoring reports whether an answer on this exchange will be scored off
// the request path, so a stream's text is kept for it.
func (s *Server) wantsScoring(x *exchange, req *provider.ChatRequest) bool {
	return s.Quality != nil && x.route != nil && (len(x.route.Config.Scorers) > 0 || len(quality.AutoSpecs(req)) > 0)
}

// inlineScore is the score a cascade or ensemble already gave the winning
// answer, stored as is instead of scoring it again.
func inlineScore(w *orchestrate.Attempt) *quality.Result {
	if w == nil || w.Score == nil {
		return nil
	}
	return &quality.Result{Score: *w.Score}
}
