package validate

import (
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// ConfigFileKey is the key of the chorus-config ConfigMap that holds
// Chorus's configuration file.
const ConfigFileKey = "chorus.yaml"

// chorusConfig is the part of Chorus's configuration file the invariants
// depend on. Chorus itself reads the whole file strictly; the main
// module's e2e/kubernetes_manifest_test.go loads this very file with
// internal/config.
type chorusConfig struct {
	Listen   string `json:"listen"`
	Timeouts struct {
		Drain    string `json:"drain"`
		PreDrain string `json:"pre_drain"`
	} `json:"timeouts"`
}

// gatewayConfig is what the invariants read from the configuration, with
// the container's CHORUS_* environment applied over the file as Chorus
// applies it.
type gatewayConfig struct {
	Port     int           // the port of listen
	Drain    time.Duration // timeouts.drain
	PreDrain time.Duration // timeouts.pre_drain: 0 (Chorus's default) when unset
}

// readConfig reads the configuration file in cm and the overrides in env
// (a variable's value and whether it is set). The drain must be stated
// explicitly: the grace-period rule is checked against the manifests, not
// against a default that may change.
func readConfig(cm *corev1.ConfigMap, env func(string) (string, bool)) (gatewayConfig, error) {
	text, ok := cm.Data[ConfigFileKey]
	if !ok {
		return gatewayConfig{}, fmt.Errorf("ConfigMap %s has no key %s", cm.Name, ConfigFileKey)
	}
	var c chorusConfig
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		return gatewayConfig{}, fmt.Errorf("ConfigMap %s: %s: %w", cm.Name, ConfigFileKey, err)
	}
	for name, field := range map[string]*string{
		"CHORUS_LISTEN": &c.Listen, "CHORUS_TIMEOUTS_DRAIN": &c.Timeouts.Drain, "CHORUS_TIMEOUTS_PRE_DRAIN": &c.Timeouts.PreDrain,
	} {
		if v, ok := env(name); ok {
			*field = v
		}
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return gatewayConfig{}, fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	var g gatewayConfig
	if g.Port, err = strconv.Atoi(port); err != nil {
		return gatewayConfig{}, fmt.Errorf("listen %q: the port is not a number", c.Listen)
	}
	if c.Timeouts.Drain == "" {
		return gatewayConfig{}, fmt.Errorf("timeouts.drain must be set explicitly, in %s or CHORUS_TIMEOUTS_DRAIN (the grace period is checked against it)", ConfigFileKey)
	}
	if g.Drain, err = time.ParseDuration(c.Timeouts.Drain); err != nil {
		return gatewayConfig{}, fmt.Errorf("timeouts.drain: %w", err)
	}
	if c.Timeouts.PreDrain != "" {
		if g.PreDrain, err = time.ParseDuration(c.Timeouts.PreDrain); err != nil {
			return gatewayConfig{}, fmt.Errorf("timeouts.pre_drain: %w", err)
		}
	}
	return g, nil
}
