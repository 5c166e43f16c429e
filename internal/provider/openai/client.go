// Package openai speaks the OpenAI Chat Completions and Embeddings wire
// format in both directions: Client is the upstream adapter for OpenAI and
// every OpenAI-compatible server (vLLM, Ollama, Groq, …) and for Azure
// OpenAI; DecodeChatRequest, DecodeEmbeddingRequest and the Append*
// functions are what the API server uses to read OpenAI clients' requests
// and write their answers.
package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// DefaultBaseURL is where Client sends requests when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultAzureAPIVersion is the api-version used for Azure unless the
// "api_version" setting says otherwise.
const DefaultAzureAPIVersion = "2024-10-21"

// maxResponseBody bounds what Client reads from an upstream answer (a large
// float embeddings answer is tens of megabytes); maxErrorBody bounds an error.
const (
	maxResponseBody = 256 << 20
	maxErrorBody    = 64 << 10
)

// Client is a provider.Provider and provider.Embedder for one
// OpenAI-compatible upstream. It is safe for concurrent use.
type Client struct {
	kind       string      // chorus.ProviderOpenAI or chorus.ProviderAzure
	base       string      // without a trailing slash
	apiVersion string      // Azure only
	header     http.Header // every request's headers; shared by all requests, never modified after New
	sseHeader  http.Header // header and Accept: text/event-stream, for streams
	http       *http.Client
	chatURL    string // non-Azure
	embedURL   string // non-Azure
	// responsesURL is set when settings.api is "responses": Responses
	// requests go there (see usesResponses).
	responsesURL string
	// maxTokensParam is the member canonical MaxTokens is written as:
	// OpenAI's reasoning models accept only max_completion_tokens, while
	// many compatible servers know only max_tokens.
	maxTokensParam string
}

var (
	_ provider.Provider = (*Client)(nil)
	_ provider.Embedder = (*Client)(nil)
)

// New returns a Client for cfg. cfg.Kind is "openai" (the default) or
// "azure"; Azure needs a BaseURL (https://{resource}.openai.azure.com) and
// takes settings["api_version"]. settings["max_tokens_param"] may be
// "max_tokens" or "max_completion_tokens" to override how translated requests
// name their output limit (default: max_completion_tokens for OpenAI itself
// and Azure, max_tokens for other servers). settings["api"] may be "chat"
// (the default) or "responses" (OpenAI only): then requests from Responses
// clients are forwarded to {base}/responses.
func New(cfg provider.Config) (*Client, error) {
	c := &Client{kind: cfg.Kind, http: cfg.HTTPClient}
	if c.kind == "" {
		c.kind = chorus.ProviderOpenAI
	}
	if c.kind != chorus.ProviderOpenAI && c.kind != chorus.ProviderAzure {
		return nil, fmt.Errorf("openai: unsupported provider kind %q", c.kind)
	}
	c.base = strings.TrimRight(cfg.BaseURL, "/")
	if c.base == "" {
		if c.kind == chorus.ProviderAzure {
			return nil, fmt.Errorf("openai: azure needs a base URL")
		}
		c.base = DefaultBaseURL
	}
	if u, err := url.Parse(c.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: invalid base URL %q", cfg.BaseURL)
	}
	c.maxTokensParam = "max_tokens"
	if c.kind == chorus.ProviderAzure || c.base == DefaultBaseURL {
		c.maxTokensParam = "max_completion_tokens"
	}
	if err := c.applySettings(cfg.Settings); err != nil {
		return nil, err
	}
	c.header = make(http.Header, 3+len(cfg.Headers))
	c.header.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		if c.kind == chorus.ProviderAzure {
			c.header.Set("Api-Key", cfg.APIKey)
		} else {
			c.header.Set("Authorization", "Bearer "+cfg.APIKey)
		}
	}
	for k, v := range cfg.Headers {
		c.header.Set(k, v)
	}
	c.sseHeader = c.header.Clone()
	c.sseHeader["Accept"] = []string{"text/event-stream"}
	if c.kind != chorus.ProviderAzure {
		c.chatURL = c.base + "/chat/completions"
		c.embedURL = c.base + "/embeddings"
	}
	if api, _ := cfg.Settings["api"].(string); api == APIResponses {
		c.responsesURL = c.base + "/responses"
	}
	c.http = cfg.Client()
	return c, nil
}

func (c *Client) applySettings(s map[string]any) error {
	c.apiVersion = DefaultAzureAPIVersion
	if v, ok := s["api_version"]; ok {
		str, ok := v.(string)
		if !ok || str == "" {
			return fmt.Errorf("openai: setting api_version must be a non-empty string")
		}
		c.apiVersion = str
	}
	if v, ok := s["api"]; ok {
		str, _ := v.(string)
		if str != "chat" && str != APIResponses {
			return fmt.Errorf("openai: setting api must be chat or responses")
		}
		if str == APIResponses && c.kind != chorus.ProviderOpenAI {
			return fmt.Errorf("openai: setting api responses is supported for kind openai only")
		}
	}
	if v, ok := s["max_tokens_param"]; ok {
		str, _ := v.(string)
		if str != "max_tokens" && str != "max_completion_tokens" {
			return fmt.Errorf("openai: setting max_tokens_param must be max_tokens or max_completion_tokens")
		}
		c.maxTokensParam = str
	}
	return nil
}

// endpoint returns the URL of an operation ("chat/completions" or
// "embeddings") for model.
func (c *Client) endpoint(op, model string) string {
	if c.kind != chorus.ProviderAzure {
		if op == "embeddings" {
			return c.embedURL
		}
		return c.chatURL
	}
	return c.base + "/openai/deployments/" + url.PathEscape(model) + "/" + op + "?api-version=" + url.QueryEscape(c.apiVersion)
}

// post sends body and returns the response of a 2xx answer. Any other
// status is read and returned as a *provider.Error.
func (c *Client) post(ctx context.Context, url string, body []byte, stream bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai: new request: %w", err)
	}
	// The transport only reads a request's headers, so every request can
	// share the client's (no copy per call).
	req.Header = c.header
	if stream {
		req.Header = c.sseHeader
	}
	provider.InjectTrace(ctx, req)
	resp, err := provider.Do(c.http, req)
	if err != nil {
		return nil, provider.TransportError(c.kind, ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		if e := provider.RedirectError(c.kind, resp); e != nil {
			return nil, e
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, c.statusError(resp, b)
	}
	return resp, nil
}

// readBody reads a whole answer, sized by Content-Length when it is known.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxResponseBody {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err == nil && len(b) > maxResponseBody {
		err = fmt.Errorf("answer larger than %d bytes", maxResponseBody)
	}
	return b, err
}

// badAnswer reports a 2xx answer that could not be understood. It has no
// status so that it counts as retryable, like a broken connection.
func (c *Client) badAnswer(err error) *provider.Error {
	return &provider.Error{Provider: c.kind, Type: "invalid_response", Message: "upstream sent an answer that could not be parsed", Err: err}
}
