package chorus

import "time"

// APIKey is a client credential. The secret is shown once at creation and
// stored only as a SHA-256 hash; Prefix is the visible start of the secret.
type APIKey struct {
	ID            int64      `json:"id"`
	Name          string     `json:"name"`
	Prefix        string     `json:"prefix"`
	Hash          []byte     `json:"-"`
	UserID        int64      `json:"user_id"`                  // the user the key belongs to
	TeamID        int64      `json:"team_id"`                  // the team whose credits and budgets the key spends
	Role          string     `json:"role"`                     // the owner's role, filled on load
	AllowedModels []string   `json:"allowed_models,omitempty"` // empty means every model
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastUsedAt    *time.Time `json:"last_used_at,omitempty"` // updated in batches; may lag by minutes
	// CacheTTLSeconds opts the key's requests into the response cache:
	// > 0 caches answers that many seconds, 0 leaves it to the route and
	// the config, < 0 opts out.
	CacheTTLSeconds int `json:"cache_ttl_s"`
}

// Roles.
const (
	RoleAdmin    = "admin"
	RoleCustomer = "customer"
)

// Active reports whether the key may be used at now.
func (k *APIKey) Active(now time.Time) bool {
	if k.RevokedAt != nil {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Allows reports whether the key may call the named model.
func (k *APIKey) Allows(model string) bool {
	if len(k.AllowedModels) == 0 {
		return true
	}
	for _, m := range k.AllowedModels {
		if m == model {
			return true
		}
	}
	return false
}

// Usage is the record of one request through the gateway.
type Usage struct {
	ID        int64  `json:"id"`
	RequestID string `json:"request_id"`
	// Key is the record's idempotency key, unique per request and set by
	// the gateway (the request ID is the caller's to choose and may repeat):
	// a record written twice — a batch retried after its commit was lost, a
	// spool replayed after a crash — is stored once. Only writes carry it.
	Key          string `json:"record_key,omitempty"`
	ResponseID   string `json:"response_id,omitempty"` // the ID the client saw in the answer (chatcmpl-…, msg_…)
	KeyID        int64  `json:"key_id"`
	UserID       int64  `json:"user_id"`
	TeamID       int64  `json:"team_id"`
	Model        string `json:"model"`      // public model name
	Deployment   string `json:"deployment"` // deployment name that answered ("" if none)
	Provider     string `json:"provider"`
	Endpoint     string `json:"endpoint"` // chat, messages, embeddings
	Stream       bool   `json:"stream"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	// Parts of InputTokens and OutputTokens priced apart: input read from
	// and written to the providers' prompt caches, output spent reasoning.
	CachedInputTokens int64   `json:"cached_input_tokens"`
	CacheWriteTokens  int64   `json:"cache_write_tokens"`
	ReasoningTokens   int64   `json:"reasoning_tokens"`
	LatencyMS         float64 `json:"latency_ms"`
	TTFTMS            float64 `json:"ttft_ms"` // time to first token; 0 for non-streaming
	Status            int     `json:"status"`  // HTTP status returned to the client
	ErrorCode         string  `json:"error_code,omitempty"`
	Cost              int64   `json:"cost"` // micro-credits, the sum of the attempts' costs
	// Revenue is what the team was billed for the request (micro-credits):
	// Cost when its key is billed, 0 for exempt keys and when billing is off.
	Revenue int64 `json:"revenue"`
	// ProviderCost is what the upstream calls cost at the deployments'
	// prices (micro-credits): the attempts' costs without a cache hit's
	// line, which called no provider.
	ProviderCost int64 `json:"provider_cost"`
	// Saved is what the cache or a cascade saved (micro-credits; see
	// docs/cost-monitoring.md): a cache hit's original answer's cost, or
	// what the answer would have cost at the cascade's strongest tier less
	// what the cascade's calls cost; 0 otherwise.
	Saved    int64 `json:"saved"`
	CacheHit bool  `json:"cache_hit"` // answered from the response cache
	// EnergyWh and CO2eGrams are the request's estimated energy (watt-hours)
	// and emissions (grams CO2e), filled by the usage writer's Energy hook.
	EnergyWh  float64        `json:"energy_wh"`
	CO2eGrams float64        `json:"co2e_g"`
	Route     string         `json:"route,omitempty"`    // the route asked for, when it is not a plain model
	Attempts  []UsageAttempt `json:"attempts,omitempty"` // every upstream call made, in order
	CreatedAt time.Time      `json:"created_at"`
}

// User is a person (or automation) that signs in and owns keys. Every user
// belongs to one team.
type User struct {
	ID           int64  `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	Role         string `json:"role"`
	TeamID       int64  `json:"team_id"`
	TeamRole     string `json:"team_role"` // TeamOwner or TeamMember
	PasswordHash string `json:"-"`
	// MFAEnabled is true once the user confirmed a TOTP enrolment.
	MFAEnabled bool       `json:"mfa_enabled"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// KeyFilter narrows ListKeys.
type KeyFilter struct {
	UserID *int64 // only this user's keys
	TeamID *int64 // only this team's keys
}
