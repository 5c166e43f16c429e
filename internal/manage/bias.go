package manage

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/bias"
)

// biasRoutes registers the bias testing admin API (docs/bias-testing.md).
// It needs Server.Bias; without it the routes are not served (404).
func (s *Server) biasRoutes(mux *api.Mux) {
	if s.Bias == nil {
		return
	}
	s.handle(mux, "GET /api/admin/bias/suites", accessAdmin, s.adminBiasSuites)
	s.handle(mux, "POST /api/admin/bias/runs", accessAdmin, s.adminStartBiasRun)
	s.handle(mux, "GET /api/admin/bias/runs", accessAdmin, s.adminListBiasRuns)
	s.handle(mux, "GET /api/admin/bias/runs/{id}", accessAdmin, s.adminGetBiasRun)
	s.handle(mux, "GET /api/admin/bias/compare", accessAdmin, s.adminCompareBiasRuns)
}

// adminBiasSuites serves GET /api/admin/bias/suites: the built-in suites and
// the operator's (bias.suites_dir).
func (s *Server) adminBiasSuites(w http.ResponseWriter, _ *http.Request, _ *chorus.Principal) error {
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": s.Bias.Catalog.List()})
	return nil
}

// adminStartBiasRun serves POST /api/admin/bias/runs: it checks the request
// (model, suite or inline definition, the cap on calls) and starts the run
// in the background; the answer (202) is the run in status running, to
// poll at GET /api/admin/bias/runs/{id}.
func (s *Server) adminStartBiasRun(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	var in bias.Request
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	run, err := s.Bias.Start(r.Context(), in, p.User.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/admin/bias/runs/"+strconv.FormatInt(run.ID, 10))
	api.WriteJSON(w, http.StatusAccepted, run)
	return nil
}

// adminListBiasRuns serves GET /api/admin/bias/runs?model=&suite=&status=
// &results=true&limit=&after=: runs oldest first, so one model's history
// with a suite reads in order; results=true includes every run's results.
func (s *Server) adminListBiasRuns(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	p, err := api.PageOf(q)
	if err != nil {
		return err
	}
	f := chorus.BiasRunFilter{Model: q.Get("model"), Suite: q.Get("suite"), Status: q.Get("status"), WithResults: q.Get("results") == "true"}
	runs, err := s.Bias.Store.ListBiasRuns(r.Context(), f, p)
	if err != nil {
		return err
	}
	now := s.Now()
	for _, run := range runs {
		bias.Settle(run, now)
	}
	api.WriteList(w, runs, p, func(r *chorus.BiasRun) int64 { return r.ID })
	return nil
}

// adminGetBiasRun serves GET /api/admin/bias/runs/{id}: the run with its
// results.
func (s *Server) adminGetBiasRun(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	run, err := s.Bias.Store.BiasRunByID(r.Context(), id)
	if err != nil {
		return err
	}
	bias.Settle(run, s.Now())
	api.WriteJSON(w, http.StatusOK, run)
	return nil
}

// adminCompareBiasRuns serves GET /api/admin/bias/compare?runs=1,2,3: the
// runs' results side by side, a row per measured gap.
func (s *Server) adminCompareBiasRuns(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	text := r.URL.Query().Get("runs")
	parts := strings.Split(text, ",")
	if text == "" || len(parts) > bias.MaxCompare {
		return chorus.Invalid("runs", "runs must list 1–%d run IDs separated by commas, got %q", bias.MaxCompare, text)
	}
	var runs []*chorus.BiasRun
	for _, part := range parts {
		id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || id < 1 {
			return chorus.Invalid("runs", "runs must list positive run IDs separated by commas, got %q", text)
		}
		run, err := s.Bias.Store.BiasRunByID(r.Context(), id)
		if err != nil {
			return err
		}
		bias.Settle(run, s.Now())
		runs = append(runs, run)
	}
	api.WriteJSON(w, http.StatusOK, bias.Compare(runs))
	return nil
}
