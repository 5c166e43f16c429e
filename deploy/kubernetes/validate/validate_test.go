package validate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chorusgw/chorus/deploy/kubernetes/validate"
)

const (
	base       = "../base"
	production = "../overlays/production"
	adapter    = "../prometheus-adapter"
)

// mustLoad renders and decodes a kustomization, failing the test on error.
func mustLoad(t *testing.T, dir string) *validate.Set {
	t.Helper()
	s, err := validate.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestManifests(t *testing.T) {
	for _, dir := range []string{base, production} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s := mustLoad(t, dir)
			if err := validate.Check(s); err != nil {
				t.Errorf("%s:\n%v", dir, err)
			}
			if err := validate.CheckAdapter(mustLoad(t, adapter), s); err != nil {
				t.Errorf("%s with %s:\n%v", dir, adapter, err)
			}
		})
	}
}

// The base's Secret is a template: every value must be a placeholder
// Chorus refuses, never something that looks like a real secret.
func TestBaseSecretIsATemplate(t *testing.T) {
	s := mustLoad(t, base)
	if len(s.Secrets) != 1 {
		t.Fatalf("base renders %d Secrets, want the one template", len(s.Secrets))
	}
	for k, v := range s.Secrets[0].StringData {
		if !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("Secret %s key %s = %q: not a CHANGE-ME placeholder", s.Secrets[0].Name, k, v)
		}
	}
	if len(s.Secrets[0].Data) > 0 {
		t.Errorf("Secret %s has base64 data; keep the template readable (stringData)", s.Secrets[0].Name)
	}
}

// The production overlay must not carry the template: kubectl apply -k
// would overwrite the real Secret with placeholders.
func TestProductionRendersNoSecret(t *testing.T) {
	s := mustLoad(t, production)
	if len(s.Secrets) != 0 {
		t.Errorf("production renders %d Secrets, want none (created from the secret store)", len(s.Secrets))
	}
	for _, d := range s.Deployments {
		if d.Namespace != "chorus" {
			t.Errorf("Deployment %s in namespace %q, want chorus", d.Name, d.Namespace)
		}
	}
}

