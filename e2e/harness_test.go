package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// gateway is one in-process Chorus for one test, driven through its admin
// JSON API with the master key.
type gateway struct {
	t *testing.T
	*apptest.Gateway
	client *http.Client // every client of this gateway (SDKs and raw) shares it
	names  atomic.Int64 // for unique names within the gateway
}

// startGateway runs a gateway for t; edit may change its config.
func startGateway(t *testing.T, edit func(*config.Config)) *gateway {
	t.Helper()
	g := &gateway{t: t, Gateway: apptest.Start(t, edit), client: newClient()}
	// Runs before the gateway's shutdown (cleanups run last-in first-out):
	// a connection the client opened but never used would otherwise hold
	// http.Server.Shutdown for 5 s.
	t.Cleanup(g.client.CloseIdleConnections)
	return g
}

// newClient returns a client with its own connection pool, bounded so a
// hung gateway fails a test instead of the whole run.
func newClient() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
}

// testContext returns a context that ends after d or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// httpClient is the client for raw requests to anything but a gateway.
var httpClient = &http.Client{Timeout: 15 * time.Second}

// response is a raw HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one raw request. body may be nil, []byte, string or a value to
// encode as JSON.
func (g *gateway) do(method, path, key string, body any, header ...string) response {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			g.t.Fatalf("encode %s %s body: %v", method, path, err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, g.URL+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := g.client
	if client == nil {
		client = httpClient
	}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// admin calls the admin API with the master key.
func (g *gateway) admin(method, path string, body any) response {
	g.t.Helper()
	return g.do(method, path, g.MasterKey, body)
}

// mustAdmin calls the admin API, fails the test unless the status is want,
// and decodes the answer into out (if not nil).
func (g *gateway) mustAdmin(method, path string, body any, want int, out any) {
	g.t.Helper()
	r := g.admin(method, path, body)
	if r.Status != want {
		g.t.Fatalf("%s %s = %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			g.t.Fatalf("%s %s: decode %s: %v", method, path, r.Body, err)
		}
	}
}

// apiError is the OpenAI error shape the gateway answers with.
type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// decodeError decodes an OpenAI-shaped error body, failing the test if the
// body is not one.
func decodeError(t *testing.T, r response) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("body %s is not an OpenAI error (%v)", r.Body, err)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return e
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// wantAPIError checks r is an OpenAI-shaped error with status and param.
func wantAPIError(t *testing.T, r response, status int, typ, param string) apiError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d (%s), want %d", r.Status, r.Body, status)
	}
	e := decodeError(t, r)
	if e.Error.Type != typ {
		t.Errorf("error type = %q, want %q (%s)", e.Error.Type, typ, r.Body)
	}
	if got := deref(e.Error.Param); got != param {
		t.Errorf("error param = %q, want %q (%s)", got, param, r.Body)
	}
	return e
}

// unique returns prefix followed by a number unique in this gateway.
func (g *gateway) unique(prefix string) string {
	return prefix + "-" + strconv.FormatInt(g.names.Add(1), 10)
}

// modelSpec is what POST /api/admin/models takes.
type modelSpec struct {
	Name          string `json:"name"`
	Kind          string `json:"kind,omitempty"`
	Description   string `json:"description,omitempty"`
	ContextWindow int    `json:"context_window,omitempty"`
	MaxOutput     int    `json:"max_output_tokens,omitempty"`
	OwnedBy       string `json:"owned_by,omitempty"`
	Enabled       *bool  `json:"enabled,omitempty"`
	// MaxTokensPolicy is "refuse" (the default) or "clamp".
	MaxTokensPolicy string `json:"max_tokens_policy,omitempty"`
}

