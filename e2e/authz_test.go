package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
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
	want [numCallers]outcome
	// fixture returns the path values for one call, creating what they
	// name (owned by team A where ownership applies). Nil: no path values.
	fixture func(e *authzEnv) map[string]string
}

var (
	publicRoute = authzCase{want: [numCallers]outcome{allow, allow, allow, allow}}
	userRoute   = authzCase{want: [numCallers]outcome{deny, allow, allow, allow}}
	adminRoute  = authzCase{want: [numCallers]outcome{deny, deny, deny, allow}}
	// teamRoute: a customer route on an object of team A; everyone else's
	// team, the admin's included, does not see it.
	teamRoute = authzCase{want: [numCallers]outcome{deny, hidden, allow, hidden}}
	// sessionRoute: for session cookies only; the walk's API keys are all refused.
	sessionRoute = authzCase{want: [numCallers]outcome{deny, deny, deny, deny}}
)

func (c authzCase) with(f func(e *authzEnv) map[string]string) authzCase {
	c.fixture = f
	return c
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
	return map[string]authzCase{
		"GET /livez":   publicRoute,
		"GET /readyz":  publicRoute,
		"GET /metrics": publicRoute,

		// The model API takes API keys only (sessions are for the consoles).
		"POST /v1/chat/completions": {want: [numCallers]outcome{deny, allow, allow, allow}},
		"POST /v1/messages":         {want: [numCallers]outcome{deny, allow, allow, allow}},
		"POST /v1/embeddings":       {want: [numCallers]outcome{deny, allow, allow, allow}},
		"GET /v1/models":            {want: [numCallers]outcome{deny, allow, allow, allow}},
		"GET /v1/models/{id...}":    {want: [numCallers]outcome{deny, allow, allow, allow}, fixture: func(e *authzEnv) map[string]string { return map[string]string{"id...": e.modelName} }},
		"POST /v1/feedback":         userRoute,

		"GET /api/keys":         userRoute,
		"POST /api/keys":        userRoute,
		"DELETE /api/keys/{id}": teamRoute.with(keyA),

		"GET /api/admin/models":              adminRoute,
		"POST /api/admin/models":             adminRoute,
		"GET /api/admin/models/{id}":         adminRoute.with(model),
		"PUT /api/admin/models/{id}":         adminRoute.with(model),
		"DELETE /api/admin/models/{id}":      adminRoute.with(model),
		"GET /api/admin/deployments":         adminRoute,
		"POST /api/admin/deployments":        adminRoute,
		"GET /api/admin/deployments/{id}":    adminRoute.with(deployment),
		"PUT /api/admin/deployments/{id}":    adminRoute.with(deployment),
		"DELETE /api/admin/deployments/{id}": adminRoute.with(deployment),
		"GET /api/admin/credentials":         adminRoute,
		"POST /api/admin/credentials":        adminRoute,
		"GET /api/admin/credentials/{id}":    adminRoute.with(credential),
		"PUT /api/admin/credentials/{id}":    adminRoute.with(credential),
		"DELETE /api/admin/credentials/{id}": adminRoute.with(credential),
		"GET /api/admin/keys":                adminRoute,
		"POST /api/admin/keys":               adminRoute,
		"DELETE /api/admin/keys/{id}":        adminRoute.with(keyA),
		"GET /api/admin/usage":               adminRoute,
		"GET /api/admin/registry":            adminRoute,
		"GET /api/admin/health":              adminRoute,
		"GET /api/admin/routes":              adminRoute,
		"POST /api/admin/routes":             adminRoute,
		"GET /api/admin/routes/{id}":         adminRoute.with(route),
		"PUT /api/admin/routes/{id}":         adminRoute.with(route),
		"DELETE /api/admin/routes/{id}":      adminRoute.with(route),
		"GET /api/admin/quality":             adminRoute,
		"GET /api/admin/quality/scores":      adminRoute,
		"GET /api/admin/feedback":            adminRoute,
		"GET /api/admin/audit":               adminRoute,

		// Credits: a customer sees their own team's; {id} of a team's balance is team A's.
		"GET /api/credits/balance":           userRoute,
		"GET /api/credits/ledger":            userRoute,
		"POST /api/credits/redeem":           userRoute,
		"GET /api/admin/teams/{id}/balance":  adminRoute.with(id(func(e *authzEnv) int64 { return e.userA.TeamID })),
		"GET /api/admin/ledger":              adminRoute,
		"GET /api/admin/ledger/check":        adminRoute,
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
		"POST /api/auth/signup":              publicRoute,
		"POST /api/auth/login":               publicRoute,
		"GET /api/auth/session":              userRoute,
		"POST /api/auth/logout":              sessionRoute,
		"POST /api/auth/logout-all":          sessionRoute,
		"GET /api/auth/sessions":             sessionRoute,
		"DELETE /api/auth/sessions/{id}":     sessionRoute.with(id(func(e *authzEnv) int64 { return 1 })),
		"POST /api/auth/password":            sessionRoute,
		"GET /api/team":                      userRoute,
		"PUT /api/team":                      userRoute,
		"POST /api/team/invites":             userRoute,
		"DELETE /api/team/members/{id}":      teamRoute.with(id(func(e *authzEnv) int64 { return e.memberA() })),
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
	b := &store.CodeBatch{Count: 1, Amount: 1, MaxUses: 1}
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
	e.userA = g.createUser(chorus.RoleCustomer)
	e.keys[custA] = g.createKey(keySpec{Name: "a", UserID: e.userA.ID}).Key
	e.keys[custB] = g.customer().Key
	adminUser := g.createUser(chorus.RoleAdmin)
	e.keys[admin] = g.createKey(keySpec{Name: "admin", UserID: adminUser.ID}).Key

	table := authzTable()
	registered := map[string]bool{}
	for _, r := range g.App.Server.Routes() {
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
	for _, pattern := range patterns {
		c := table[pattern]
		method, path, _ := strings.Cut(pattern, " ")
		for who := range numCallers {
			url := path
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
			var body any
			if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
				body = map[string]any{}
			}
			r := g.do(method, url, e.keys[who], body)
			got := allow
			switch {
			case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
				got = deny
			case r.Status == http.StatusNotFound && c.fixture != nil:
				got = hidden
			}
			if got != c.want[who] {
				t.Errorf("%s %s as %s: %s (status %d: %.200s), want %s",
					method, url, callerNames[who], got, r.Status, r.Body, c.want[who])
			}
		}
	}
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
