package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// invalidCase is a body the admin API must refuse with 400 naming param.
type invalidCase struct {
	name  string
	body  any
	param string
	// inMessage, when set, must appear in the error message.
	inMessage string
}

func runInvalid(t *testing.T, g *gateway, method, path string, cases []invalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := wantAPIError(t, g.admin(method, path, tc.body), 400, "invalid_request_error", tc.param)
			if tc.inMessage != "" && !strings.Contains(e.Error.Message, tc.inMessage) {
				t.Errorf("message %q does not mention %q", e.Error.Message, tc.inMessage)
			}
		})
	}
}

// notFound checks GET, PUT and DELETE of a missing ID all answer 404.
func notFound(t *testing.T, g *gateway, collection string, putBody any) {
	t.Helper()
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		var body any
		if method == "PUT" {
			body = putBody
		}
		wantAPIError(t, g.admin(method, collection+"/999999", body), 404, "invalid_request_error", "")
	}
	for _, id := range []string{"abc", "0", "-3"} {
		wantAPIError(t, g.admin("GET", collection+"/"+id, nil), 400, "invalid_request_error", "id")
	}
}

func TestAdminModels(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)

	t.Run("CRUD", func(t *testing.T) {
		var m chorus.Model
		g.mustAdmin("POST", "/api/admin/models", map[string]any{"name": "crud-model", "description": "a model",
			"context_window": 8192, "max_output_tokens": 1024, "owned_by": "acme"}, 201, &m)
		if m.ID < 1 || m.Name != "crud-model" || m.Kind != chorus.KindChat || !m.Enabled || m.ContextWindow != 8192 ||
			m.MaxOutput != 1024 || m.OwnedBy != "acme" || m.Description != "a model" || m.CreatedAt.IsZero() {
			t.Errorf("created %+v", m)
		}
		var got chorus.Model
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/models/%d", m.ID), nil, 200, &got)
		if got.Name != m.Name || got.MaxOutput != 1024 || !got.CreatedAt.Equal(m.CreatedAt) {
			t.Errorf("read %+v, want %+v", got, m)
		}
		var up chorus.Model
		g.mustAdmin("PUT", fmt.Sprintf("/api/admin/models/%d", m.ID), map[string]any{"name": "crud-model-2",
			"description": "renamed", "max_output_tokens": 2048, "enabled": false}, 200, &up)
		if up.ID != m.ID || up.Name != "crud-model-2" || up.MaxOutput != 2048 || up.Enabled || up.ContextWindow != 0 {
			t.Errorf("updated %+v", up)
		}
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/models/%d", m.ID), nil, 200, &got)
		if got.Name != "crud-model-2" || got.Description != "renamed" || got.Enabled {
			t.Errorf("read after update %+v", got)
		}
		g.mustAdmin("DELETE", fmt.Sprintf("/api/admin/models/%d", m.ID), nil, 204, nil)
		wantAPIError(t, g.admin("GET", fmt.Sprintf("/api/admin/models/%d", m.ID), nil), 404, "invalid_request_error", "")
		wantAPIError(t, g.admin("DELETE", fmt.Sprintf("/api/admin/models/%d", m.ID), nil), 404, "invalid_request_error", "")
	})

	t.Run("Invalid", func(t *testing.T) {
		runInvalid(t, g, "POST", "/api/admin/models", []invalidCase{
			{"NameEmpty", map[string]any{"name": ""}, "name", ""},
			{"NameSpace", map[string]any{"name": "bad name"}, "name", ""},
			{"NameLeadingDash", map[string]any{"name": "-model"}, "name", ""},
			{"NameTooLong", map[string]any{"name": strings.Repeat("m", 129)}, "name", ""},
			{"NameNotString", map[string]any{"name": 5}, "name", ""},
			{"Kind", map[string]any{"name": "k1", "kind": "video"}, "kind", ""},
			{"ContextWindow", map[string]any{"name": "k2", "context_window": -1}, "context_window", ""},
			{"MaxOutput", map[string]any{"name": "k3", "max_output_tokens": -5}, "max_output_tokens", ""},
			{"UnknownField", map[string]any{"name": "k4", "colour": "red"}, "", "colour"},
			{"NotJSON", "{name", "", ""},
			{"TwoObjects", `{"name":"k5"} {"name":"k6"}`, "", ""},
		})
		var list struct {
			Data []chorus.Model `json:"data"`
		}
		g.mustAdmin("GET", "/api/admin/models?limit=500", nil, 200, &list)
		if len(list.Data) != 0 {
			t.Errorf("invalid requests created models: %+v", list.Data)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		g.createModel(modelSpec{Name: "dup-a"})
		b := g.createModel(modelSpec{Name: "dup-b"})
		wantAPIError(t, g.admin("POST", "/api/admin/models", modelSpec{Name: "dup-a"}), 409, "conflict_error", "")
		wantAPIError(t, g.admin("PUT", fmt.Sprintf("/api/admin/models/%d", b.ID), modelSpec{Name: "dup-a"}), 409, "conflict_error", "")
		var got chorus.Model
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/models/%d", b.ID), nil, 200, &got)
		if got.Name != "dup-b" {
			t.Errorf("a refused rename changed the model: %+v", got)
		}
	})

	t.Run("NotFound", func(t *testing.T) { notFound(t, g, "/api/admin/models", modelSpec{Name: "ghost"}) })
}

