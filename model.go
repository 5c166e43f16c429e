package chorus

import (
	"regexp"
	"time"

	"github.com/chorusgw/chorus/internal/netguard"
)

// Model kinds.
const (
	KindChat      = "chat"
	KindEmbedding = "embedding"
)

// Provider kinds a deployment may use.
const (
	ProviderOpenAI    = "openai"    // any OpenAI-compatible API: OpenAI, vLLM, Ollama, Groq, Together, OpenRouter
	ProviderAzure     = "azure"     // Azure OpenAI deployments (api-key header, api-version query)
	ProviderAnthropic = "anthropic" // Anthropic Messages API
	ProviderGemini    = "gemini"    // Google Gemini generateContent API
	ProviderSimulator = "simulator" // the built-in simulator
	ProviderReplay    = "replay"    // recorded answers from a dataset file (internal/provider/replay)
)

// ProviderKinds returns every provider kind Chorus knows, in a new slice
// the caller may keep or change.
func ProviderKinds() []string {
	return []string{ProviderOpenAI, ProviderAzure, ProviderAnthropic, ProviderGemini, ProviderSimulator, ProviderReplay}
}

// ValidProvider reports whether kind is one of ProviderKinds.
func ValidProvider(kind string) bool {
	switch kind {
	case ProviderOpenAI, ProviderAzure, ProviderAnthropic, ProviderGemini, ProviderSimulator, ProviderReplay:
		return true
	}
	return false
}

// Model is a public model name clients ask for. It maps to one or more
// deployments that can serve it.
type Model struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"` // what clients send as "model"
	Kind          string `json:"kind"` // KindChat or KindEmbedding
	Description   string `json:"description,omitempty"`
	ContextWindow int    `json:"context_window"`    // tokens; 0 means unknown
	MaxOutput     int    `json:"max_output_tokens"` // default and ceiling for max_tokens; 0 means unknown
	// MaxTokensPolicy is what a request asking for more than MaxOutput
	// (or limits.max_tokens) gets: MaxTokensRefuse (the default) or
	// MaxTokensClamp.
	MaxTokensPolicy string        `json:"max_tokens_policy"`
	Enabled         bool          `json:"enabled"`               //
	OwnedBy         string        `json:"owned_by,omitempty"`    // shown in /v1/models
	CreatedAt       time.Time     `json:"created_at"`            //
	UpdatedAt       time.Time     `json:"updated_at"`            //
	Deployments     []*Deployment `json:"deployments,omitempty"` // filled by reads that ask for them
}

// Deployment is one place a model can be served from: a provider, the
// upstream model ID there, and the price we charge for it.
type Deployment struct {
	ID            int64             `json:"id"`
	ModelID       int64             `json:"model_id"`
	Name          string            `json:"name"`     // unique label, shown in x-chorus-deployment
	Provider      string            `json:"provider"` // one of ProviderKinds
	UpstreamModel string            `json:"upstream_model"`
	BaseURL       string            `json:"base_url,omitempty"`
	CredentialID  *int64            `json:"credential_id,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`  // extra upstream headers
	Settings      map[string]any    `json:"settings,omitempty"` // provider-specific (api_version, simulator knobs)
	InputPrice    int64             `json:"input_price"`        // micro-credits per million input tokens
	OutputPrice   int64             `json:"output_price"`       // micro-credits per million output tokens
	// Optional prices, micro-credits per million tokens; null charges
	// cached and cache-write input tokens at InputPrice and reasoning
	// tokens at OutputPrice (see Prices).
	CachedInputPrice *int64    `json:"cached_input_price"`
	CacheWritePrice  *int64    `json:"cache_write_price"`
	ReasoningPrice   *int64    `json:"reasoning_price"`
	Weight           int       `json:"weight"`     // relative share of traffic
	Enabled          bool      `json:"enabled"`    //
	CreatedAt        time.Time `json:"created_at"` //
	UpdatedAt        time.Time `json:"updated_at"` //
}

// Prices returns the deployment's prices.
func (d *Deployment) Prices() Prices {
	return Prices{Input: d.InputPrice, Output: d.OutputPrice,
		CachedInput: d.CachedInputPrice, CacheWrite: d.CacheWritePrice, Reasoning: d.ReasoningPrice}
}

// What a chat request asking for more output tokens than its model allows
// gets (Model.MaxTokensPolicy, RouteConfig.MaxTokensPolicy).
const (
	MaxTokensRefuse = "refuse" // a 400 naming max_tokens (the default)
	MaxTokensClamp  = "clamp"  // max_tokens lowered to the ceiling, and the X-Chorus-Max-Tokens-Clamped header
)

// validMaxTokensPolicy checks a max_tokens_policy value; field names it in
// the EINVALID error.
func validMaxTokensPolicy(field, v string) error {
	if v != MaxTokensRefuse && v != MaxTokensClamp {
		return Invalid(field, "%s must be %q or %q, got %q", field, MaxTokensRefuse, MaxTokensClamp, v)
	}
	return nil
}

