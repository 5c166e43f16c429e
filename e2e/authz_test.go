package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// The authorization table: every route the server registers, and what each
// kind of caller gets. TestAuthorizationTable walks Server.Routes() and
// fails on a route missing here (or listed here but not registered), so a
// new route cannot ship without a decision about who may call it.

// outcome is what a caller gets from a route.
type outcome int

const (
	allow  outcome = iota // passes authorization (any status but 401, 403 and, for scoped objects, 404)
	deny                  // 401 or 403
	hidden                // 404: the object belongs to another team
)

func (o outcome) String() string { return [...]string{"allow", "deny", "hidden"}[o] }

// caller kinds, in the order each route is tried.
const (
	anon  = iota
	custB // a customer of another team than the fixtures'
	custA // a customer of the team that owns the fixtures
	admin // an admin (of a third team)
	numCallers
)

var callerNames = [numCallers]string{"anonymous", "customer of another team", "customer of the owning team", "admin"}

// authzCase is one row: what each caller gets, and how to fill the path.
type authzCase struct {
	want [numCallers]outcome // callers with API keys
	// session is what callers signed in with a session cookie get, when it
	// differs from want (nil: the same).
	session *[numCallers]outcome
	// fixture returns the path values for one call, creating what they
	// name (owned by team A where ownership applies). Nil: no path values.
	fixture func(e *authzEnv) map[string]string
	// fresh: the call ends the caller's session (log out), so the session
	// walk makes it with a new sign-in of the same user.
	fresh bool
	// stream: the answer is an endless event stream; only its status is read.
	stream bool
}

// wantFor returns the expected outcomes for the walk with sessions or keys.
func (c authzCase) wantFor(sessions bool) [numCallers]outcome {
	if sessions && c.session != nil {
		return *c.session
	}
	return c.want
}

var (
	publicRoute = authzCase{want: [numCallers]outcome{allow, allow, allow, allow}}
	userRoute   = authzCase{want: [numCallers]outcome{deny, allow, allow, allow}}
	adminRoute  = authzCase{want: [numCallers]outcome{deny, deny, deny, allow}}
	// teamRoute: a customer route on an object of team A; everyone else's
	// team, the admin's included, does not see it.
	teamRoute = authzCase{want: [numCallers]outcome{deny, hidden, allow, hidden}}
	// sessionRoute: for session cookies only; the walk's API keys are all refused.
	sessionRoute = authzCase{want: [numCallers]outcome{deny, deny, deny, deny}, session: &[numCallers]outcome{deny, allow, allow, allow}}
	// keyRoute: the model API, for API keys and the signed-in console's
	// session (its playground).
	keyRoute = authzCase{want: [numCallers]outcome{deny, allow, allow, allow}}
)

func (c authzCase) with(f func(e *authzEnv) map[string]string) authzCase {
	c.fixture = f
	return c
}

func (c authzCase) freshSession() authzCase {
	c.fresh = true
	return c
}

// storedResponse makes a Responses API answer with the owning team's key.
func storedResponse(e *authzEnv) map[string]string {
	r := e.g.do("POST", "/v1/responses", e.keys[custA], map[string]any{"model": e.modelName, "input": "hi"})
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || r.Status != http.StatusOK || out.ID == "" {
		e.g.t.Fatalf("create a response: %d %s", r.Status, r.Body)
	}
	return map[string]string{"id": out.ID}
}

