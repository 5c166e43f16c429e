package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// call is what the client saw of one request.
type call struct {
	ID      string        // X-Request-Id we sent, to find the request's usage record
	Start   time.Time     // when it was sent
	Status  int           // 0 when the request failed before an answer
	Err     error         // transport error or an undecodable answer
	Latency time.Duration // from sending to the whole answer read
	Content string        // the answer's text
	Tier    int           // X-Chorus-Cascade-Tier (1-based), 0 when absent
	Deploy  string        // X-Chorus-Deployment
}

// OK reports whether the client got an answer.
func (c *call) OK() bool { return c.Err == nil && c.Status == http.StatusOK }

// drive sends n chat requests for model with k, at most conc at a time
// (a closed loop), and returns what the client saw of each, in order.
// prompt(i) is the user message of request i; id names the requests.
func (g *Gateway) drive(ctx context.Context, k key, model, id string, n, conc int, prompt func(i int) string) []call {
	out := make([]call, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(conc, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				out[i] = g.chat(ctx, k, model, id+"-"+strconv.Itoa(i), prompt(i))
			}
		}()
	}
	wg.Wait()
	return out
}

// chat sends one non-streamed chat completion with a plain HTTP client.
func (g *Gateway) chat(ctx context.Context, k key, model, id, prompt string) call {
	c := call{ID: id}
	body, _ := json.Marshal(map[string]any{
		"model":    model,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
	})
	req, err := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		c.Err = err
		return c
	}
	req.Header.Set("Authorization", "Bearer "+k.Secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	start := time.Now()
	c.Start = start
	resp, err := g.client.Do(req)
	if err != nil {
		c.Err = err
		c.Latency = time.Since(start)
		return c
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.Latency = time.Since(start)
	c.Status = resp.StatusCode
	if err != nil {
		c.Err = err
		return c
	}
	c.Tier, _ = strconv.Atoi(resp.Header.Get("X-Chorus-Cascade-Tier"))
	c.Deploy = resp.Header.Get("X-Chorus-Deployment")
	if c.Status != http.StatusOK {
		return c
	}
	var answer struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || len(answer.Choices) == 0 {
		c.Err = fmt.Errorf("answer %.200s: not a chat completion (%v)", b, err)
		return c
	}
	c.Content = answer.Choices[0].Message.Content
	return c
}

// Latencies are percentiles of client-visible latency.
type Latencies struct {
	P50, P95, P99, Max time.Duration
}

// latencies returns the percentiles of the calls' latency (nearest rank).
func latencies(calls []call) Latencies {
	xs := make([]time.Duration, len(calls))
	for i := range calls {
		xs[i] = calls[i].Latency
	}
	slices.Sort(xs)
	at := func(p float64) time.Duration {
		if len(xs) == 0 {
			return 0
		}
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return xs[max(i, 0)]
	}
	return Latencies{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: at(1)}
}

// failures counts the calls that got no answer, by status (0: transport).
func failures(calls []call) (n int, byStatus map[int]int) {
	byStatus = map[int]int{}
	for i := range calls {
		if !calls[i].OK() {
			n++
			byStatus[calls[i].Status]++
		}
	}
	return n, byStatus
}
