package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create the fresh database

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
)

// admin calls Chorus's admin JSON API with the master key.
type admin struct {
	base, key string
	c         *http.Client
}

func (a admin) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// Names the benchmark creates in Chorus.
const (
	benchModel      = "bench-model"
	benchDeployment = "bench-mock"
	upstreamModel   = "mock-model"
	// Prices in micro-credits per million tokens, so cost accounting runs.
	inputPrice, outputPrice = 150_000, 600_000
)

// list is the admin API's page envelope.
type list[T any] struct {
	Data    []T    `json:"data"`
	HasMore bool   `json:"has_more"`
	Next    *int64 `json:"next_after"`
}

// benchGrant is the benchmark customer's credit: 10 million credits, in
// micro-credits (a request costs a few hundred micro-credits).
const benchGrant = 10_000_000 * chorus.MicroPerCredit

// provision creates the model, a credential, an "openai" deployment pointing
// at the mock, a customer with credits, and their API key; it returns the
// key's secret and ID.
func provision(ctx context.Context, a admin, mockBase string) (secret string, keyID, teamID int64, err error) {
	// A paying customer owns the benchmark key, so every request is
	// reserved and settled against a wallet (billing.mode, default fast):
	// the benchmark runs with every feature on. The grant covers any run.
	var user struct {
		ID     int64 `json:"id"`
		TeamID int64 `json:"team_id"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/admin/users", map[string]any{
		"email": "bench-customer@example.test", "name": "Benchmark customer", "role": "customer",
		"password": "correct horse battery staple bench",
	}, &user); err != nil {
		return "", 0, 0, err
	}
	userID := user.ID
	if err := a.do(ctx, http.MethodPost, "/api/admin/credits/grant", map[string]any{
		"team_id": user.TeamID, "amount": benchGrant, "memo": "benchmark", "idempotency_key": "bench-grant",
	}, nil); err != nil {
		return "", 0, 0, err
	}

	var model struct {
		ID int64 `json:"id"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/admin/models", map[string]any{
		"name": benchModel, "kind": "chat", "description": "benchmark: the instant mock upstream",
		"context_window": 128000, "max_output_tokens": 4096,
	}, &model); err != nil {
		return "", 0, 0, err
	}
	var cred struct {
		ID int64 `json:"id"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/admin/credentials", map[string]any{ // #nosec G101 -- the benchmark's mock upstream key, accepted only by its local mock
		"name": "bench-mock-key", "provider": "openai", "secret": "sk-mock-upstream-0123456789",
	}, &cred); err != nil {
		return "", 0, 0, err
	}
	if err := a.do(ctx, http.MethodPost, "/api/admin/deployments", map[string]any{
		"model_id": model.ID, "name": benchDeployment, "provider": "openai", "upstream_model": upstreamModel,
		"base_url": mockBase, "credential_id": cred.ID, "input_price": inputPrice, "output_price": outputPrice,
		"settings": map[string]any{"allow_private_network": true}, // the mock listens on loopback
	}, nil); err != nil {
		return "", 0, 0, err
	}
	var key struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	if err := a.do(ctx, http.MethodPost, "/api/admin/keys", map[string]any{
		"name": "bench", "user_id": userID, "allowed_models": []string{benchModel},
	}, &key); err != nil {
		return "", 0, 0, err
	}
	return key.Key, key.ID, user.TeamID, nil
}

// usageCount is what the usage log holds for the benchmark key.
type usageCount struct {
	Total, OK, OKStream int64
	WrongTokens         int64 // 200 records whose tokens differ from the mock's usage
	WrongCost           int64
	Statuses            map[int]int64
}

// countUsage pages through GET /api/admin/usage for the key to the end.
func countUsage(ctx context.Context, a admin, keyID int64) (usageCount, error) {
	uc := usageCount{Statuses: map[int]int64{}}
	wantCost := chorus.RequestCost(mockupstream.PromptTokens, mockupstream.CompletionTokens, inputPrice, outputPrice)
	after := int64(0)
	for {
		var page list[struct {
			ID           int64 `json:"id"`
			Stream       bool  `json:"stream"`
			Status       int   `json:"status"`
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
			Cost         int64 `json:"cost"`
		}]
		q := url.Values{"key_id": {strconv.FormatInt(keyID, 10)}, "limit": {"500"}, "after": {strconv.FormatInt(after, 10)}}
		if err := a.do(ctx, http.MethodGet, "/api/admin/usage?"+q.Encode(), nil, &page); err != nil {
			return uc, err
		}
		for _, u := range page.Data {
			uc.Total++
			uc.Statuses[u.Status]++
			if u.Status != http.StatusOK {
				continue
			}
			uc.OK++
			if u.Stream {
				uc.OKStream++
			}
			if u.InputTokens != mockupstream.PromptTokens || u.OutputTokens != mockupstream.CompletionTokens {
				uc.WrongTokens++
			}
			if u.Cost != wantCost {
				uc.WrongCost++
			}
			after = u.ID
		}
		if len(page.Data) == 0 || !page.HasMore {
			return uc, nil
		}
		if page.Next != nil {
			after = *page.Next
		}
	}
}

// freshPostgres creates an empty database next to the one base names and
// returns its URL and a function that drops it.
func freshPostgres(ctx context.Context, base string, keep bool) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres url: %w", err)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("chorus_bench_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	fresh := *u
	fresh.Path = "/" + name
	drop := func() {
		defer db.Close()
		if keep {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Printf("warning: could not drop database %s: %v\n", name, err)
		}
	}
	return fresh.String(), drop, nil
}

// charged returns the credits the team's wallet has paid: the grant minus
// what is left.
func charged(ctx context.Context, a admin, teamID int64) (int64, error) {
	var b struct {
		Balance int64 `json:"balance"`
	}
	if err := a.do(ctx, http.MethodGet, fmt.Sprintf("/api/admin/teams/%d/balance", teamID), nil, &b); err != nil {
		return 0, err
	}
	return benchGrant - b.Balance, nil
}