// authzTable lists every registered route.
func authzTable() map[string]authzCase {
	id := func(f func(e *authzEnv) int64) func(e *authzEnv) map[string]string {
		return func(e *authzEnv) map[string]string { return map[string]string{"id": fmt.Sprint(f(e))} }
	}
	model := id(func(e *authzEnv) int64 { return e.g.createModel(modelSpec{Name: e.g.unique("authz-m")}).ID })
	deployment := id(func(e *authzEnv) int64 {
		return e.g.simulated(e.g.unique("authz-d"), nil).Deployment.ID
	})
	credential := id(func(e *authzEnv) int64 { return e.g.createCredential(e.g.unique("authz-c"), "openai", "sk-x").ID })
	route := id(func(e *authzEnv) int64 { return e.createRoute() })
	keyA := id(func(e *authzEnv) int64 { return e.g.createKey(keySpec{Name: "authz", UserID: e.userA.ID}).ID })
	product := id(func(e *authzEnv) int64 { return e.g.productFixture() })
	cartProduct := func(e *authzEnv) map[string]string {
		return map[string]string{"product_id": fmt.Sprint(e.g.productFixture())}
	}
	order := id(func(e *authzEnv) int64 { return e.g.pendingOrder(e.userA) })
	budget := id(func(e *authzEnv) int64 { return e.g.budgetFixture(e.userA) })
	costAlert := id(func(e *authzEnv) int64 { return e.g.costAlertFixture() })
	return map[string]authzCase{
		"GET /livez":   publicRoute,
		"GET /readyz":  publicRoute,
		"GET /metrics": publicRoute,

		"GET /.well-known/security.txt": publicRoute,

		// The model API takes API keys only (sessions are for the consoles).
		"POST /v1/chat/completions":       keyRoute,
		"POST /v1/messages":               keyRoute,
		"POST /v1/messages/count_tokens":  keyRoute,
		"POST /v1/embeddings":             keyRoute,
		"POST /v1/responses/input_tokens": keyRoute,
		"POST /v1/responses":              keyRoute,
		// A stored response belongs to the team whose key made it.
		"GET /v1/responses/{id}":             teamRoute.with(storedResponse),
		"DELETE /v1/responses/{id}":          teamRoute.with(storedResponse),
		"GET /v1/responses/{id}/input_items": teamRoute.with(storedResponse),
		"GET /v1/models":                     keyRoute,
		"GET /v1/models/{id...}":             keyRoute.with(func(e *authzEnv) map[string]string { return map[string]string{"id...": e.modelName} }),
		"POST /v1/feedback":                  userRoute,
		"GET /api/feedback":                  userRoute,
		"GET /api/usage":                     userRoute,

		"GET /api/keys":         userRoute,
		"POST /api/keys":        userRoute,
		"DELETE /api/keys/{id}": teamRoute.with(keyA),

		"GET /api/admin/models":                    adminRoute,
		"POST /api/admin/models":                   adminRoute,
		"GET /api/admin/models/{id}":               adminRoute.with(model),
		"PUT /api/admin/models/{id}":               adminRoute.with(model),
		"DELETE /api/admin/models/{id}":            adminRoute.with(model),
		"GET /api/admin/deployments":               adminRoute,
		"POST /api/admin/deployments":              adminRoute,
		"GET /api/admin/deployments/{id}":          adminRoute.with(deployment),
		"PUT /api/admin/deployments/{id}":          adminRoute.with(deployment),
		"DELETE /api/admin/deployments/{id}":       adminRoute.with(deployment),
		"GET /api/admin/credentials":               adminRoute,
		"POST /api/admin/credentials":              adminRoute,
		"GET /api/admin/credentials/{id}":          adminRoute.with(credential),
		"PUT /api/admin/credentials/{id}":          adminRoute.with(credential),
		"DELETE /api/admin/credentials/{id}":       adminRoute.with(credential),
		"GET /api/admin/keys":                      adminRoute,
		"POST /api/admin/keys":                     adminRoute,
		"DELETE /api/admin/keys/{id}":              adminRoute.with(keyA),
		"GET /api/admin/usage":                     adminRoute,
		"GET /api/admin/registry":                  adminRoute,
		"GET /api/admin/health":                    adminRoute,
		"GET /api/admin/routes":                    adminRoute,
		"POST /api/admin/routes":                   adminRoute,
		"GET /api/admin/routes/{id}":               adminRoute.with(route),
		"PUT /api/admin/routes/{id}":               adminRoute.with(route),
		"DELETE /api/admin/routes/{id}":            adminRoute.with(route),
		"GET /api/admin/quality":                   adminRoute,
		"GET /api/admin/quality/scores":            adminRoute,
		"GET /api/admin/quality/learned":           adminRoute,
		"GET /api/admin/quality/learned/scorer":    adminRoute,
		"POST /api/admin/quality/learned/examples": adminRoute,
		"POST /api/admin/quality/learned/versions": adminRoute,
		"POST /api/admin/quality/learned/rollback": adminRoute,
		"GET /api/admin/routes/{id}/calibration":   adminRoute.with(route),
		"GET /api/admin/feedback":                  adminRoute,
		"GET /api/admin/client-errors":             adminRoute,
		"GET /api/events/stream":                   authzCase{want: userRoute.want, stream: true},
		"GET /api/admin/audit":                     adminRoute,

		// Usage analytics and cost monitoring (e2e/analytics_test.go).
		"GET /api/usage/summary":             userRoute,
		"GET /api/usage/export":              userRoute,
		"GET /api/admin/usage/summary":       adminRoute,
		"GET /api/admin/usage/export":        adminRoute,
		"GET /api/admin/costs":               adminRoute,
		"GET /api/admin/energy":              adminRoute,
		"GET /api/admin/cost-alerts":         adminRoute,
		"POST /api/admin/cost-alerts":        adminRoute,
		"GET /api/admin/cost-alerts/{id}":    adminRoute.with(costAlert),
		"PUT /api/admin/cost-alerts/{id}":    adminRoute.with(costAlert),
		"DELETE /api/admin/cost-alerts/{id}": adminRoute.with(costAlert),
		"GET /api/admin/cost-alert-firings":  adminRoute,

		// Bias testing (e2e/bias_test.go).
		"GET /api/admin/bias/suites":    adminRoute,
		"POST /api/admin/bias/runs":     adminRoute,
		"GET /api/admin/bias/runs":      adminRoute,
		"GET /api/admin/bias/runs/{id}": adminRoute.with(id(func(e *authzEnv) int64 { return e.biasRunFixture() })),
		"GET /api/admin/bias/compare":   adminRoute,

		// Credits: a customer sees their own team's; {id} of a team's balance is team A's.
		"GET /api/credits/balance":           userRoute,
		"GET /api/credits/ledger":            userRoute,
		"POST /api/credits/redeem":           userRoute,
		"GET /api/admin/teams/{id}/balance":  adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.TeamID })),
		"GET /api/admin/ledger":              adminRoute,
		"GET /api/admin/ledger/check":        adminRoute,
		"GET /api/admin/backups":             adminRoute,
		"POST /api/admin/credits/grant":      adminRoute,
		"POST /api/admin/codes":              adminRoute,
		"GET /api/admin/codes":               adminRoute,
		"POST /api/admin/codes/{id}/disable": adminRoute.with(id(func(e *authzEnv) int64 { return e.codeBatch() })),

		// Budgets: {id} is a budget of team A (e2e/billing_test.go).
		"GET /api/budgets":               userRoute,
		"POST /api/budgets":              userRoute,
		"GET /api/budgets/{id}":          teamRoute.with(budget),
		"PUT /api/budgets/{id}":          teamRoute.with(budget),
		"DELETE /api/budgets/{id}":       teamRoute.with(budget),
		"GET /api/events":                userRoute,
		"GET /api/admin/budgets":         adminRoute,
		"POST /api/admin/budgets":        adminRoute,
		"GET /api/admin/budgets/{id}":    adminRoute.with(budget),
		"PUT /api/admin/budgets/{id}":    adminRoute.with(budget),
		"DELETE /api/admin/budgets/{id}": adminRoute.with(budget),
		"GET /api/admin/events":          adminRoute,

		// MFA manages a person's sign-in: sessions only, so every API key is
		// refused (e2e/mfa_test.go walks these routes with sessions).
		"GET /api/auth/mfa":                    userRoute,
		"POST /api/auth/mfa/enroll":            sessionRoute,
		"POST /api/auth/mfa/enroll/confirm":    sessionRoute,
		"POST /api/auth/mfa/verify":            sessionRoute,
		"POST /api/auth/reauth":                sessionRoute,
		"POST /api/auth/mfa/disable":           sessionRoute,
		"POST /api/auth/mfa/backup-codes":      sessionRoute,
		"POST /api/admin/users/{id}/mfa/reset": adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.ID })),

		// Accounts (e2e/accounts_test.go walks these with sessions). Sign-up
		// and sign-in are public; managing sessions and the password is for
		// session cookies only; every customer manages their own team ({id}:
		// a member of team A); admin changes use throwaway users.
		"POST /api/auth/signup":     publicRoute,
		"POST /api/auth/login":      publicRoute,
		"POST /api/client-errors":   publicRoute,
		"GET /api/auth/session":     userRoute,
		"POST /api/auth/logout":     sessionRoute.freshSession(),
		"POST /api/auth/logout-all": sessionRoute.freshSession(),
		"GET /api/auth/sessions":    sessionRoute,
		// {id}: another user's session, which nobody else may revoke.
		"DELETE /api/auth/sessions/{id}": {want: sessionRoute.want, session: &[numCallers]outcome{deny, hidden, hidden, hidden},
			fixture: id(func(e *authzEnv) int64 { return e.otherSession() })},
		"POST /api/auth/password":            sessionRoute,
		"GET /api/team":                      userRoute,
		"PUT /api/team":                      userRoute,
		"POST /api/team/invites":             userRoute,
		"DELETE /api/team/members/{id}":      teamRoute.with(id(func(e *authzEnv) int64 { return e.memberA() })),
		"PUT /api/team/members/{id}/role":    teamRoute.with(id(func(e *authzEnv) int64 { return e.memberA() })),
		"GET /api/admin/users":               adminRoute,
		"POST /api/admin/users":              adminRoute,
		"GET /api/admin/users/{id}":          adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.ID })),
		"PUT /api/admin/users/{id}/role":     adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.ID })),
		"POST /api/admin/users/{id}/disable": adminRoute.with(id(func(e *authzEnv) int64 { return e.g.createUser(chorus.RoleCustomer).ID })),
		"POST /api/admin/users/{id}/enable":  adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.ID })),
		"PUT /api/admin/users/{id}/team":     adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.ID })),
		"GET /api/admin/teams":               adminRoute,
		"POST /api/admin/teams":              adminRoute,
		"GET /api/admin/teams/{id}":          adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.TeamID })),
		"POST /api/admin/invites":            adminRoute,
		"GET /api/admin/invites":             adminRoute,
		"DELETE /api/admin/invites/{id}":     adminRoute.with(id(func(e *authzEnv) int64 { return e.inviteA() })),
		"GET /api/team/invites":              userRoute,
		"DELETE /api/team/invites/{id}":      teamRoute.with(id(func(e *authzEnv) int64 { return e.inviteA() })),

		// The shop: carts are per user, orders per team ({id}: a pending
		// order of team A; {product_id}: a product in nobody's cart, so
		// reading that line is 404 for everyone).
		"GET /api/shop/products":                userRoute,
		"GET /api/cart":                         userRoute,
		"POST /api/cart":                        userRoute,
		"PUT /api/cart":                         userRoute,
		"DELETE /api/cart":                      userRoute,
		"GET /api/cart/items/{product_id}":      {want: [numCallers]outcome{deny, hidden, hidden, hidden}, fixture: cartProduct},
		"POST /api/cart/items/{product_id}":     userRoute.with(cartProduct),
		"PUT /api/cart/items/{product_id}":      userRoute.with(cartProduct),
		"DELETE /api/cart/items/{product_id}":   userRoute.with(cartProduct),
		"POST /api/checkout":                    userRoute,
		"GET /api/orders":                       userRoute,
		"GET /api/orders/{id}":                  teamRoute.with(order),
		"POST /api/orders/{id}/cancel":          teamRoute.with(order),
		"GET /api/admin/products":               adminRoute,
		"POST /api/admin/products":              adminRoute,
		"GET /api/admin/products/{id}":          adminRoute.with(product),
		"PUT /api/admin/products/{id}":          adminRoute.with(product),
		"GET /api/admin/orders":                 adminRoute,
		"GET /api/admin/orders/{id}":            adminRoute.with(order),
		"GET /api/admin/payments":               adminRoute,
		"POST /api/admin/orders/{id}/mark-paid": adminRoute.with(order),
		"POST /api/admin/orders/{id}/refund":    adminRoute.with(order),
		"POST /api/webhooks/stripe":             publicRoute,
	}
}

