package chorus

import "time"

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
)

// ProviderKinds returns every provider kind Chorus knows, in a new slice
// the caller may keep or change.
func ProviderKinds() []string {
	return []string{ProviderOpenAI, ProviderAzure, ProviderAnthropic, ProviderGemini, ProviderSimulator}
}

// ValidProvider reports whether kind is one of ProviderKinds.
func ValidProvider(kind string) bool {
	switch kind {
	case ProviderOpenAI, ProviderAzure, ProviderAnthropic, ProviderGemini, ProviderSimulator:
		return true
	}
	return false
}

// Model is a public model name clients ask for. It maps to one or more
// deployments that can serve it.
type Model struct {
	ID            int64         `json:"id"`
	Name          string        `json:"name"` // what clients send as "model"
	Kind          string        `json:"kind"` // KindChat or KindEmbedding
	Description   string        `json:"description,omitempty"`
	ContextWindow int           `json:"context_window"`        // tokens; 0 means unknown
	MaxOutput     int           `json:"max_output_tokens"`     // default and ceiling for max_tokens; 0 means unknown
	Enabled       bool          `json:"enabled"`               //
	OwnedBy       string        `json:"owned_by,omitempty"`    // shown in /v1/models
	CreatedAt     time.Time     `json:"created_at"`            //
	UpdatedAt     time.Time     `json:"updated_at"`            //
	Deployments   []*Deployment `json:"deployments,omitempty"` // filled by reads that ask for them
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
	Weight        int               `json:"weight"`             // relative share of traffic
	Enabled       bool              `json:"enabled"`            //
	CreatedAt     time.Time         `json:"created_at"`         //
	UpdatedAt     time.Time         `json:"updated_at"`         //
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
