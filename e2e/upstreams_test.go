package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// TestUpstreamBaseURLs: the admin API refuses base URLs Chorus never
// connects to, in any spelling, and headers that would inject, frame or
// carry a secret; loopback and private addresses need an opt-in.
func TestUpstreamBaseURLs(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Upstreams.AllowPrivateNetworks = false })
	m := g.createModel(modelSpec{Name: "up-model"})
	base := func(edit func(map[string]any)) map[string]any {
		b := map[string]any{"model_id": m.ID, "name": "up-dep", "provider": "openai", "upstream_model": "gpt-x"}
		edit(b)
		return b
	}
	url := func(u string) map[string]any { return base(func(b map[string]any) { b["base_url"] = u }) }
	headers := func(h map[string]string) map[string]any { return base(func(b map[string]any) { b["headers"] = h }) }
	cases := []invalidCase{
		{"UserInfo", url("https://user:pass@api.openai.com/v1"), "base_url", "user information"},
		{"HostAtHost", url("https://api.openai.com@169.254.169.254/v1"), "base_url", "user information"},
		{"Metadata", url("http://169.254.169.254/latest/meta-data/"), "base_url", "never connects"},
		{"MetadataDecimal", url("http://2852039166/"), "base_url", "never connects"},
		{"MetadataHex", url("http://0xa9fea9fe/"), "base_url", "never connects"},
		{"MetadataOctal", url("http://0251.0376.0251.0376/"), "base_url", "never connects"},
		{"MetadataShort", url("http://169.254.43518/"), "base_url", "never connects"},
		{"MetadataMapped", url("http://[::ffff:169.254.169.254]/"), "base_url", "never connects"},
		{"MetadataMappedHex", url("http://[::ffff:a9fe:a9fe]/"), "base_url", "never connects"},
		{"MetadataAWSV6", url("http://[fd00:ec2::254]/"), "base_url", "never connects"},
		{"MetadataGCP", url("http://metadata.google.internal/computeMetadata/v1/"), "base_url", "metadata service"},
		{"LinkLocalV6", url("http://[fe80::1]:8000/"), "base_url", "never connects"},
		{"Unspecified", url("http://0.0.0.0:11434/v1"), "base_url", "never connects"},
		{"Multicast", url("http://224.0.0.251/"), "base_url", "never connects"},
		{"Loopback", url("http://127.0.0.1:11434/v1"), "base_url", "allow_private_network"},
		{"Localhost", url("http://localhost:11434/v1"), "base_url", "allow_private_network"},
		{"Private", url("http://10.1.2.3:8000/v1"), "base_url", "allow_private_network"},
		{"HeaderCRLF", headers(map[string]string{"X-Team": "a\r\nX-Injected: 1"}), "headers", "control characters"},
		{"HeaderHost", headers(map[string]string{"Host": "evil.example"}), "headers", "Host"},
		{"HeaderTransferEncoding", headers(map[string]string{"Transfer-Encoding": "chunked"}), "headers", "Transfer-Encoding"},
		{"HeaderAuthorization", headers(map[string]string{"Authorization": "Bearer sk-x"}), "headers", "credential"},
		{"SettingNotBool", base(func(b map[string]any) { b["settings"] = map[string]any{"allow_private_network": "yes"} }), "settings", ""},
	}
	runInvalid(t, g, "POST", "/api/admin/deployments", cases)

	fake := openaitest.New(t)
	ok := g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "up-ok", Provider: "openai", UpstreamModel: "gpt-x",
		BaseURL: "https://api.openai.com/v1"})
	t.Run("Update", func(t *testing.T) {
		runInvalid(t, g, "PUT", fmt.Sprintf("/api/admin/deployments/%d", ok.ID), []invalidCase{
			{"Metadata", url("http://[::ffff:a9fe:a9fe]/"), "base_url", "never connects"},
			{"Loopback", url(fake.URL()), "base_url", "allow_private_network"},
		})
	})
	t.Run("LoopbackWithOptIn", func(t *testing.T) {
		key := g.customer()
		m := g.createModel(modelSpec{Name: "up-local"})
		g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "up-local-dep", Provider: "openai", UpstreamModel: "gpt-x",
			BaseURL: fake.URL(), Settings: map[string]any{"allow_private_network": true}})
		r := g.do("POST", "/v1/chat/completions", key.Key, map[string]any{"model": "up-local",
			"messages": []map[string]string{{"role": "user", "content": "hi"}}})
		if r.Status != http.StatusOK || fake.Requests() != 1 {
			t.Fatalf("chat through an opted-in loopback deployment = %d %s, %d upstream requests", r.Status, r.Body, fake.Requests())
		}
	})
}