// authzEnv is the gateway and the callers of one walk.
type authzEnv struct {
	g         *gateway
	userA     *chorus.User
	keys      [numCallers]string // API keys; "" for anonymous
	modelName string

	// The session walk's callers: each user's email and password, and a
	// signed-in session (nil for anonymous).
	emails, passwords [numCallers]string
	sessions          [numCallers]*apptest.Session
	other             *apptest.Session // a session of a user outside the walk
}

// otherSession returns the ID of a session of a user who is none of the callers.
func (e *authzEnv) otherSession() int64 {
	e.g.t.Helper()
	var out struct {
		Data []struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	status, body := e.other.Do(e.g.t, "GET", "/api/auth/sessions", nil)
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Data) == 0 {
		e.g.t.Fatalf("list the other user's sessions: %d %s", status, body)
	}
	return out.Data[0].ID
}

// inviteA creates an unused invitation into team A and returns its ID.
func (e *authzEnv) inviteA() int64 {
	e.g.t.Helper()
	inv := &chorus.Invite{TokenHash: []byte(e.g.unique("authz-invite-token")), TeamID: e.userA.TeamID,
		Role: chorus.RoleCustomer, TeamRole: chorus.TeamMember, CreatedBy: e.userA.ID, ExpiresAt: time.Now().Add(time.Hour)}
	if err := e.g.App.DB.CreateInvite(context.Background(), inv); err != nil {
		e.g.t.Fatal(err)
	}
	return inv.ID
}

