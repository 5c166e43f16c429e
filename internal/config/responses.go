package config

import "time"

// Hosted tool policies (responses.hosted_tools).
const (
	// HostedToolsDrop removes hosted tools (web_search, file_search,
	// code_interpreter, computer use …) from a Responses request that goes
	// to an upstream other than OpenAI's Responses API, and names them in
	// the X-Chorus-Dropped-Tools response header: agents that always offer
	// them keep working.
	HostedToolsDrop = "drop"
	// HostedToolsRefuse answers such a request 400, naming the tool.
	HostedToolsRefuse = "refuse"
)

// Responses configures the Responses API (POST /v1/responses).
type Responses struct {
	// HostedTools is what happens to hosted tools Chorus cannot run when
	// the deployment is not OpenAI's Responses API: drop (default) or
	// refuse.
	HostedTools string `yaml:"hosted_tools"`
	// Retention is how long stored responses (and their input items) are
	// kept for previous_response_id and GET /v1/responses/{id}; a purge
	// runs every PurgeInterval. OpenAI keeps them 30 days.
	Retention     time.Duration `yaml:"retention"`
	PurgeInterval time.Duration `yaml:"purge_interval"`
}

// DefaultResponses is the Responses API's default configuration.
func DefaultResponses() Responses {
	return Responses{HostedTools: HostedToolsDrop, Retention: 30 * 24 * time.Hour, PurgeInterval: time.Hour}
}

func (r Responses) errors() []error {
	var errs problems
	if r.HostedTools != HostedToolsDrop && r.HostedTools != HostedToolsRefuse {
		errs.add("responses.hosted_tools", "must be drop or refuse, got %q", r.HostedTools)
	}
	if r.Retention < time.Minute {
		errs.add("responses.retention", "must be at least 1m, got %s", r.Retention)
	}
	if r.PurgeInterval < time.Second {
		errs.add("responses.purge_interval", "must be at least 1s, got %s", r.PurgeInterval)
	}
	return errs
}
