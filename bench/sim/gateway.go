package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/orchestrate"
)

// masterKey is the admin key of the benchmark's gateway.
const masterKey = "sk-chorus-sim-master-key-0123456789"

// Gateway is a Chorus gateway running in this process on a loopback port,
// as internal/app/apptest starts one for tests (which needs a testing.TB, so
// the command could not use it): SQLite in a temp dir, log level warn, the
// real registry, orchestrator, usage writer and HTTP server.
type Gateway struct {
	URL    string
	App    *app.App
	client *http.Client
	dir    string
	done   chan error
	user   int64 // owner of the benchmark's API keys

	circuits *circuits
}

// Start runs a gateway until Close. The gateway's log goes to logw (nil
// discards it); edit, if not nil, may change the config (the circuit
// breaker's settings, for instance).
func Start(ctx context.Context, logw io.Writer, edit func(*config.Config)) (*Gateway, error) {
	dir, err := os.MkdirTemp("", "chorus-simbench-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey = masterKey
	cfg.Bootstrap = false
	cfg.Log.Level = "warn"
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if logw == nil {
		logw = io.Discard
	}
	a, err := app.New(ctx, cfg, app.NewLogger(cfg.Log, logw), io.Discard)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = a.Shutdown()
		os.RemoveAll(dir)
		return nil, err
	}
	g := &Gateway{URL: "http://" + ln.Addr().String(), App: a, dir: dir, done: make(chan error, 1)}
	g.circuits = &circuits{health: a.Orchestrator.Health, cooldown: cfg.Health.Cooldown, watched: map[string]*circuitLog{}}
	if observe := a.Orchestrator.Observe; observe != nil { // set before serving: no request runs yet
		a.Orchestrator.Observe = func(at *orchestrate.Attempt) { observe(at); g.circuits.observe(at) }
	} else {
		a.Orchestrator.Observe = g.circuits.observe
	}
	go func() { g.done <- a.Serve(ln) }()
	g.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second,
	}}
	// Keys belong to a customer, whose team pays for the requests (billing
	// stays on, as in production): the benchmark grants the team a million
	// credits, which no scenario comes near spending.
	u := &chorus.User{Email: "simbench@example.test", Name: "Simulation benchmark", Role: chorus.RoleCustomer}
	if err := a.DB.CreateUser(ctx, u); err != nil {
		g.Close()
		return nil, fmt.Errorf("create user: %w", err)
	}
	grant := &chorus.Posting{IdempotencyKey: "simbench-grant", Kind: chorus.PostingGrant, TeamID: u.TeamID, Memo: "simulation benchmark",
		Entries: []chorus.LedgerEntry{
			{Account: chorus.AccountPromotions, Amount: -1_000_000 * chorus.MicroPerCredit},
			{Account: chorus.WalletAccount(u.TeamID), Amount: 1_000_000 * chorus.MicroPerCredit},
		}}
	if _, err := a.DB.Post(ctx, grant); err != nil {
		g.Close()
		return nil, fmt.Errorf("grant credits: %w", err)
	}
	g.user = u.ID
	return g, nil
}

// Close shuts the gateway down (draining requests, flushing usage) and
// removes its data.
func (g *Gateway) Close() error {
	g.client.CloseIdleConnections()
	err := g.App.Shutdown()
	if serr := <-g.done; err == nil && serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	os.RemoveAll(g.dir)
	return err
}

// admin calls the admin API with the master key and decodes the answer
// into out (if not nil); any status but want is an error.
func (g *Gateway) admin(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+masterKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Model is a simulated model: one simulator deployment with its prices
// (micro-credits per million tokens) and simulator settings.
type Model struct {
	Name        string
	InputPrice  int64
	OutputPrice int64
	Settings    map[string]any
}

// createModel adds a chat model served by one simulator deployment.
func (g *Gateway) createModel(ctx context.Context, t Model) error {
	var m chorus.Model
	if err := g.admin(ctx, "POST", "/api/admin/models", map[string]any{"name": t.Name, "max_output_tokens": 4096}, http.StatusCreated, &m); err != nil {
		return err
	}
	d := map[string]any{
		"model_id": m.ID, "name": t.Name + "-sim", "provider": chorus.ProviderSimulator,
		"upstream_model": t.Name, "settings": t.Settings, "input_price": t.InputPrice, "output_price": t.OutputPrice,
	}
	return g.admin(ctx, "POST", "/api/admin/deployments", d, http.StatusCreated, nil)
}

// deployment is the name of the one deployment createModel gives a model.
func deployment(model string) string { return model + "-sim" }

// createRoute adds a route over models with a strategy and config (the
// admin API's JSON names).
func (g *Gateway) createRoute(ctx context.Context, name, strategy string, models []string, cfg map[string]any) error {
	targets := make([]map[string]any, len(models))
	for i, m := range models {
		targets[i] = map[string]any{"model": m}
	}
	body := map[string]any{"name": name, "strategy": strategy, "targets": targets, "config": cfg}
	return g.admin(ctx, "POST", "/api/admin/routes", body, http.StatusCreated, nil)
}

// key is an API key the benchmark sends requests with; each scenario has
// its own, so its usage records can be read back alone.
type key struct {
	ID     int64  `json:"id"`
	Secret string `json:"key"`
}

func (g *Gateway) createKey(ctx context.Context, name string) (key, error) {
	var k key
	err := g.admin(ctx, "POST", "/api/admin/keys", map[string]any{"name": name, "user_id": g.user}, http.StatusCreated, &k)
	return k, err
}

// usage returns the key's usage records once there are want of them (the
// usage writer flushes in batches), or an error after a while.
func (g *Gateway) usage(ctx context.Context, k key, want int) ([]chorus.Usage, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var all []chorus.Usage
		after := int64(0)
		for {
			var page struct {
				Data    []chorus.Usage `json:"data"`
				HasMore bool           `json:"has_more"`
				Next    *int64         `json:"next_after"`
			}
			path := fmt.Sprintf("/api/admin/usage?key_id=%d&limit=500&after=%d", k.ID, after)
			if err := g.admin(ctx, "GET", path, nil, http.StatusOK, &page); err != nil {
				return nil, err
			}
			all = append(all, page.Data...)
			if !page.HasMore || page.Next == nil {
				break
			}
			after = *page.Next
		}
		if len(all) >= want {
			return all, nil
		}
		if time.Now().After(deadline) {
			return all, fmt.Errorf("key %d has %d usage records after 30 s, want %d", k.ID, len(all), want)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
