package validate

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// secretSettings are configuration keys whose values are secrets; the
// configuration file, which is a ConfigMap, must not hold them.
var secretSettings = []string{"database_url", "redis_url", "secret_key", "master_key", "metrics_token"}

// pods returns the pod specs the checks cover: the gateway's and the
// backup job's.
func (g *gateway) pods() map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{"Deployment " + g.dep.Name: g.pod}
	for _, cj := range g.set.CronJobs {
		out["CronJob "+cj.Name] = &cj.Spec.JobTemplate.Spec.Template.Spec
	}
	return out
}

// containers returns the gateway container and the backup job's.
func (g *gateway) containers() []*corev1.Container {
	out := []*corev1.Container{g.ctr}
	for _, cj := range g.set.CronJobs {
		spec := &cj.Spec.JobTemplate.Spec.Template.Spec
		for i := range spec.Containers {
			out = append(out, &spec.Containers[i])
		}
	}
	return out
}

// checkSecurity: non-root, the runtime's seccomp profile, no service
// account token, and in every container a read-only root file system, no
// privilege escalation and no capabilities.
func (g *gateway) checkSecurity() []error {
	var errs []error
	pods := g.pods()
	for _, what := range slices.Sorted(maps.Keys(pods)) {
		pod := pods[what]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{what}, args...)...))
		}
		psc := pod.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			bad("securityContext.runAsNonRoot must be true")
		}
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("securityContext.seccompProfile must be RuntimeDefault")
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			bad("automountServiceAccountToken must be false: Chorus does not call the Kubernetes API")
		}
		for _, c := range pod.Containers {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				bad("container %s: no securityContext", c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				bad("container %s: readOnlyRootFilesystem must be true", c.Name)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				bad("container %s: allowPrivilegeEscalation must be false", c.Name)
			case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
				bad("container %s: capabilities must drop ALL and add none", c.Name)
			}
		}
	}
	return errs
}

// checkSecrets: secrets reach Chorus only from a Secret: the gateway reads
// each secret variable from a secretKeyRef, no ConfigMap or literal sets
// one, the configuration file holds none, and every key referenced exists
// in the Secret when the Secret is part of the render.
func (g *gateway) checkSecrets() []error {
	var errs []error
	for _, name := range secretEnv {
		if envSecret(g.ctr, name) == nil {
			errs = append(errs, fmt.Errorf("container %s: %s must come from a Secret (secretKeyRef)", g.ctr.Name, name))
		}
		for _, c := range g.containers() {
			if _, ok := g.set.envValue(c, name); ok {
				errs = append(errs, fmt.Errorf("container %s: %s is set in clear (a literal or a ConfigMap)", c.Name, name))
			}
		}
	}
	var file map[string]any
	if err := yaml.Unmarshal([]byte(g.cfgMap.Data[ConfigFileKey]), &file); err != nil {
		return append(errs, err)
	}
	for _, k := range secretSettings {
		if _, ok := file[k]; ok {
			errs = append(errs, fmt.Errorf("ConfigMap %s: %s sets %s, a secret: move it to the Secret", g.cfgMap.Name, ConfigFileKey, k))
		}
	}
	for _, c := range g.containers() {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				errs = append(errs, g.set.checkSecretKey(c.Name, e.Name, e.ValueFrom.SecretKeyRef)...)
			}
		}
	}
	return errs
}

// checkSecretKey reports a reference to a key the rendered Secret lacks.
// Without any Secret in the render (it is created out of band), there is
// nothing to compare with.
func (s *Set) checkSecretKey(ctr, env string, ref *corev1.SecretKeySelector) []error {
	if len(s.Secrets) == 0 {
		return nil
	}
	sec := s.secret(ref.Name)
	if sec == nil {
		return []error{fmt.Errorf("container %s: %s refers to Secret %s, which is not rendered", ctr, env, ref.Name)}
	}
	if !hasKey(sec, ref.Key) && (ref.Optional == nil || !*ref.Optional) {
		return []error{fmt.Errorf("container %s: %s refers to key %s, which Secret %s lacks", ctr, env, ref.Key, ref.Name)}
	}
	return nil
}

func (s *Set) secret(name string) *corev1.Secret {
	for _, sec := range s.Secrets {
		if sec.Name == name {
			return sec
		}
	}
	return nil
}

func hasKey(s *corev1.Secret, key string) bool {
	_, inData := s.Data[key]
	_, inString := s.StringData[key]
	return inData || inString
}
