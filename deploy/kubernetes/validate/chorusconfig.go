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
// module's tests load this very file with internal/config.
type chorusConfig struct {
	Listen   string `json:"listen"`
	Timeouts struct {
		Drain    string `json:"drain"`
		PreDrain string `json:"pre_drain"`
	} `json:"timeouts"`
}

// gatewayConfig is what the invariants read from the configuration file.
type gatewayConfig struct {
	Port     int           // the port of listen
	Drain    time.Duration // timeouts.drain
	PreDrain time.Duration // timeouts.pre_drain: 0 (Chorus's default) when unset
}

// readConfig parses the configuration file in cm. The drain must be stated
// explicitly: the grace-period rule is checked against the file, not
// against a default that may change.
func readConfig(cm *corev1.ConfigMap) (gatewayConfig, error) {
	text, ok := cm.Data[ConfigFileKey]
	if !ok {
		return gatewayConfig{}, fmt.Errorf("ConfigMap %s has no key %s", cm.Name, ConfigFileKey)
	}
	var c chorusConfig
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		return gatewayConfig{}, fmt.Errorf("ConfigMap %s: %s: %w", cm.Name, ConfigFileKey, err)
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return gatewayConfig{}, fmt.Errorf("%s: listen %q: %w", ConfigFileKey, c.Listen, err)
	}
	var g gatewayConfig
	if g.Port, err = strconv.Atoi(port); err != nil {
		return gatewayConfig{}, fmt.Errorf("%s: listen %q: port is not a number", ConfigFileKey, c.Listen)
	}
	if c.Timeouts.Drain == "" {
		return gatewayConfig{}, fmt.Errorf("%s: timeouts.drain must be set explicitly (the grace period is checked against it)", ConfigFileKey)
	}
	if g.Drain, err = time.ParseDuration(c.Timeouts.Drain); err != nil {
		return gatewayConfig{}, fmt.Errorf("%s: timeouts.drain: %w", ConfigFileKey, err)
	}
	if c.Timeouts.PreDrain != "" {
		if g.PreDrain, err = time.ParseDuration(c.Timeouts.PreDrain); err != nil {
			return gatewayConfig{}, fmt.Errorf("%s: timeouts.pre_drain: %w", ConfigFileKey, err)
		}
	}
	return g, nil
}