func TestAdminDeployments(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	m := g.createModel(modelSpec{Name: "dep-model"})
	key := g.customer()
	oc := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)

	t.Run("CRUD", func(t *testing.T) {
		var d chorus.Deployment
		g.mustAdmin("POST", "/api/admin/deployments", map[string]any{"model_id": m.ID, "name": "dep-1", "provider": "simulator",
			"settings": map[string]any{"text": "first version"}, "input_price": 5, "output_price": 7, "weight": 3,
			"headers": map[string]string{"X-Team": "e2e"}}, 201, &d)
		if d.ID < 1 || d.ModelID != m.ID || d.Provider != "simulator" || d.UpstreamModel != "dep-1" || d.InputPrice != 5 ||
			d.OutputPrice != 7 || d.Weight != 3 || !d.Enabled || d.Settings["text"] != "first version" || d.Headers["X-Team"] != "e2e" {
			t.Errorf("created %+v", d)
		}
		// Usable by the very next request.
		resp, err := oc.Chat.Completions.New(ctx, chatParams("dep-model", "hi"))
		if err != nil || resp.Choices[0].Message.Content != "first version" {
			t.Fatalf("chat right after creating the deployment: %v %+v", err, resp)
		}
		var got chorus.Deployment
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/deployments/%d", d.ID), nil, 200, &got)
		if got.Name != "dep-1" || got.Weight != 3 || got.Settings["text"] != "first version" {
			t.Errorf("read %+v", got)
		}
		g.mustAdmin("PUT", fmt.Sprintf("/api/admin/deployments/%d", d.ID), map[string]any{"model_id": m.ID, "name": "dep-1",
			"provider": "simulator", "settings": map[string]any{"text": "second version"}}, 200, &got)
		if got.Settings["text"] != "second version" || got.Weight != 1 || got.InputPrice != 0 {
			t.Errorf("updated %+v", got)
		}
		resp, err = oc.Chat.Completions.New(ctx, chatParams("dep-model", "hi"))
		if err != nil || resp.Choices[0].Message.Content != "second version" {
			t.Errorf("chat right after updating the deployment: %v %+v", err, resp)
		}
		var list struct {
			Data []chorus.Deployment `json:"data"`
		}
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/deployments?model_id=%d", m.ID), nil, 200, &list)
		if len(list.Data) != 1 || list.Data[0].ID != d.ID {
			t.Errorf("deployments of the model = %+v", list.Data)
		}
		g.mustAdmin("DELETE", fmt.Sprintf("/api/admin/deployments/%d", d.ID), nil, 204, nil)
		wantAPIError(t, g.admin("GET", fmt.Sprintf("/api/admin/deployments/%d", d.ID), nil), 404, "invalid_request_error", "")
		// The model remains, with nothing to serve it.
		_, err = oc.Chat.Completions.New(ctx, chatParams("dep-model", "hi"))
		wantOpenAIError(t, err, 503, "service_unavailable", "")
	})

	t.Run("Invalid", func(t *testing.T) {
		base := func(edit func(map[string]any)) map[string]any {
			b := map[string]any{"model_id": m.ID, "name": "bad-dep", "provider": "simulator"}
			edit(b)
			return b
		}
		runInvalid(t, g, "POST", "/api/admin/deployments", []invalidCase{
			{"NoModel", base(func(b map[string]any) { delete(b, "model_id") }), "model_id", ""},
			{"MissingModel", base(func(b map[string]any) { b["model_id"] = 999999 }), "model_id", ""},
			{"Name", base(func(b map[string]any) { b["name"] = "has space" }), "name", ""},
			{"UnknownProvider", base(func(b map[string]any) { b["provider"] = "skynet" }), "provider", ""},
			{"NoUpstreamModel", base(func(b map[string]any) { b["provider"] = "openai" }), "upstream_model", ""},
			{"NegativeInputPrice", base(func(b map[string]any) { b["input_price"] = -1 }), "input_price", ""},
			{"NegativeOutputPrice", base(func(b map[string]any) { b["output_price"] = -1 }), "output_price", ""},
			{"NegativeWeight", base(func(b map[string]any) { b["weight"] = -1 }), "weight", ""},
			{"BaseURLScheme", base(func(b map[string]any) { b["base_url"] = "ftp://example.com" }), "base_url", ""},
			{"BaseURLRelative", base(func(b map[string]any) { b["base_url"] = "not a url" }), "base_url", ""},
			{"BaseURLNoHost", base(func(b map[string]any) { b["base_url"] = "http://" }), "base_url", ""},
			{"HeaderName", base(func(b map[string]any) { b["headers"] = map[string]string{"bad header": "x"} }), "headers", ""},
			{"ErrorRate", base(func(b map[string]any) { b["settings"] = map[string]any{"error_rate": 2} }), "settings", "error_rate"},
			{"LatencyType", base(func(b map[string]any) { b["settings"] = map[string]any{"latency_ms": "fast"} }), "settings", "latency_ms"},
			{"TextType", base(func(b map[string]any) { b["settings"] = map[string]any{"text": 5} }), "settings", "text"},
			{"MissingCredential", base(func(b map[string]any) { b["credential_id"] = 999999 }), "credential_id", ""},
			{"UnknownField", base(func(b map[string]any) { b["region"] = "eu" }), "", "region"},
			{"PriceNotNumber", base(func(b map[string]any) { b["input_price"] = "cheap" }), "input_price", ""},
		})
	})

	t.Run("Conflict", func(t *testing.T) {
		g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "dep-dup", Provider: "simulator"})
		wantAPIError(t, g.admin("POST", "/api/admin/deployments", deploymentSpec{ModelID: m.ID, Name: "dep-dup", Provider: "simulator"}),
			409, "conflict_error", "")
	})

	t.Run("NotFound", func(t *testing.T) {
		notFound(t, g, "/api/admin/deployments", deploymentSpec{ModelID: m.ID, Name: "ghost", Provider: "simulator"})
	})
}