// Credential is a secret used to call a provider. The secret itself is
// encrypted at rest and never returned by the API.
type Credential struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Provider  string    `json:"provider"`
	Secret    string    `json:"-"`    // plaintext, only in memory
	Hint      string    `json:"hint"` // last four characters, for humans
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Page asks for one page of a list, by cursor (the last ID seen).
type Page struct {
	After int64 // return items with ID > After
	Limit int   // at most this many; callers clamp to their maximum
}

// namePattern is the shape of every name clients and operators address a
// registry object by: models, routes, deployments and credentials.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$`)

// ValidName checks a registry name: 1 to 128 characters of letters, digits
// and . _ : / @ + -, starting with a letter or digit. field names the field
// in the EINVALID error.
func ValidName(field, v string) error {
	if !namePattern.MatchString(v) {
		return Invalid(field, "%s must be 1-128 characters of letters, digits and . _ : / @ + -, starting with a letter or digit; got %q", field, v)
	}
	return nil
}

// Bounds of the registry's fields.
const (
	maxTokenField       = 100_000_000
	maxDescription      = 2000
	maxOwnedBy          = 128
	maxUpstreamModel    = 256
	maxHeaderName       = 256
	maxHeaderValue      = 8192
	maxHeaders          = 64
	maxDeploymentWeight = 1_000_000
)

// Validate checks a model before it is stored and fills the default
// max_tokens_policy (refuse). Errors are EINVALID naming the field at fault.
func (m *Model) Validate() error {
	if err := ValidName("name", m.Name); err != nil {
		return err
	}
	if m.Kind != KindChat && m.Kind != KindEmbedding {
		return Invalid("kind", "kind must be %q or %q, got %q", KindChat, KindEmbedding, m.Kind)
	}
	if m.ContextWindow < 0 || m.ContextWindow > maxTokenField {
		return Invalid("context_window", "context_window must be between 0 and %d", maxTokenField)
	}
	if m.MaxOutput < 0 || m.MaxOutput > maxTokenField {
		return Invalid("max_output_tokens", "max_output_tokens must be between 0 and %d", maxTokenField)
	}
	if m.MaxTokensPolicy == "" {
		m.MaxTokensPolicy = MaxTokensRefuse
	}
	if err := validMaxTokensPolicy("max_tokens_policy", m.MaxTokensPolicy); err != nil {
		return err
	}
	if len(m.Description) > maxDescription || len(m.OwnedBy) > maxOwnedBy {
		return Invalid("description", "description must be at most %d and owned_by at most %d characters", maxDescription, maxOwnedBy)
	}
	return nil
}

// Validate checks a deployment before it is stored: its model, name,
// provider, upstream model, base URL (validBaseURL), headers
// (validHeaders), allow_private_network setting, prices (the optional ones
// too, when set) and weight.
// Whether the provider accepts its other settings is the adapter's to say.
// Errors are EINVALID naming the field at fault.
func (d *Deployment) Validate() error {
	if d.ModelID < 1 {
		return Invalid("model_id", "model_id is required")
	}
	if err := ValidName("name", d.Name); err != nil {
		return err
	}
	if !ValidProvider(d.Provider) {
		return Invalid("provider", "provider must be one of %v, got %q", ProviderKinds(), d.Provider)
	}
	if d.UpstreamModel == "" && d.Provider != ProviderSimulator { // the simulator answers as its deployment
		return Invalid("upstream_model", "upstream_model is required: the model ID at the provider")
	}
	if len(d.UpstreamModel) > maxUpstreamModel {
		return Invalid("upstream_model", "upstream_model must be at most %d characters", maxUpstreamModel)
	}
	if err := validBaseURL(d.BaseURL, netguard.Policy{AllowPrivate: true}); err != nil {
		return err
	}
	if err := validHeaders(d.Headers); err != nil {
		return err
	}
	if v, ok := d.Settings[SettingAllowPrivateNetwork]; ok {
		if _, isBool := v.(bool); !isBool {
			return Invalid("settings", "settings.%s must be true or false", SettingAllowPrivateNetwork)
		}
	}
	if d.InputPrice < 0 {
		return Invalid("input_price", "input_price must not be negative (micro-credits per million tokens)")
	}
	if d.OutputPrice < 0 {
		return Invalid("output_price", "output_price must not be negative (micro-credits per million tokens)")
	}
	for _, p := range []struct {
		field string
		price *int64
	}{{"cached_input_price", d.CachedInputPrice}, {"cache_write_price", d.CacheWritePrice}, {"reasoning_price", d.ReasoningPrice}} {
		if p.price != nil && *p.price < 0 {
			return Invalid(p.field, "%s must not be negative (micro-credits per million tokens); null charges it at the input or output price", p.field)
		}
	}
	if d.Weight < 0 || d.Weight > maxDeploymentWeight {
		return Invalid("weight", "weight must be between 0 and %d", maxDeploymentWeight)
	}
	return nil
}

// Validate checks a credential's name and provider (its secret is checked
// where it is sealed). Errors are EINVALID naming the field at fault.
func (c *Credential) Validate() error {
	if err := ValidName("name", c.Name); err != nil {
		return err
	}
	if !ValidProvider(c.Provider) {
		return Invalid("provider", "provider must be one of %v, got %q", ProviderKinds(), c.Provider)
	}
	return nil
}