// deploymentSpec is what POST /api/admin/deployments takes.
type deploymentSpec struct {
	ModelID       int64             `json:"model_id"`
	Name          string            `json:"name"`
	Provider      string            `json:"provider"`
	UpstreamModel string            `json:"upstream_model,omitempty"`
	BaseURL       string            `json:"base_url,omitempty"`
	CredentialID  *int64            `json:"credential_id,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Settings      map[string]any    `json:"settings,omitempty"`
	InputPrice    int64             `json:"input_price,omitempty"`
	OutputPrice   int64             `json:"output_price,omitempty"`
	// The optional prices; nil leaves them null.
	CachedInputPrice *int64 `json:"cached_input_price,omitempty"`
	CacheWritePrice  *int64 `json:"cache_write_price,omitempty"`
	ReasoningPrice   *int64 `json:"reasoning_price,omitempty"`
	Weight           *int   `json:"weight,omitempty"`
	Enabled          *bool  `json:"enabled,omitempty"`
}

func (g *gateway) createModel(m modelSpec) *chorus.Model {
	g.t.Helper()
	var out chorus.Model
	g.mustAdmin("POST", "/api/admin/models", m, http.StatusCreated, &out)
	if out.ID < 1 || out.Name != m.Name {
		g.t.Fatalf("created model = %+v, want an ID and name %q", out, m.Name)
	}
	return &out
}

func (g *gateway) createDeployment(d deploymentSpec) *chorus.Deployment {
	g.t.Helper()
	var out chorus.Deployment
	g.mustAdmin("POST", "/api/admin/deployments", d, http.StatusCreated, &out)
	if out.ID < 1 || out.Name != d.Name || out.ModelID != d.ModelID {
		g.t.Fatalf("created deployment = %+v, want an ID, name %q, model %d", out, d.Name, d.ModelID)
	}
	return &out
}

func (g *gateway) createCredential(name, provider, secret string) *chorus.Credential {
	g.t.Helper()
	var out chorus.Credential
	g.mustAdmin("POST", "/api/admin/credentials", map[string]string{"name": name, "provider": provider, "secret": secret}, http.StatusCreated, &out)
	if out.ID < 1 {
		g.t.Fatalf("created credential = %+v, want an ID", out)
	}
	return &out
}

// route is a model with one deployment, as most tests need.
type route struct {
	Model      *chorus.Model
	Deployment *chorus.Deployment
}

// simulated creates a chat model served by one simulator deployment with
// settings, priced at 1 and 2 credits per million input and output tokens.
func (g *gateway) simulated(name string, settings map[string]any) route {
	g.t.Helper()
	m := g.createModel(modelSpec{Name: name, MaxOutput: 1000})
	d := g.createDeployment(deploymentSpec{ModelID: m.ID, Name: name + "-sim", Provider: chorus.ProviderSimulator,
		Settings: settings, InputPrice: 1_000_000, OutputPrice: 2_000_000})
	return route{m, d}
}

// upstream creates a chat model served by one deployment of provider kind at
// baseURL, with a credential holding secret.
func (g *gateway) upstream(name, kind, baseURL, upstreamModel, secret string) route {
	g.t.Helper()
	c := g.createCredential(name+"-cred", kind, secret)
	m := g.createModel(modelSpec{Name: name, MaxOutput: 4096})
	d := g.createDeployment(deploymentSpec{ModelID: m.ID, Name: name + "-dep", Provider: kind, UpstreamModel: upstreamModel,
		BaseURL: baseURL, CredentialID: &c.ID, InputPrice: 3_000_000, OutputPrice: 15_000_000})
	return route{m, d}
}

// createUser adds a user directly in the store: the API has no route for
// users yet.
func (g *gateway) createUser(role string) *chorus.User {
	g.t.Helper()
	u := &chorus.User{Email: g.unique("user") + "@example.test", Name: "E2E user", Role: role}
	if err := g.App.DB.CreateUser(context.Background(), u); err != nil {
		g.t.Fatalf("create user: %v", err)
	}
	return u
}

// keySpec is what POST /api/admin/keys takes.
type keySpec struct {
	Name          string     `json:"name"`
	UserID        int64      `json:"user_id,omitempty"`
	AllowedModels []string   `json:"allowed_models,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
}

// createdKey is the answer to a key creation.
type createdKey struct {
	chorus.APIKey
	Key string `json:"key"`
}

func (g *gateway) createKey(k keySpec) createdKey {
	g.t.Helper()
	var out createdKey
	g.mustAdmin("POST", "/api/admin/keys", k, http.StatusCreated, &out)
	if out.ID < 1 || !strings.HasPrefix(out.Key, out.Prefix) || len(out.Key) < 32 {
		g.t.Fatalf("created key = %+v, want an ID and a secret starting with its prefix", out)
	}
	return out
}

// customer returns a new customer's key.
func (g *gateway) customer(allowed ...string) createdKey {
	g.t.Helper()
	u := g.createUser(chorus.RoleCustomer)
	return g.createKey(keySpec{Name: "e2e", UserID: u.ID, AllowedModels: allowed})
}

// openAI returns the official OpenAI client pointed at the gateway.
func (g *gateway) openAI(key string, opts ...option.RequestOption) *openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(g.URL + "/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(15 * time.Second),
		option.WithHTTPClient(g.client),
	}
	c := openai.NewClient(append(base, opts...)...)
	return &c
}

// anthropic returns the official Anthropic client pointed at the gateway.
func (g *gateway) anthropic(key string, opts ...anthropicoption.RequestOption) *anthropic.Client {
	base := []anthropicoption.RequestOption{
		anthropicoption.WithBaseURL(g.URL),
		anthropicoption.WithAPIKey(key),
		anthropicoption.WithMaxRetries(0),
		anthropicoption.WithRequestTimeout(15 * time.Second),
		anthropicoption.WithHTTPClient(g.client),
	}
	c := anthropic.NewClient(append(base, opts...)...)
	return &c
}

// usagePage is GET /api/admin/usage's answer.
type usagePage struct {
	Data    []chorus.Usage `json:"data"`
	HasMore bool           `json:"has_more"`
	Next    *int64         `json:"next_after"`
}

// listUsage returns every usage record of a key, walking all pages.
func (g *gateway) listUsage(keyID int64) []chorus.Usage {
	g.t.Helper()
	var all []chorus.Usage
	after := int64(0)
	for {
		var p usagePage
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/usage?key_id=%d&limit=100&after=%d", keyID, after), nil, http.StatusOK, &p)
		all = append(all, p.Data...)
		if !p.HasMore || p.Next == nil {
			return all
		}
		after = *p.Next
	}
}

// waitUsage polls until the key has n usage records (the writer flushes
// every 200 ms), then checks a little longer that no more arrive.
func (g *gateway) waitUsage(keyID int64, n int) []chorus.Usage {
	g.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		recs := g.listUsage(keyID)
		if len(recs) > n {
			g.t.Fatalf("key %d has %d usage records, want %d: %+v", keyID, len(recs), n, recs)
		}
		if len(recs) == n {
			time.Sleep(400 * time.Millisecond) // two flush intervals: nothing else may arrive
			if again := g.listUsage(keyID); len(again) != n {
				g.t.Fatalf("key %d has %d usage records after settling, want %d: %+v", keyID, len(again), n, again)
			}
			return recs
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("key %d has %d usage records after 3s, want %d: %+v", keyID, len(recs), n, recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closedURL returns an http URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return (&url.URL{Scheme: "http", Host: addr, Path: "/v1"}).String()
}