func TestAdminCredentials(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	fake := openaitest.New(t)
	key := g.customer()
	oc := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)
	const secret1, secret2 = "sk-live-credential-secret-AAAA1111", "sk-live-rotated-secret-BBBB2222"

	var bodies [][]byte // every admin answer: none may hold a secret
	call := func(method, path string, body any) response {
		t.Helper()
		r := g.admin(method, path, body)
		bodies = append(bodies, r.Body)
		return r
	}
	decode := func(r response, status int, out any) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d %s, want %d", r.Status, r.Body, status)
		}
		if out != nil {
			if err := json.Unmarshal(r.Body, out); err != nil {
				t.Fatal(err)
			}
		}
	}

	var c chorus.Credential
	decode(call("POST", "/api/admin/credentials", map[string]string{"name": "openai-prod", "provider": "openai", "secret": secret1}), 201, &c)
	if c.ID < 1 || c.Name != "openai-prod" || c.Provider != "openai" || c.Hint != "1111" {
		t.Errorf("created %+v, want hint 1111", c)
	}
	decode(call("GET", fmt.Sprintf("/api/admin/credentials/%d", c.ID), nil), 200, nil)
	decode(call("GET", "/api/admin/credentials", nil), 200, nil)

	md := g.createModel(modelSpec{Name: "cred-model"})
	var d chorus.Deployment
	decode(call("POST", "/api/admin/deployments", deploymentSpec{ModelID: md.ID, Name: "cred-dep", Provider: "openai",
		UpstreamModel: "gpt-x", BaseURL: fake.URL(), CredentialID: &c.ID}), 201, &d)
	if _, err := oc.Chat.Completions.New(ctx, chatParams("cred-model", "hi")); err != nil {
		t.Fatal(err)
	}
	if got := fake.Last().Header.Get("Authorization"); got != "Bearer "+secret1 {
		t.Errorf("upstream Authorization = %q, want the credential", got)
	}

	// Rotating the secret applies to the next request.
	decode(call("PUT", fmt.Sprintf("/api/admin/credentials/%d", c.ID), map[string]string{"name": "openai-prod", "provider": "openai", "secret": secret2}), 200, &c)
	if c.Hint != "2222" {
		t.Errorf("hint after rotation = %q, want 2222", c.Hint)
	}
	if _, err := oc.Chat.Completions.New(ctx, chatParams("cred-model", "hi")); err != nil {
		t.Fatal(err)
	}
	if got := fake.Last().Header.Get("Authorization"); got != "Bearer "+secret2 {
		t.Errorf("upstream Authorization after rotation = %q, want the new secret", got)
	}
	// Renaming without a secret keeps it.
	decode(call("PUT", fmt.Sprintf("/api/admin/credentials/%d", c.ID), map[string]string{"name": "openai-main", "provider": "openai"}), 200, &c)
	if c.Name != "openai-main" || c.Hint != "2222" {
		t.Errorf("after rename %+v", c)
	}
	if _, err := oc.Chat.Completions.New(ctx, chatParams("cred-model", "hi")); err != nil {
		t.Fatal(err)
	}
	if got := fake.Last().Header.Get("Authorization"); got != "Bearer "+secret2 {
		t.Errorf("upstream Authorization after rename = %q, want the kept secret", got)
	}

	decode(call("GET", fmt.Sprintf("/api/admin/deployments/%d", d.ID), nil), 200, nil)
	decode(call("GET", "/api/admin/registry", nil), 200, nil)
	wantAPIError(t, call("DELETE", fmt.Sprintf("/api/admin/credentials/%d", c.ID), nil), 409, "conflict_error", "")
	wantAPIError(t, call("POST", "/api/admin/credentials", map[string]string{"name": "openai-main", "provider": "openai", "secret": secret1}),
		409, "conflict_error", "")

	t.Run("Invalid", func(t *testing.T) {
		runInvalid(t, g, "POST", "/api/admin/credentials", []invalidCase{
			{"NoSecret", map[string]string{"name": "c1", "provider": "openai"}, "secret", ""},
			{"Provider", map[string]string{"name": "c2", "provider": "nope", "secret": "x"}, "provider", ""},
			{"Name", map[string]string{"name": "", "provider": "openai", "secret": "x"}, "name", ""},
			{"UnknownField", map[string]string{"name": "c3", "provider": "openai", "secret": "x", "api_key": "y"}, "", "api_key"},
		})
	})
	t.Run("NotFound", func(t *testing.T) {
		notFound(t, g, "/api/admin/credentials", map[string]string{"name": "ghost", "provider": "openai"})
	})

	decode(call("DELETE", fmt.Sprintf("/api/admin/deployments/%d", d.ID), nil), 204, nil)
	decode(call("DELETE", fmt.Sprintf("/api/admin/credentials/%d", c.ID), nil), 204, nil)
	wantAPIError(t, call("GET", fmt.Sprintf("/api/admin/credentials/%d", c.ID), nil), 404, "invalid_request_error", "")

	for _, b := range bodies {
		for _, s := range []string{secret1, secret2, "AAAA", "BBBB"} {
			if strings.Contains(string(b), s) {
				t.Errorf("an admin answer holds a secret (%q): %s", s, b)
			}
		}
	}
}

