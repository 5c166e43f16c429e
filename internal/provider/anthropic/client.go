// Package anthropic speaks Anthropic's Messages API in both directions.
//
// Upstream, Client is a provider.Provider that calls POST {base}/v1/messages:
// a request whose raw body is already in the Anthropic format is forwarded
// as received with only "model" rewritten; any other request is translated
// from the canonical schema. Answers, streamed or not, come back canonical,
// with the upstream bytes kept in Raw so a same-format client gets them
// unchanged.
//
// Client side, DecodeRequest turns a client's POST /v1/messages body into a
// canonical request, and AppendResponse, StreamEncoder, AppendError and
// ErrorType write canonical answers and errors (from any provider) the way
// Anthropic's API and SDKs expect them.
package anthropic

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
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Defaults of a Client.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultVersion   = "2023-06-01" // the anthropic-version header
	DefaultMaxTokens = 4096         // max_tokens when the request has none; Anthropic requires one
)

// maxResponseBody bounds a non-streaming answer or an error body.
const maxResponseBody = 32 << 20

// Client calls one Anthropic Messages API upstream. It holds no state
// between calls and is safe for concurrent use.
type Client struct {
	url       string      // {base}/v1/messages
	header    http.Header // headers of every request, content-type included
	maxTokens int         // default max_tokens
	hc        *http.Client
}

var (
	_ provider.Provider     = (*Client)(nil)
	_ provider.TokenCounter = (*Client)(nil)
)

// New returns a Client for cfg. cfg.BaseURL defaults to DefaultBaseURL and
// may end in /v1. Settings: "version" (the anthropic-version header,
// default DefaultVersion) and "default_max_tokens" (default
// DefaultMaxTokens). cfg.Headers are added to every request and may
// override the defaults (e.g. anthropic-beta). A nil cfg.HTTPClient means
// a client of the adapter's own (provider.Config.Client).
func New(cfg provider.Config) (*Client, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimSuffix(base, "/v1")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("anthropic: base URL %q is not http(s)", cfg.BaseURL)
	}
	version, err := stringSetting(cfg.Settings, "version", DefaultVersion)
	if err != nil {
		return nil, err
	}
	maxTokens, err := intSetting(cfg.Settings, "default_max_tokens", DefaultMaxTokens)
	if err != nil {
		return nil, err
	}
	if maxTokens < 1 {
		return nil, fmt.Errorf("anthropic: setting default_max_tokens must be at least 1, got %d", maxTokens)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Anthropic-Version", version)
	if cfg.APIKey != "" {
		h.Set("X-Api-Key", cfg.APIKey)
	}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	return &Client{url: base + "/v1/messages", header: h, maxTokens: maxTokens, hc: cfg.Client()}, nil
}

// Chat sends a non-streaming request and returns the canonical answer, with
// the upstream body in Raw.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	body, err := c.requestBody(req, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, c.url, req, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, provider.TransportError(chorus.ProviderAnthropic, ctx, fmt.Errorf("read response: %w", err))
	}
	if len(raw) > maxResponseBody {
		return nil, &provider.Error{Provider: chorus.ProviderAnthropic, Status: resp.StatusCode,
			Message: fmt.Sprintf("upstream response larger than %d bytes", maxResponseBody)}
	}
	return parseResponse(raw, resp.StatusCode)
}

// ChatStream sends a streaming request. An HTTP error status is returned
// here, before any chunk; an error event mid-stream ends the stream with a
// *provider.Error.
func (c *Client) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := c.requestBody(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, c.url, req, body, true)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// Not a stream: a proxy's error body sent with 200, or an upstream
		// that ignored "stream". Either way there is nothing to relay.
		defer resp.Body.Close()
		e := httpError(resp)
		if e.Type == "" {
			e.Message = "upstream answered a streaming request with a JSON body"
		}
		return nil, e
	}
	return newStream(ctx, resp.Body), nil
}

// countMembers are the members of a Messages request that
// /v1/messages/count_tokens refuses, being about generation, not the prompt.
var countMembers = []string{"max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata", "service_tier", "container", "inference_geo"}

