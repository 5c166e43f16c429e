// Package gemini is the adapter for Google's Gemini generateContent API
// (v1beta): chat, streamed chat (server-sent events) and batch embeddings,
// translated to and from the canonical schema of package provider.
package gemini

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// DefaultBaseURL is the Gemini API endpoint used when the config names none.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// kind is the adapter kind reported in every *provider.Error.
const kind = chorus.ProviderGemini

// maxResponseBody bounds a non-streamed upstream body.
const maxResponseBody = 64 << 20

// Client talks to one Gemini deployment. It is safe for concurrent use.
type Client struct {
	baseURL string
	apiKey  string
	headers map[string]string
	hc      *http.Client
	now     func() time.Time
}

var (
	_ provider.Provider = (*Client)(nil)
	_ provider.Embedder = (*Client)(nil)
)

// New returns a client for cfg. An empty BaseURL means DefaultBaseURL; a nil
// HTTPClient means a client of the adapter's own (provider.Config.Client).
func New(cfg provider.Config) (*Client, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gemini: invalid base URL %q", cfg.BaseURL)
	}
	hc := cfg.Client()
	headers := make(map[string]string, len(cfg.Headers))
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	return &Client{baseURL: base, apiKey: cfg.APIKey, headers: headers, hc: hc, now: time.Now}, nil
}

// endpoint returns the URL of method on model. A bare model ID is a
// "models/{id}" resource; a name with a slash (e.g. "tunedModels/x") is used
// as the resource name it already is.
func (c *Client) endpoint(model, method string) string {
	return c.baseURL + "/" + resourceName(model) + ":" + method
}

// resourceName returns the escaped resource name of model.
func resourceName(model string) string {
	if !strings.Contains(model, "/") {
		return "models/" + url.PathEscape(model)
	}
	segs := strings.Split(model, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// post sends body to target and returns the response when its status is
// 2xx. Any other status is turned into a *provider.Error here, and a
// transport failure into provider.TransportError.
func (c *Client) post(ctx context.Context, target string, body []byte, stream bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gemini: new request: %w", err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("x-goog-api-key", c.apiKey)
	}
	provider.InjectTrace(ctx, req)
	resp, err := provider.Do(c.hc, req)
	if err != nil {
		return nil, provider.TransportError(kind, ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		if e := provider.RedirectError(kind, resp); e != nil {
			return nil, e
		}
		return nil, responseError(ctx, resp)
	}
	return resp, nil
}

// readBody reads a whole non-streamed body, bounded by maxResponseBody.
func readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, provider.TransportError(kind, ctx, err)
	}
	if len(b) > maxResponseBody {
		return nil, invalidResponse(fmt.Errorf("body larger than %d bytes", maxResponseBody))
	}
	return b, nil
}