// listIDs walks a collection with limit=2 and returns the IDs in order.
func listIDs(t *testing.T, g *gateway, path string) []int64 {
	t.Helper()
	var ids []int64
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s: more than 100 pages", path)
		}
		var p struct {
			Object  string            `json:"object"`
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
			Next    *int64            `json:"next_after"`
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		g.mustAdmin("GET", fmt.Sprintf("%s%slimit=2&after=%d", path, sep, after), nil, 200, &p)
		if p.Object != "list" || len(p.Data) > 2 {
			t.Fatalf("%s: page object %q with %d items", path, p.Object, len(p.Data))
		}
		for _, raw := range p.Data {
			var item struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(raw, &item); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, item.ID)
		}
		if !p.HasMore {
			if p.Next != nil {
				t.Errorf("%s: next_after %d on the last page", path, *p.Next)
			}
			return ids
		}
		if p.Next == nil || len(p.Data) != 2 || *p.Next != ids[len(ids)-1] {
			t.Fatalf("%s: has_more with next_after %v after %d items", path, p.Next, len(p.Data))
		}
		after = *p.Next
	}
}

func TestAdminPagination(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	u := g.createUser(chorus.RoleCustomer)
	for i := range 7 {
		g.simulated(fmt.Sprintf("page-%d", i), nil)
		if i < 5 {
			g.createCredential(fmt.Sprintf("cred-%d", i), "openai", "secret")
			g.createKey(keySpec{Name: "k", UserID: u.ID})
		}
	}
	for path, want := range map[string]int{
		"/api/admin/models": 7, "/api/admin/deployments": 7, "/api/admin/credentials": 5,
		"/api/admin/keys": 5, fmt.Sprintf("/api/admin/keys?user_id=%d", u.ID): 5,
	} {
		t.Run(strings.TrimPrefix(path, "/api/admin/"), func(t *testing.T) {
			ids := listIDs(t, g, path)
			if len(ids) != want {
				t.Errorf("walked %d items, want %d: %v", len(ids), want, ids)
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("ids %v are not strictly increasing (duplicates or disorder)", ids)
			}
		})
	}
	t.Run("BadLimits", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=-1", "limit=100000", "limit=abc", "limit=2.5"} {
			for _, c := range []string{"models", "deployments", "credentials", "keys", "usage"} {
				wantAPIError(t, g.admin("GET", "/api/admin/"+c+"?"+q, nil), 400, "invalid_request_error", "limit")
			}
		}
		wantAPIError(t, g.admin("GET", "/api/admin/models?after=-1", nil), 400, "invalid_request_error", "after")
		wantAPIError(t, g.admin("GET", "/api/admin/models?after=x", nil), 400, "invalid_request_error", "after")
		wantAPIError(t, g.admin("GET", "/api/admin/usage?since=yesterday", nil), 400, "invalid_request_error", "since")
		wantAPIError(t, g.admin("GET", "/api/admin/usage?key_id=-4", nil), 400, "invalid_request_error", "key_id")
	})
}

