package config

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// kubernetesDir holds the Kubernetes manifests (deploy/kubernetes).
const kubernetesDir = "../../deploy/kubernetes"

// envOutsideConfig are the CHORUS_* variables read outside Config.
var envOutsideConfig = map[string]string{
	"CHORUS_CONFIG": "cmd/chorus: the configuration file every command reads",
}

var chorusEnv = regexp.MustCompile(`\bCHORUS_[A-Z0-9_]+\b`)

// Every CHORUS_* name in the Kubernetes manifests (an env entry, a
// ConfigMap key loaded with envFrom, a comment telling the operator what
// to set) must be one Chorus reads: a misspelt variable is ignored
// silently, leaving the setting at its default.
func TestKubernetesEnvNamesAreKnown(t *testing.T) {
	known := knownEnv()
	used := manifestEnv(t)
	if len(used) == 0 {
		t.Fatalf("no CHORUS_* name found under %s", kubernetesDir)
	}
	for _, name := range slices.Sorted(maps.Keys(used)) {
		t.Run(name, func(t *testing.T) {
			if known[name] {
				return
			}
			t.Errorf("%s (in %s) is not a variable Chorus reads", name, used[name])
		})
	}
}

// The check itself: a name Config does not have is reported.
func TestKubernetesEnvNamesCatchMisspelling(t *testing.T) {
	known := knownEnv()
	for _, name := range []string{"CHORUS_DATABASE_URL", "CHORUS_TIMEOUTS_DRAIN", "CHORUS_CONFIG"} {
		if !known[name] {
			t.Errorf("%s should be known", name)
		}
	}
	for _, name := range []string{"CHORUS_DB_URL", "CHORUS_TIMEOUT_DRAIN", "CHORUS_ROUTES"} {
		if known[name] {
			t.Errorf("%s should not be known", name)
		}
	}
}

// knownEnv returns every variable applyEnv reads, by the rule it reads
// them with, and those read elsewhere.
func knownEnv() map[string]bool {
	known := map[string]bool{}
	cfg := Default()
	walk(reflect.ValueOf(&cfg).Elem(), "", func(key string, f reflect.Value) {
		if f.Kind() != reflect.Slice && f.Kind() != reflect.Map {
			known[envName(key)] = true
		}
	})
	for name := range envOutsideConfig {
		known[name] = true
	}
	return known
}

// manifestEnv returns every CHORUS_* name in the manifests' YAML files,
// each with the first file it appears in.
func manifestEnv(t *testing.T) map[string]string {
	t.Helper()
	used := map[string]string{}
	err := filepath.WalkDir(kubernetesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(kubernetesDir, path)
		for _, name := range chorusEnv.FindAllString(string(b), -1) {
			if _, ok := used[name]; !ok {
				used[name] = rel
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return used
}
