package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/sim"
)

// client talks to the in-process gateway as a customer (chat, feedback) and
// as its operator (admin API).
type client struct {
	g *sim.Gateway
}

// answer is what the client got for one question.
type answer struct {
	ResponseID string
	Text       string
	Model      string // the dataset column of the answering model, when the response names it
	key        string // the key that asked
}

// chat asks model (a model or route) one question with key.
func (c *client) chat(ctx context.Context, key, model, prompt string) (answer, error) {
	body := map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": prompt}}}
	var out struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := c.post(ctx, key, "/v1/chat/completions", body, &out); err != nil {
		return answer{}, err
	}
	if len(out.Choices) == 0 {
		return answer{}, fmt.Errorf("chat %s: no choices", model)
	}
	a := answer{ResponseID: out.ID, Text: out.Choices[0].Message.Content, key: key}
	if out.Model == cheapColumn || out.Model == strongColumn {
		a.Model = out.Model
	}
	return a, nil
}

// feedback rates an answer as its user would: up when it was right.
func (c *client) feedback(ctx context.Context, key, responseID string, good bool) error {
	rating := "down"
	if good {
		rating = "up"
	}
	// The gateway finds the answer by its usage record, which the usage
	// writer stores in batches: under load that may take longer than the
	// gateway waits (1 s), and the answer is then 404 for a moment. A user
	// would try again; so does the benchmark, a few times.
	var err error
	for try := 0; try < 10; try++ {
		err = c.post(ctx, key, "/v1/feedback", map[string]any{"response_id": responseID, "rating": rating}, nil)
		if err == nil || !strings.Contains(err.Error(), "= 404 ") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

func (c *client) post(ctx context.Context, key, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.g.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.g.Client().Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s = %d %s", path, resp.StatusCode, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// replayModel creates a chat model served by one replay deployment that
// answers as column (a dataset model) from file, at prices in
// micro-credits per million tokens.
func (c *client) replayModel(ctx context.Context, name, file, column string, in, out int64, latencyMS float64) error {
	var m chorus.Model
	if err := c.g.Admin(ctx, "POST", "/api/admin/models", map[string]any{"name": name, "max_output_tokens": 4096}, http.StatusCreated, &m); err != nil {
		return err
	}
	d := map[string]any{
		"model_id": m.ID, "name": name + "-replay", "provider": chorus.ProviderReplay, "upstream_model": column,
		"settings":    map[string]any{"file": file, "model": column, "latency_ms": latencyMS},
		"input_price": in, "output_price": out,
	}
	return c.g.Admin(ctx, "POST", "/api/admin/deployments", d, http.StatusCreated, nil)
}

// route creates (or, with id > 0, replaces) a cascade route and returns
// its ID.
func (c *client) route(ctx context.Context, id int64, name string, models []string, cfg map[string]any) (int64, error) {
	targets := make([]map[string]any, len(models))
	for i, m := range models {
		targets[i] = map[string]any{"model": m}
	}
	body := map[string]any{"name": name, "strategy": chorus.StrategyCascade, "targets": targets, "config": cfg}
	var rt chorus.Route
	if id > 0 {
		return id, c.g.Admin(ctx, "PUT", fmt.Sprintf("/api/admin/routes/%d", id), body, http.StatusOK, &rt)
	}
	err := c.g.Admin(ctx, "POST", "/api/admin/routes", body, http.StatusCreated, &rt)
	return rt.ID, err
}

// outcome is one question's answer on one arm: which model gave it, what
// the request cost, whether it was right.
type outcome struct {
	Model string
	Cost  int64
	Right bool
}

// run asks every question of model with a fresh key, concurrency at a
// time, and reads back each request's usage record: the answering model
// and the cost of every upstream call it made. Right is the recorded
// outcome of the answering model. When each is not nil it is called with
// every answer as it comes (training posts feedback there).
func (c *client) run(ctx context.Context, name, model string, qs []question, concurrency int, column func(string) string,
	each func(q question, a answer) error) ([]outcome, error) {
	keyID, key, err := c.g.NewKey(ctx, name)
	if err != nil {
		return nil, err
	}
	answers := make([]answer, len(qs))
	errs := make(chan error, concurrency)
	next := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				a, err := c.chat(ctx, key, model, qs[i].Prompt)
				if err == nil && each != nil {
					err = each(qs[i], a)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("%s: question %d: %w", name, i, err):
					default:
					}
					continue
				}
				answers[i] = a
			}
		})
	}
feed:
	for i := range qs {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			return nil, err
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recs, err := c.g.Usage(ctx, keyID, len(qs))
	if err != nil {
		return nil, err
	}
	byID := make(map[string]chorus.Usage, len(recs))
	for _, u := range recs {
		byID[u.ResponseID] = u
	}
	out := make([]outcome, len(qs))
	for i, a := range answers {
		u, ok := byID[a.ResponseID]
		if !ok {
			return nil, fmt.Errorf("%s: no usage record for answer %s", name, a.ResponseID)
		}
		col := column(u.Model)
		out[i] = outcome{Model: u.Model, Cost: u.Cost, Right: qs[i].Right[col]}
	}
	return out, nil
}

// answeredBy says which model's recorded answer text a reply is (cheap
// when both models recorded the same text, or when neither matches).
func answeredBy(q question, text string, cheap, strong string) string {
	t := strings.TrimSpace(text)
	if q.Answer[strong] != "" && t == q.Answer[strong] && t != q.Answer[cheap] {
		return strong
	}
	return cheap
}