func TestAdminAccess(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", nil)
	cust := g.customer()
	other := g.customer()
	admin := g.createUser(chorus.RoleAdmin)
	adminKey := g.createKey(keySpec{Name: "admin", UserID: admin.ID})

	t.Run("CustomerForbidden", func(t *testing.T) {
		routes := []struct{ method, path string }{
			{"GET", "/api/admin/models"}, {"POST", "/api/admin/models"}, {"GET", "/api/admin/models/1"},
			{"PUT", "/api/admin/models/1"}, {"DELETE", "/api/admin/models/1"},
			{"GET", "/api/admin/deployments"}, {"POST", "/api/admin/deployments"}, {"DELETE", "/api/admin/deployments/1"},
			{"GET", "/api/admin/credentials"}, {"POST", "/api/admin/credentials"}, {"PUT", "/api/admin/credentials/1"},
			{"GET", "/api/admin/keys"}, {"POST", "/api/admin/keys"}, {"DELETE", fmt.Sprintf("/api/admin/keys/%d", other.ID)},
			{"GET", "/api/admin/usage"}, {"GET", "/api/admin/registry"},
		}
		for _, rt := range routes {
			r := g.do(rt.method, rt.path, cust.Key, map[string]any{"name": "x"})
			if r.Status != 403 {
				t.Errorf("customer %s %s = %d %s, want 403", rt.method, rt.path, r.Status, r.Body)
				continue
			}
			wantAPIError(t, r, 403, "permission_error", "")
			if r := g.do(rt.method, rt.path, "", nil); r.Status != 401 {
				t.Errorf("anonymous %s %s = %d, want 401", rt.method, rt.path, r.Status)
			}
		}
		// The other customer's key was not revoked by the refused call.
		if _, err := g.openAI(other.Key).Models.List(testContext(t, 10*time.Second)); err != nil {
			t.Errorf("other customer's key: %v", err)
		}
	})

	t.Run("AdminUserKey", func(t *testing.T) {
		if r := g.do("GET", "/api/admin/models", adminKey.Key, nil); r.Status != 200 {
			t.Errorf("admin user's key: %d %s", r.Status, r.Body)
		}
	})

	t.Run("CreateKeyRules", func(t *testing.T) {
		wantAPIError(t, g.admin("POST", "/api/admin/keys", map[string]any{"name": "no-user"}), 400, "invalid_request_error", "user_id")
		wantAPIError(t, g.admin("POST", "/api/admin/keys", map[string]any{"name": "ghost", "user_id": 999999}), 400, "invalid_request_error", "user_id")
		past := time.Now().Add(-time.Hour)
		wantAPIError(t, g.admin("POST", "/api/admin/keys", keySpec{Name: "old", UserID: cust.UserID, ExpiresAt: &past}), 400, "invalid_request_error", "expires_at")
		wantAPIError(t, g.admin("POST", "/api/admin/keys", keySpec{Name: "m", UserID: cust.UserID, AllowedModels: []string{"bad model"}}), 400, "invalid_request_error", "allowed_models")
		wantAPIError(t, g.admin("POST", "/api/admin/keys", keySpec{Name: "", UserID: cust.UserID}), 400, "invalid_request_error", "name")
		wantAPIError(t, g.admin("DELETE", "/api/admin/keys/999999", nil), 404, "invalid_request_error", "")
	})

	t.Run("SelfService", func(t *testing.T) {
		var own createdKey
		r := g.do("POST", "/api/keys", cust.Key, map[string]any{"name": "second"})
		if r.Status != 201 || json.Unmarshal(r.Body, &own) != nil || own.UserID != cust.UserID || own.Key == "" {
			t.Fatalf("create own key: %d %s", r.Status, r.Body)
		}
		wantAPIError(t, g.do("POST", "/api/keys", cust.Key, map[string]any{"name": "theirs", "user_id": other.UserID}), 403, "permission_error", "user_id")
		var list struct {
			Data []createdKey `json:"data"`
		}
		r = g.do("GET", "/api/keys", cust.Key, nil)
		if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil {
			t.Fatalf("list own keys: %d %s", r.Status, r.Body)
		}
		var ids []int64
		for _, k := range list.Data {
			ids = append(ids, k.ID)
			if k.Key != "" || strings.Contains(string(r.Body), own.Key) {
				t.Errorf("key list shows a secret: %s", r.Body)
			}
		}
		if !slices.Equal(ids, []int64{cust.ID, own.ID}) {
			t.Errorf("own keys = %v, want %v", ids, []int64{cust.ID, own.ID})
		}
		wantAPIError(t, g.do("DELETE", fmt.Sprintf("/api/keys/%d", other.ID), cust.Key, nil), 404, "invalid_request_error", "")
		if r := g.do("DELETE", fmt.Sprintf("/api/keys/%d", own.ID), cust.Key, nil); r.Status != 204 {
			t.Fatalf("revoke own key: %d %s", r.Status, r.Body)
		}
		wantAPIError(t, g.do("GET", "/v1/models", own.Key, nil), 401, "authentication_error", "")
	})
}