// Each mutation breaks one invariant of the base; Check must name it.
func TestCheckCatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*validate.Set)
		want   string
	}{
		{"GraceShorterThanDrain", func(s *validate.Set) {
			s.Deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(60))
		}, "terminationGracePeriodSeconds: 1m0s is not longer than preStop 5s + timeouts.pre_drain 5s + timeouts.drain 1m0s"},
		{"PreDrainBeyondGrace", func(s *validate.Set) {
			delete(configMap(s, "chorus-env").Data, "CHORUS_TIMEOUTS_PRE_DRAIN")
			setConfig(s, "drain: 60s", "drain: 60s\n  pre_drain: 30s")
		}, "timeouts.pre_drain 30s + timeouts.drain 1m0s = 1m35s"},
		{"DrainLongerThanGrace", func(s *validate.Set) {
			setConfig(s, "drain: 60s", "drain: 120s")
		}, "timeouts.drain 2m0s"},
		{"DrainOverriddenByEnv", func(s *validate.Set) { setEnv(gw(s), "CHORUS_TIMEOUTS_DRAIN", "100s") }, "timeouts.drain 1m40s"},
		{"PreDrainOverriddenByEnv", func(s *validate.Set) {
			configMap(s, "chorus-env").Data["CHORUS_TIMEOUTS_PRE_DRAIN"] = "40s"
		}, "timeouts.pre_drain 40s"},
		{"NoPreStop", func(s *validate.Set) { gw(s).Lifecycle = nil }, "preStop: unset"},
		{"ProbeOnUnservedPath", func(s *validate.Set) {
			gw(s).ReadinessProbe.HTTPGet.Path = "/healthz"
		}, `readinessProbe: path "/healthz" is not a path Chorus serves`},
		{"LivenessOnReadyz", func(s *validate.Set) {
			gw(s).LivenessProbe.HTTPGet.Path = "/readyz"
		}, `livenessProbe: path "/readyz", want /livez`},
		{"ProbeOnUnknownPort", func(s *validate.Set) {
			gw(s).StartupProbe.HTTPGet.Port = intstr.FromString("admin")
		}, "startupProbe: port admin is not a port of container"},
		{"ListenOtherPort", func(s *validate.Set) {
			setConfig(s, `listen: ":8080"`, `listen: ":9090"`)
		}, "container port http is 8080, but Chorus listens on 9090"},
		{"NoDrainInFile", func(s *validate.Set) {
			setConfig(s, "drain: 60s", "read: 60s")
		}, "timeouts.drain must be set explicitly"},
		{"HPATargetsOther", func(s *validate.Set) {
			s.HPAs[0].Spec.ScaleTargetRef.Name = "chorus-old"
		}, `scaleTargetRef is apps/v1 Deployment "chorus-old"`},
		{"ReplicasBesideHPA", func(s *validate.Set) {
			s.Deployments[0].Spec.Replicas = ptr(int32(3))
		}, "replicas is set (3) although an autoscaler owns it"},
		{"OnePodMinimum", func(s *validate.Set) { s.HPAs[0].Spec.MinReplicas = ptr(int32(1)) }, "minReplicas must be at least 2"},
		{"NoRequestRate", func(s *validate.Set) { s.HPAs[0].Spec.Metrics = s.HPAs[0].Spec.Metrics[:1] }, "no Pods metric"},
		{"NoScaleDownWindow", func(s *validate.Set) { s.HPAs[0].Spec.Behavior = nil }, "stabilizationWindowSeconds must be at least 60"},
		{"ServiceSelectsNothing", func(s *validate.Set) {
			s.Services[0].Spec.Selector["app.kubernetes.io/component"] = "api"
		}, "Service chorus: selector"},
		{"ServiceSelectsBackupPods", func(s *validate.Set) {
			delete(s.Services[0].Spec.Selector, "app.kubernetes.io/component")
		}, "Service chorus: selector app.kubernetes.io/name=chorus also selects the backup job's pods"},
		{"PDBSelectsNothing", func(s *validate.Set) {
			s.PDBs[0].Spec.Selector.MatchLabels = map[string]string{"app": "chorus"}
		}, "PodDisruptionBudget chorus: selector app=chorus does not select the gateway pods"},
		{"SpreadSelectsNothing", func(s *validate.Set) {
			s.Deployments[0].Spec.Template.Spec.TopologySpreadConstraints[1].LabelSelector.MatchLabels["app.kubernetes.io/name"] = "other"
		}, "topologySpreadConstraints[1] (topology.kubernetes.io/zone)"},
		{"ServiceTargetsUnknownPort", func(s *validate.Set) {
			s.Services[0].Spec.Ports[0].TargetPort = intstr.FromInt32(9000)
		}, "port http: targetPort 9000 is not a container port"},
		{"RequestAboveLimit", func(s *validate.Set) {
			gw(s).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
		}, "cpu request 3 is above its limit 2"},
		{"NoMemoryLimit", func(s *validate.Set) {
			delete(gw(s).Resources.Limits, corev1.ResourceMemory)
		}, "want both a request and a limit for memory"},
		{"GOMEMLIMITAboveLimit", func(s *validate.Set) { setEnv(gw(s), "GOMEMLIMIT", "600MiB") }, "GOMEMLIMIT 600MiB is not below the memory limit 512Mi"},
		{"GOMEMLIMITUnparsable", func(s *validate.Set) { setEnv(gw(s), "GOMEMLIMIT", "435M") }, `GOMEMLIMIT "435M"`},
		{"RootFilesystemWritable", func(s *validate.Set) {
			gw(s).SecurityContext.ReadOnlyRootFilesystem = ptr(false)
		}, "readOnlyRootFilesystem must be true"},
		{"RunsAsRoot", func(s *validate.Set) {
			s.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		}, "CronJob chorus-backup: securityContext.runAsNonRoot must be true"},
		{"KeepsCapabilities", func(s *validate.Set) {
			gw(s).SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"}
		}, "capabilities must drop ALL"},
		{"SecretInClear", func(s *validate.Set) { setEnv(gw(s), "CHORUS_SECRET_KEY", "0123456789abcdef") }, "CHORUS_SECRET_KEY must come from a Secret"},
		{"SecretInConfigFile", func(s *validate.Set) {
			setConfig(s, "bootstrap: false", "bootstrap: false\nmaster_key: sk-0123456789abcdef")
		}, "sets master_key, a secret"},
		{"MissingSecretKey", func(s *validate.Set) { delete(s.Secrets[0].StringData, "redis-url") }, "refers to key redis-url, which Secret chorus-secrets lacks"},
		{"ScrapeWithoutToken", func(s *validate.Set) {
			s.ServiceMonitors[0].Spec.Endpoints[0].Authorization = nil
		}, "has no authorization, but Chorus requires CHORUS_METRICS_TOKEN"},
		{"ScrapeWrongPath", func(s *validate.Set) { s.ServiceMonitors[0].Spec.Endpoints[0].Path = "/metricz" }, `path is "/metricz", want /metrics`},
		{"ScrapeWrongPort", func(s *validate.Set) { s.ServiceMonitors[0].Spec.Endpoints[0].Port = "web" }, `port "web" is not a port of Service chorus`},
		{"NoEgressToRedis", func(s *validate.Set) {
			egress := policy(s, "chorus-gateway").Spec.Egress
			egress[1].Ports = egress[1].Ports[:1]
		}, "the gateway pods' NetworkPolicies do not allow egress to TCP port 6379"},
		{"IngressOnAnyPort", func(s *validate.Set) { policy(s, "chorus-gateway").Spec.Ingress[0].Ports = nil }, "an ingress rule allows every port"},
		{"IngressToBackup", func(s *validate.Set) {
			policy(s, "chorus-backup").Spec.Ingress = policy(s, "chorus-gateway").Spec.Ingress
		}, "NetworkPolicy chorus-backup: lets traffic in to the backup pods"},
		{"BackupPodsUnpoliced", func(s *validate.Set) {
			s.NetworkPolicies = []*networkingv1.NetworkPolicy{policy(s, "chorus-gateway")}
		}, "no NetworkPolicy selects the backup pods"},
		{"IngressOnlyPolicy", func(s *validate.Set) {
			p := policy(s, "chorus-gateway")
			p.Spec.PolicyTypes = p.Spec.PolicyTypes[:1]
		}, "must restrict both Ingress and Egress"},
		{"BackupsConcurrent", func(s *validate.Set) { s.CronJobs[0].Spec.ConcurrencyPolicy = "Allow" }, `concurrencyPolicy is "Allow", want Forbid`},
		{"BackupOtherImage", func(s *validate.Set) { backup(s).Image = "chorus:old" }, `image "chorus:old" differs from the gateway's`},
		{"BackupOtherDatabase", func(s *validate.Set) { backup(s).Env[0].ValueFrom.SecretKeyRef.Key = "backup-url" }, "CHORUS_DATABASE_URL must come from the same Secret key as the gateway's"},
		{"BackupToEmptyDir", func(s *validate.Set) { backup(s).Args = []string{"backup", "--dir", "/tmp"} }, "--dir /tmp is on volume tmp, which is not a PersistentVolumeClaim"},
		{"BackupNotABackup", func(s *validate.Set) { backup(s).Args = []string{"serve"} }, `args ["serve"]: want backup --dir DIR`},
		{"NoConfigFile", func(s *validate.Set) { gw(s).EnvFrom = nil }, "sets no CHORUS_CONFIG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustLoad(t, base)
			tc.mutate(s)
			err := validate.Check(s)
			if err == nil {
				t.Fatalf("Check passed; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check:\n%v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

// A misspelt field, a key given twice and an unknown kind are errors, in a
// single document and through kustomize's rendering.
func TestDecodeIsStrict(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"UnknownField", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selektor: {a: b}}\n", `Service x: error unmarshaling JSON: while decoding JSON: json: unknown field "selektor"`},
		{"DuplicateKey", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n", `key "data" already set`},
		{"UnknownKind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", `unexpected kind "Pod"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := validate.Decode([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("ThroughKustomize", func(t *testing.T) {
		dir := copyDir(t, base)
		edit(t, filepath.Join(dir, "deployment.yaml"), "readinessProbe:", "readynessProbe:")
		_, err := validate.Load(dir)
		if err == nil || !strings.Contains(err.Error(), `Deployment chorus: error unmarshaling JSON: while decoding JSON: json: unknown field "readynessProbe"`) {
			t.Errorf("Load = %v, want the misspelt readynessProbe reported", err)
		}
	})
}

func TestCheckAdapterCatches(t *testing.T) {
	app := mustLoad(t, base)
	for _, tc := range []struct{ name, old, new, want string }{
		{"OtherMetricName", "as: chorus_requests_per_second", "as: chorus_rps", "no adapter rule serves chorus_requests_per_second"},
		{"SeriesNotMatched", "matches: ^chorus_requests_total$", "matches: ^chorus_http_requests_total$", "does not match the series chorus_requests_total"},
		{"NotPerPod", "pod: {resource: pod}", "pod: {resource: service}", "must map the label pod to the resource pod"},
		{"CounterNotRated", "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m]))", "sum(<<.Series>>{<<.LabelMatchers>>})", "metricsQuery lacks rate("},
		{"MisspeltKey", "metricsQuery:", "metricQuery:", `unknown field "metricQuery"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, adapter)
			edit(t, filepath.Join(dir, "adapter-config.yaml"), tc.old, tc.new)
			err := validate.CheckAdapter(mustLoad(t, dir), app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckAdapter = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// gw returns the gateway container; backup the backup job's.
func gw(s *validate.Set) *corev1.Container { return &s.Deployments[0].Spec.Template.Spec.Containers[0] }
func backup(s *validate.Set) *corev1.Container {
	return &s.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
}

// configMap returns the rendered ConfigMap name.
func configMap(s *validate.Set, name string) *corev1.ConfigMap {
	for _, cm := range s.ConfigMaps {
		if cm.Name == name {
			return cm
		}
	}
	panic("no ConfigMap " + name)
}

// policy returns the rendered NetworkPolicy name.
func policy(s *validate.Set, name string) *networkingv1.NetworkPolicy {
	for _, p := range s.NetworkPolicies {
		if p.Name == name {
			return p
		}
	}
	panic("no NetworkPolicy " + name)
}

// setConfig edits the configuration file in the chorus-config ConfigMap.
func setConfig(s *validate.Set, old, new string) {
	for _, cm := range s.ConfigMaps {
		if text, ok := cm.Data[validate.ConfigFileKey]; ok {
			if !strings.Contains(text, old) {
				panic("chorus.yaml has no " + old)
			}
			cm.Data[validate.ConfigFileKey] = strings.Replace(text, old, new, 1)
		}
	}
}

// setEnv sets a literal environment variable, replacing any definition.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// copyDir copies the files of dir into a temp dir.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// edit replaces old with new once in a file, failing if old is absent.
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}