// CountTokens asks the upstream's POST /v1/messages/count_tokens how many
// input tokens req's prompt is (system prompt, tools and messages). An
// Anthropic client's body is sent as received, model rewritten; any other
// request is translated. Members about generation are removed, as the
// endpoint takes the prompt only.
func (c *Client) CountTokens(ctx context.Context, req *provider.ChatRequest) (int, error) {
	var body []byte
	var err error
	if req.RawFormat == provider.FormatAnthropic && req.Raw != nil {
		body, err = jsonscan.SetField(req.Raw, "model", jsonscan.AppendString(nil, req.Model))
	} else {
		body, err = appendRequest(nil, req, false, c.maxTokens)
	}
	for _, k := range countMembers {
		if err == nil {
			body, err = jsonscan.DeleteField(body, k)
		}
	}
	if err != nil {
		return 0, err
	}
	resp, err := c.send(ctx, c.url+"/count_tokens", req, body, false)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, provider.TransportError(chorus.ProviderAnthropic, ctx, fmt.Errorf("read response: %w", err))
	}
	var out struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.InputTokens == nil {
		return 0, &provider.Error{Provider: chorus.ProviderAnthropic, Status: resp.StatusCode,
			Message: "upstream answered count_tokens without input_tokens", Err: err}
	}
	return *out.InputTokens, nil
}

// requestBody returns the upstream body for req: its raw Anthropic body with
// the model (and, when it disagrees with the call, the stream flag)
// rewritten, or a translation of the canonical fields.
func (c *Client) requestBody(req *provider.ChatRequest, stream bool) ([]byte, error) {
	if req.RawFormat == provider.FormatAnthropic && req.Raw != nil {
		return passthroughBody(req.Raw, req.Model, stream)
	}
	return appendRequest(nil, req, stream, c.maxTokens)
}

// passthroughBody rewrites model in raw, and stream when the body's flag
// does not say what the call does (a client body without "stream" sent down
// a streaming call). Every other byte is kept; raw is not modified.
func passthroughBody(raw []byte, model string, stream bool) ([]byte, error) {
	body, err := jsonscan.SetField(raw, "model", jsonscan.AppendString(nil, model))
	if err != nil {
		return nil, chorus.Invalid("", "request body is not a JSON object")
	}
	v, ok, err := jsonscan.GetField(body, "stream")
	if err != nil {
		return nil, chorus.Invalid("", "request body is not a JSON object")
	}
	if has := ok && string(v) == "true"; has != stream {
		body, err = jsonscan.SetField(body, "stream", strconv.AppendBool(nil, stream))
		if err != nil {
			return nil, chorus.Invalid("", "request body is not a JSON object")
		}
	}
	return body, nil
}

// send posts body to url for req and returns a 2xx response; any other
// status is read and returned as a *provider.Error.
func (c *Client) send(ctx context.Context, url string, req *provider.ChatRequest, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("anthropic: new request: %w", err)
	}
	hreq.Header = c.header.Clone()
	clientHeaders(hreq.Header, req)
	if stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	provider.InjectTrace(ctx, hreq)
	resp, err := provider.Do(c.hc, hreq)
	if err != nil {
		return nil, provider.TransportError(chorus.ProviderAnthropic, ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		if e := provider.RedirectError(chorus.ProviderAnthropic, resp); e != nil {
			return nil, e
		}
		return nil, httpError(resp)
	}
	return resp, nil
}

// clientHeaders adds an Anthropic client's anthropic-version and
// anthropic-beta (req.UpstreamHeaders) to h: the client's version replaces
// the deployment's, since the body was written for it; its beta flags join
// the deployment's own.
func clientHeaders(h http.Header, req *provider.ChatRequest) {
	if req.RawFormat != provider.FormatAnthropic {
		return
	}
	if v := req.UpstreamHeaders["anthropic-version"]; v != "" {
		h.Set("Anthropic-Version", v)
	}
	if v := req.UpstreamHeaders["anthropic-beta"]; v != "" {
		h.Set("Anthropic-Beta", mergeFlags(h.Get("Anthropic-Beta"), v))
	}
}

// mergeFlags joins two comma-separated lists of beta flags, each flag once,
// in order.
func mergeFlags(a, b string) string {
	var flags []string
	for _, f := range strings.Split(a+","+b, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
	}
	return strings.Join(flags, ",")
}

func stringSetting(settings map[string]any, key, def string) (string, error) {
	v, ok := settings[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("anthropic: setting %s must be a string, got %T", key, v)
	}
	if s == "" {
		return def, nil
	}
	return s, nil
}

func intSetting(settings map[string]any, key string, def int) (int, error) {
	v, ok := settings[key]
	if !ok || v == nil {
		return def, nil
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n), nil
		}
	case float64:
		if n == math.Trunc(n) && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n), nil
		}
	case json.Number:
		if i, err := strconv.Atoi(string(n)); err == nil {
			return i, nil
		}
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("anthropic: setting %s must be an integer, got %v", key, v)
}