// TestAdminLiveChanges checks registry writes apply to the very next request.
func TestAdminLiveChanges(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	key := g.customer()
	oc := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)
	modelIDs := func() []string {
		t.Helper()
		page, err := oc.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		return ids
	}

	r := g.simulated("live", map[string]any{"text": "live answer"})
	resp, err := oc.Chat.Completions.New(ctx, chatParams("live", "hi"))
	if err != nil || resp.Choices[0].Message.Content != "live answer" {
		t.Fatalf("first request to a new model: %v %+v", err, resp)
	}

	g.mustAdmin("PUT", fmt.Sprintf("/api/admin/models/%d", r.Model.ID), map[string]any{"name": "live", "max_output_tokens": 1000, "enabled": false}, 200, nil)
	if ids := modelIDs(); slices.Contains(ids, "live") {
		t.Errorf("disabled model still listed: %v", ids)
	}
	_, err = oc.Chat.Completions.New(ctx, chatParams("live", "hi"))
	wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found")
	_, err = oc.Models.Get(ctx, "live")
	wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found")

	g.mustAdmin("PUT", fmt.Sprintf("/api/admin/models/%d", r.Model.ID), map[string]any{"name": "live", "max_output_tokens": 1000}, 200, nil)
	if ids := modelIDs(); !slices.Equal(ids, []string{"live"}) {
		t.Errorf("re-enabled model: listed %v", ids)
	}

	// A disabled deployment leaves the model listed but unservable.
	g.mustAdmin("PUT", fmt.Sprintf("/api/admin/deployments/%d", r.Deployment.ID), map[string]any{"model_id": r.Model.ID,
		"name": r.Deployment.Name, "provider": "simulator", "enabled": false}, 200, nil)
	_, err = oc.Chat.Completions.New(ctx, chatParams("live", "hi"))
	wantOpenAIError(t, err, 503, "service_unavailable", "")

	// A second deployment takes over at once.
	g.createDeployment(deploymentSpec{ModelID: r.Model.ID, Name: "live-2", Provider: "simulator", Settings: map[string]any{"text": "from two"}})
	var raw *http.Response
	resp, err = oc.Chat.Completions.New(ctx, chatParams("live", "hi"), option.WithResponseInto(&raw))
	if err != nil || resp.Choices[0].Message.Content != "from two" || raw.Header.Get("X-Chorus-Deployment") != "live-2" {
		t.Errorf("after adding a deployment: %v %+v", err, resp)
	}

	g.mustAdmin("DELETE", fmt.Sprintf("/api/admin/models/%d", r.Model.ID), nil, 204, nil)
	_, err = oc.Chat.Completions.New(ctx, chatParams("live", "hi"))
	wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found")
	if ids := modelIDs(); len(ids) != 0 {
		t.Errorf("deleted model still listed: %v", ids)
	}
}