// memberA adds a member to team A and returns their ID.
func (e *authzEnv) memberA() int64 {
	e.g.t.Helper()
	u := &chorus.User{Email: e.g.unique("member") + "@example.test", Name: "Member", Role: chorus.RoleCustomer, TeamID: e.userA.TeamID}
	if err := e.g.App.DB.CreateUser(context.Background(), u); err != nil {
		e.g.t.Fatal(err)
	}
	return u.ID
}

func (e *authzEnv) codeBatch() int64 {
	e.g.t.Helper()
	b := &chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 1}
	if err := e.g.App.DB.CreateCodeBatch(context.Background(), b); err != nil {
		e.g.t.Fatal(err)
	}
	return b.ID
}

func (e *authzEnv) createRoute() int64 {
	e.g.t.Helper()
	var out struct {
		ID int64 `json:"id"`
	}
	e.g.mustAdmin("POST", "/api/admin/routes", map[string]any{
		"name": e.g.unique("authz-r"), "strategy": "fallback",
		"targets": []map[string]any{{"model": e.modelName}},
	}, http.StatusCreated, &out)
	return out.ID
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestAuthorizationTable(t *testing.T) {
	g := startGateway(t, nil)
	e := &authzEnv{g: g}
	e.modelName = g.simulated(g.unique("authz-model"), nil).Model.Name
	var users [numCallers]*chorus.User
	users[custA], e.passwords[custA] = g.NewUser(t, chorus.RoleCustomer, 0)
	users[custB], e.passwords[custB] = g.NewUser(t, chorus.RoleCustomer, 0)
	users[admin], e.passwords[admin] = g.NewUser(t, chorus.RoleAdmin, 0)
	e.userA = users[custA]
	for who := custB; who < numCallers; who++ {
		e.keys[who] = g.createKey(keySpec{Name: "authz", UserID: users[who].ID}).Key
		e.emails[who] = users[who].Email
		e.sessions[who] = apptest.Login(t, g.Gateway, users[who].Email, e.passwords[who])
	}
	e.other = g.SignIn(t, chorus.RoleCustomer)

	table := authzTable()
	registered := map[string]bool{}
	for _, r := range g.App.Routes() {
		registered[r.Pattern] = true
		if _, ok := table[r.Pattern]; !ok {
			t.Errorf("route %q (access %s) is missing from the authorization table", r.Pattern, r.Access)
		}
	}
	var patterns []string
	for p := range table {
		if !registered[p] {
			t.Errorf("the authorization table lists %q, which is not registered", p)
			continue
		}
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, sessions := range []bool{false, true} {
		name := "APIKeys"
		if sessions {
			name = "Sessions"
		}
		t.Run(name, func(t *testing.T) {
			for _, pattern := range patterns {
				e.walk(t, pattern, table[pattern], sessions)
			}
		})
	}
	// The master key is the operator's admin credential: every admin route
	// takes it; the user routes, which act on the caller's own account and
	// team, refuse it.
	t.Run("MasterKey", func(t *testing.T) {
		for _, r := range g.App.Routes() {
			c, ok := table[r.Pattern]
			if !ok || (r.Access != "user" && r.Access != "admin") {
				continue
			}
			want := allow
			if r.Access == "user" {
				want = deny
			}
			e.keys[anon] = g.MasterKey // the anonymous slot carries the master key for this walk
			c.want = [numCallers]outcome{want, want, want, want}
			e.walkOne(t, r.Pattern, c, anon)
			e.keys[anon] = ""
		}
	})
}

// walk calls one route as every caller and compares what each gets with
// the table.
func (e *authzEnv) walk(t *testing.T, pattern string, c authzCase, sessions bool) {
	t.Helper()
	for who := range numCallers {
		if sessions && who != anon {
			e.walkSession(t, pattern, c, who)
		} else {
			e.walkOne(t, pattern, c, who)
		}
	}
}

// walkOne calls one route as who with who's API key ("" for anonymous).
func (e *authzEnv) walkOne(t *testing.T, pattern string, c authzCase, who int) {
	t.Helper()
	method, url, body := e.request(t, pattern, c)
	if c.stream {
		h := http.Header{}
		if e.keys[who] != "" {
			h.Set("Authorization", "Bearer "+e.keys[who])
		}
		status := streamStatus(t, e.g.client, method, e.g.URL+url, h)
		e.check(t, method, url, c, callerNames[who], c.want[who], status, nil)
		return
	}
	r := e.g.do(method, url, e.keys[who], body)
	name := callerNames[who]
	if e.keys[who] == e.g.MasterKey {
		name = "the master key"
	}
	e.check(t, method, url, c, name, c.want[who], r.Status, r.Body)
}

// walkSession calls one route as who with who's signed-in session.
func (e *authzEnv) walkSession(t *testing.T, pattern string, c authzCase, who int) {
	t.Helper()
	method, url, body := e.request(t, pattern, c)
	var status int
	var resp []byte
	if c.stream {
		status = streamStatus(t, e.sessions[who].Client, method, e.g.URL+url, nil)
	} else if c.fresh {
		status, resp = apptest.Login(t, e.g.Gateway, e.emails[who], e.passwords[who]).Do(t, method, url, body)
		// Logging out everywhere ended the shared session too.
		e.sessions[who] = apptest.Login(t, e.g.Gateway, e.emails[who], e.passwords[who])
	} else {
		status, resp = e.sessions[who].Do(t, method, url, body)
	}
	e.check(t, method, url, c, callerNames[who]+" (session)", c.wantFor(true)[who], status, resp)
}

// request fills the route's path values from its fixture and gives a
// write an empty JSON object as its body.
func (e *authzEnv) request(t *testing.T, pattern string, c authzCase) (method, url string, body any) {
	t.Helper()
	method, path, _ := strings.Cut(pattern, " ")
	url = path
	if c.fixture != nil {
		vals := c.fixture(e)
		url = pathParam.ReplaceAllStringFunc(path, func(m string) string {
			v, ok := vals[m[1:len(m)-1]]
			if !ok {
				t.Fatalf("%s: no fixture value for %s", pattern, m)
			}
			return v
		})
	} else if pathParam.MatchString(path) {
		t.Fatalf("%s: the route has path values but no fixture", pattern)
	}
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = map[string]any{}
	}
	return method, url, body
}

// check compares what a caller got with what the table wants.
func (e *authzEnv) check(t *testing.T, method, url string, c authzCase, caller string, want outcome, status int, resp []byte) {
	t.Helper()
	got := allow
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		got = deny
	case status == http.StatusNotFound && c.fixture != nil:
		got = hidden
	}
	if got != want {
		t.Errorf("%s %s as %s: %s (status %d: %.200s), want %s", method, url, caller, got, status, resp, want)
	}
}

