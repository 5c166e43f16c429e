package config

// Upstreams configures where deployments may send requests. Chorus never
// connects to link-local and cloud metadata addresses (169.254.0.0/16,
// fe80::/10, fd00:ec2::254, metadata.google.internal, …), unspecified,
// multicast or broadcast ones, whatever is set here; and never follows an
// upstream's redirect. See docs/upstreams.md.
type Upstreams struct {
	// AllowPrivateNetworks lets every deployment reach loopback and private
	// addresses (127.0.0.0/8, ::1, 10/8, 172.16/12, 192.168/16,
	// fc00::/7, 100.64/10): a gateway in front of on-premises model
	// servers. Off by default: a deployment's base URL is then a way into
	// the operator's network only where the deployment itself opts in
	// (settings.allow_private_network: true).
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// ReplayDir is the directory replay deployments (provider "replay")
	// read their recorded datasets from; a deployment's settings.file must
	// lie inside it. Empty (the default): replay deployments are refused.
	ReplayDir string `yaml:"replay_dir"`
}
