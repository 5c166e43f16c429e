package app

import (
	"context"
	"fmt"
	"time"

	"github.com/chorusgw/chorus/internal/bias"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/store"
)

var _ bias.Store = (*store.DB)(nil)

// biasCloseTimeout is how long shutdown waits for interrupted bias runs to
// be recorded.
const biasCloseTimeout = 10 * time.Second

// initBias builds the bias test runner (its suites, its caps) and hands it
// to the admin API. It needs the registry, the orchestrator, the evaluator
// and the management server.
func (a *App) initBias() error {
	cfg := a.Config.Bias
	catalog, err := bias.LoadCatalog(cfg.SuitesDir)
	if err != nil {
		return err
	}
	reg := a.Registry
	a.Bias = &bias.Runner{
		Call:      biasCaller(reg, a.Orchestrator),
		Evaluator: a.Evaluator,
		Known:     func(model string) bool { return reg.Snapshot().Route(model) != nil },
		Catalog:   catalog,
		Store:     a.DB,
		Limits: bias.Limits{MaxRequests: cfg.MaxRequests, Concurrency: cfg.Concurrency,
			MaxRunning: cfg.MaxRunning, Timeout: cfg.RunTimeout},
		Logger: a.Log,
	}
	a.Manage.Bias = a.Bias
	a.closers = append(a.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), biasCloseTimeout)
		defer cancel()
		if err := a.Bias.Close(ctx); err != nil {
			a.Log.Warn("bias runs not all recorded at shutdown", "err", err)
		}
	})
	return nil
}

// biasCaller sends a bias run's prompt to a registry model or route through
// the orchestrator, like any request (its strategy, deployments and health),
// but not through the cache (repetitions must sample) nor the meter (runs
// are the operator's, not a team's). The usage is every attempt's.
func biasCaller(reg *registry.Registry, orch *orchestrate.Orchestrator) bias.Caller {
	return func(ctx context.Context, model string, req *provider.ChatRequest) (*provider.ChatResponse, provider.Usage, error) {
		rt := reg.Snapshot().Route(model)
		if rt == nil {
			return nil, provider.Usage{}, fmt.Errorf("model %q is not in the registry", model)
		}
		res, err := orch.Chat(ctx, rt, req)
		var u provider.Usage
		if res != nil {
			for _, at := range res.Attempts {
				u.InputTokens += at.Usage.InputTokens
				u.OutputTokens += at.Usage.OutputTokens
			}
		}
		if err != nil {
			return nil, u, err
		}
		return res.Response, u, nil
	}
}