// TestCSRF: a cookie-authenticated state change needs the session's CSRF
// token, and a browser's cross-site request is refused even with it.
func TestCSRF(t *testing.T) {
	g := startGateway(t, nil)
	s := g.SignIn(t, chorus.RoleCustomer)
	cookies := s.Client.Jar.Cookies(mustURL(t, g.URL))
	if len(cookies) == 0 {
		t.Fatal("no session cookie after sign-in")
	}
	for _, tc := range []struct {
		name    string
		headers []string
		want    int
	}{
		{"NoToken", nil, http.StatusForbidden},
		{"WrongToken", []string{"X-CSRF-Token", "not-the-token"}, http.StatusForbidden},
		{"CrossSite", []string{"X-CSRF-Token", s.CSRF, "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"OK", []string{"X-CSRF-Token", s.CSRF}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append([]string{"Cookie", cookies[0].Name + "=" + cookies[0].Value}, tc.headers...)
			r := g.do("POST", "/api/keys", "", map[string]any{"name": "csrf-" + tc.name}, h...)
			if r.Status != tc.want {
				t.Errorf("POST /api/keys: %d %s, want %d", r.Status, r.Body, tc.want)
			}
		})
	}
	// Reads need no token.
	h := []string{"Cookie", cookies[0].Name + "=" + cookies[0].Value}
	if r := g.do("GET", "/api/keys", "", nil, h...); r.Status != http.StatusOK {
		t.Errorf("GET /api/keys without a CSRF token: %d, want 200", r.Status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestMetricsToken(t *testing.T) {
	const token = "scrape-token-0123456789"
	g := startGateway(t, func(c *config.Config) { c.MetricsToken = token })
	if r := g.do("GET", "/metrics", "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", r.Status)
	}
	if r := g.do("GET", "/metrics", "wrong-token-0123456789", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d, want 401", r.Status)
	}
	if r := g.do("GET", "/metrics", token, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "chorus_") {
		t.Errorf("/metrics with the token: %d %.100s, want 200 and metrics", r.Status, r.Body)
	}
}

// TestTeamScopedViews: a customer's usage and feedback lists show their own
// team's records — every member's — and nobody else's.
func TestTeamScopedViews(t *testing.T) {
	g := startGateway(t, nil)
	model := g.simulated(g.unique("scoped"), nil).Model.Name
	passwords := map[int64]string{}
	userA, pw := g.NewUser(t, chorus.RoleCustomer, 0)
	passwords[userA.ID] = pw
	memberA, pw := g.NewUser(t, chorus.RoleCustomer, userA.TeamID)
	passwords[memberA.ID] = pw
	userB, _ := g.NewUser(t, chorus.RoleCustomer, 0)
	keys := map[string]string{}
	for name, u := range map[string]*chorus.User{"a": userA, "memberA": memberA, "b": userB} {
		keys[name] = g.createKey(keySpec{Name: name, UserID: u.ID}).Key
	}
	answers := map[string]string{}
	for _, name := range []string{"a", "memberA", "b"} {
		r := g.do("POST", "/v1/chat/completions", keys[name], map[string]any{
			"model": model, "messages": []map[string]string{{"role": "user", "content": "hi from " + name}}})
		var out struct {
			ID string `json:"id"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil || out.ID == "" {
			t.Fatalf("chat as %s: %d %s", name, r.Status, r.Body)
		}
		answers[name] = out.ID
		if r := g.do("POST", "/v1/feedback", keys[name], map[string]any{"response_id": out.ID, "rating": "up"}); r.Status != http.StatusCreated {
			t.Fatalf("feedback as %s: %d %s", name, r.Status, r.Body)
		}
	}
	type row struct {
		TeamID     int64  `json:"team_id"`
		ResponseID string `json:"response_id"`
	}
	list := func(path, key string) []row {
		t.Helper()
		var out struct {
			Data []row `json:"data"`
		}
		r := g.do("GET", path, key, nil)
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		return out.Data
	}
	for _, path := range []string{"/api/usage", "/api/feedback"} {
		for _, tc := range []struct {
			who  string
			team int64
			want []string
		}{
			{"a", userA.TeamID, []string{"a", "memberA"}},
			{"memberA", userA.TeamID, []string{"a", "memberA"}},
			{"b", userB.TeamID, []string{"b"}},
		} {
			rows := list(path, keys[tc.who])
			got := map[string]bool{}
			for _, r := range rows {
				if r.TeamID != tc.team {
					t.Errorf("GET %s as %s: a record of team %d, want only team %d", path, tc.who, r.TeamID, tc.team)
				}
				got[r.ResponseID] = true
			}
			if len(rows) != len(tc.want) {
				t.Errorf("GET %s as %s: %d records, want %d", path, tc.who, len(rows), len(tc.want))
			}
			for _, w := range tc.want {
				if !got[answers[w]] {
					t.Errorf("GET %s as %s: missing %s's record", path, tc.who, w)
				}
			}
		}
	}
	// Two members rating one answer in the console (sessions: no key) each
	// keep their own feedback.
	for _, u := range []*chorus.User{userA, memberA} {
		s := apptest.Login(t, g.Gateway, u.Email, passwords[u.ID])
		if status, body := s.Do(t, "POST", "/v1/feedback", map[string]any{"response_id": answers["b"], "rating": "up"}); status != http.StatusNotFound {
			t.Errorf("session feedback on another team's answer: %d %s, want 404", status, body)
		}
		if status, body := s.Do(t, "POST", "/v1/feedback", map[string]any{"response_id": answers["a"], "rating": "down"}); status != http.StatusCreated {
			t.Errorf("session feedback as user %d: %d %s, want 201", u.ID, status, body)
		}
	}
	if got := len(list("/api/feedback", keys["a"])); got != 4 {
		t.Errorf("team A's feedback after two members rated in sessions: %d rows, want 4 (2 by key, 2 by session)", got)
	}
	// Feedback on another team's answer is refused as if it did not exist.
	if r := g.do("POST", "/v1/feedback", keys["b"], map[string]any{"response_id": answers["a"], "rating": "down"}); r.Status != http.StatusNotFound {
		t.Errorf("feedback on another team's answer: %d %s, want 404", r.Status, r.Body)
	}
}

// TestInviteRevocation: an owner lists and revokes their team's
// invitations; a revoked invitation cannot be used, a used one cannot be
// revoked, and a member who is not an owner can do neither.
func TestInviteRevocation(t *testing.T) {
	g := startGateway(t, nil)
	owner := g.SignIn(t, chorus.RoleCustomer)
	invite := func() (int64, string) {
		t.Helper()
		status, body := owner.Do(t, "POST", "/api/team/invites", map[string]any{})
		var out struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		if status != http.StatusCreated || json.Unmarshal(body, &out) != nil || out.Token == "" {
			t.Fatalf("invite: %d %s", status, body)
		}
		return out.ID, out.Token
	}
	signup := func(token string) int {
		return g.do("POST", "/api/auth/signup", "", map[string]any{"email": g.unique("invitee") + "@example.test",
			"password": "a long enough pass phrase 7", "name": "Invitee", "invite_token": token}).Status
	}
	revokedID, revokedToken := invite()
	usedID, usedToken := invite()
	if status, body := owner.Do(t, "DELETE", fmt.Sprintf("/api/team/invites/%d", revokedID), nil); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status := signup(revokedToken); status != http.StatusBadRequest {
		t.Errorf("sign-up with a revoked invitation: %d, want 400", status)
	}
	if status := signup(usedToken); status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("sign-up with a valid invitation: %d", status)
	}
	if status, body := owner.Do(t, "DELETE", fmt.Sprintf("/api/team/invites/%d", usedID), nil); status != http.StatusConflict {
		t.Errorf("revoke a used invitation: %d %s, want 409", status, body)
	}
	status, body := owner.Do(t, "GET", "/api/team/invites", nil)
	var list struct {
		Data []chorus.Invite `json:"data"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Data) != 2 {
		t.Fatalf("list: %d %s, want the 2 invitations", status, body)
	}
	for _, inv := range list.Data {
		switch inv.ID {
		case revokedID:
			if inv.RevokedAt == nil || inv.UsedAt != nil {
				t.Errorf("revoked invitation listed as %+v", inv)
			}
		case usedID:
			if inv.UsedAt == nil || inv.RevokedAt != nil {
				t.Errorf("used invitation listed as %+v", inv)
			}
		}
	}
	member, password := g.NewUser(t, chorus.RoleCustomer, owner.User.TeamID)
	ms := apptest.Login(t, g.Gateway, member.Email, password)
	if status, _ := ms.Do(t, "GET", "/api/team/invites", nil); status != http.StatusForbidden {
		t.Errorf("a member lists invitations: %d, want 403", status)
	}
}

// streamStatus makes a request whose answer may be an endless stream and
// returns its status, closing the stream once the headers are in.
func streamStatus(t *testing.T, c *http.Client, method, url string, h http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