// TestUpstreamDialGuard: a deployment whose address passed the save-time
// check (written straight to the store here, as a name resolving to
// loopback would pass) is still refused when Chorus dials it.
func TestUpstreamDialGuard(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Upstreams.AllowPrivateNetworks = false })
	fake := openaitest.New(t)
	m := g.createModel(modelSpec{Name: "guarded"})
	d := &chorus.Deployment{ModelID: m.ID, Name: "guarded-dep", Provider: chorus.ProviderOpenAI, UpstreamModel: "gpt-x",
		BaseURL: strings.Replace(fake.URL(), "127.0.0.1", "localhost", 1), Weight: 1, Enabled: true}
	if err := g.App.DB.CreateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := g.App.Registry.Refresh(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	key := g.customer()
	r := g.do("POST", "/v1/chat/completions", key.Key, map[string]any{"model": "guarded",
		"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	if r.Status < 500 || fake.Requests() != 0 {
		t.Fatalf("chat = %d %s after %d upstream requests, want a 5xx and none", r.Status, r.Body, fake.Requests())
	}
}

// TestUpstreamRedirect: an upstream's redirect is not followed, so the
// provider key never reaches the redirect's target; the client gets a 502
// that says so.
func TestUpstreamRedirect(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusPermanentRedirect)
	}))
	defer redirect.Close()
	for _, kind := range []string{chorus.ProviderOpenAI, chorus.ProviderAnthropic, chorus.ProviderGemini} {
		t.Run(kind, func(t *testing.T) {
			g.upstream("redir-"+kind, kind, redirect.URL, "m", "sk-secret-"+kind)
			r := g.do("POST", "/v1/chat/completions", g.customer().Key, map[string]any{"model": "redir-" + kind,
				"messages": []map[string]string{{"role": "user", "content": "hi"}}})
			e := wantAPIError(t, r, http.StatusBadGateway, "upstream_error", "")
			if !strings.Contains(e.Error.Message, "redirect") || reached.Load() != 0 {
				t.Fatalf("message %q, %d requests reached the redirect target", e.Error.Message, reached.Load())
			}
		})
	}
}

// TestDeploymentStepUp: changing where a deployment's requests (and its
// credential) go needs a recent step-up from a session; API keys pass.
func TestDeploymentStepUp(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	fake := openaitest.New(t)
	rt := g.upstream("stepup", chorus.ProviderOpenAI, fake.URL(), "gpt-x", "sk-stepup-secret")
	const password = "correct horse battery staple"
	admin := g.mfaUser(chorus.RoleAdmin, password)
	path := fmt.Sprintf("/api/admin/deployments/%d", rt.Deployment.ID)
	body := func(edit func(b map[string]any)) map[string]any {
		b := map[string]any{"model_id": rt.Model.ID, "name": rt.Deployment.Name, "provider": "openai", "upstream_model": "gpt-x",
			"base_url": fake.URL(), "credential_id": *rt.Deployment.CredentialID, "input_price": 5}
		edit(b)
		return b
	}
	moved := func(b map[string]any) { b["base_url"] = "https://attacker.example/v1" }
	for _, tt := range []struct {
		name string
		edit func(b map[string]any)
	}{
		{"BaseURL", moved},
		{"Credential", func(b map[string]any) { delete(b, "credential_id") }},
		{"Headers", func(b map[string]any) { b["headers"] = map[string]string{"X-Forwarded-Host": "attacker.example"} }},
		{"Provider", func(b map[string]any) { b["provider"] = "anthropic" }},
		{"PrivateNetwork", func(b map[string]any) { b["settings"] = map[string]any{"allow_private_network": true} }},
	} {
		t.Run("Stale"+tt.name, func(t *testing.T) {
			stale := g.signInVerifiedAt(admin, time.Now().Add(-time.Hour))
			e := wantReason(t, stale.do("PUT", path, body(tt.edit)), http.StatusForbidden, "mfa_required")
			if !strings.Contains(e.Error.Message, "/api/auth/reauth") {
				t.Errorf("message %q does not say how to step up", e.Error.Message)
			}
		})
	}
	t.Run("StaleOtherChange", func(t *testing.T) {
		stale := g.signInVerifiedAt(admin, time.Now().Add(-time.Hour))
		stale.must("PUT", path, body(func(b map[string]any) { b["input_price"] = 6 }), http.StatusOK, nil)
	})
	t.Run("StaleCreateWithCredential", func(t *testing.T) {
		stale := g.signInVerifiedAt(admin, time.Now().Add(-time.Hour))
		b := body(func(b map[string]any) { b["name"] = "stepup-2" })
		wantReason(t, stale.do("POST", "/api/admin/deployments", b), http.StatusForbidden, "mfa_required")
		delete(b, "credential_id")
		stale.must("POST", "/api/admin/deployments", b, http.StatusCreated, nil)
	})
	t.Run("AfterStepUp", func(t *testing.T) {
		s := g.signInVerifiedAt(admin, time.Now().Add(-time.Hour))
		s.must("POST", "/api/auth/reauth", map[string]string{"password": password}, http.StatusOK, nil)
		var d chorus.Deployment
		s.must("PUT", path, body(moved), http.StatusOK, &d)
		if d.BaseURL != "https://attacker.example/v1" {
			t.Errorf("base_url = %q after the update", d.BaseURL)
		}
	})
	t.Run("MasterKey", func(t *testing.T) {
		g.mustAdmin("PUT", path, body(func(b map[string]any) { b["base_url"] = fake.URL() }), http.StatusOK, nil)
	})
}
