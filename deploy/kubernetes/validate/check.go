package validate

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ServedPaths are the paths Chorus answers without authentication for
// probes (internal/manage/server.go registers them; the main module's
// e2e/kubernetes_manifest_test.go checks that the probes in
// deployment.yaml get the health handlers' answer from a real gateway).
var ServedPaths = map[string]bool{"/livez": true, "/readyz": true}

// Environment variables whose values are secrets: they must come from a
// Secret, never from a literal in a manifest or a ConfigMap.
var secretEnv = []string{"CHORUS_DATABASE_URL", "CHORUS_REDIS_URL", "CHORUS_SECRET_KEY", "CHORUS_METRICS_TOKEN"}

// gateway is the Chorus Deployment of a Set with what its pods refer to,
// resolved once for the checks.
type gateway struct {
	set    *Set
	dep    *appsv1.Deployment
	pod    *corev1.PodSpec
	ctr    *corev1.Container
	cfgMap *corev1.ConfigMap
	cfg    gatewayConfig
}

// Check checks the invariants of a rendered Chorus install and returns
// every violation found, joined.
func Check(s *Set) error {
	g, err := resolve(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, check := range []func() []error{
		g.checkProbes, g.checkGracePeriod, g.checkPorts, g.checkAutoscaler,
		g.checkSelectors, g.checkResources, g.checkSecurity, g.checkSecrets,
		g.checkServiceMonitor, g.checkNetworkPolicies, g.checkBackup,
	} {
		errs = append(errs, check()...)
	}
	return errors.Join(errs...)
}

// resolve finds the one Deployment, its Chorus container and the
// configuration file that container reads (CHORUS_CONFIG, in a volume
// mounted from a ConfigMap).
func resolve(s *Set) (*gateway, error) {
	if len(s.Deployments) != 1 {
		return nil, fmt.Errorf("want exactly one Deployment, got %d", len(s.Deployments))
	}
	d := s.Deployments[0]
	g := &gateway{set: s, dep: d, pod: &d.Spec.Template.Spec}
	if len(g.pod.Containers) != 1 {
		return nil, objErr("Deployment", d.Name, "want one container, got %d", len(g.pod.Containers))
	}
	g.ctr = &g.pod.Containers[0]
	cm, key, err := s.configFile(g.pod, g.ctr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", "Deployment", d.Name, err)
	}
	if key != ConfigFileKey {
		return nil, objErr("Deployment", d.Name, "CHORUS_CONFIG names key %q of ConfigMap %s, want %s", key, cm.Name, ConfigFileKey)
	}
	g.cfgMap = cm
	env := func(name string) (string, bool) { return s.envValue(g.ctr, name) }
	if g.cfg, err = readConfig(cm, env); err != nil {
		return nil, err
	}
	return g, nil
}

// configFile follows CHORUS_CONFIG to the ConfigMap and key that hold the
// file: the variable's directory must be a volume mounted from a ConfigMap.
func (s *Set) configFile(pod *corev1.PodSpec, c *corev1.Container) (*corev1.ConfigMap, string, error) {
	file, ok := s.envValue(c, "CHORUS_CONFIG")
	if !ok {
		return nil, "", errors.New("container sets no CHORUS_CONFIG: Chorus would run on defaults")
	}
	dir, key := path.Split(file)
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cm := s.configMap(v.ConfigMap.Name)
				if cm == nil {
					return nil, "", fmt.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
				}
				return cm, key, nil
			}
		}
	}
	return nil, "", fmt.Errorf("CHORUS_CONFIG=%s: no ConfigMap volume is mounted at %s", file, dir)
}

// envValue returns the literal value of an environment variable as the
// container would see it: env first, then envFrom ConfigMaps.
func (s *Set) envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		if cm := s.configMap(from.ConfigMapRef.Name); cm != nil {
			if v, ok := cm.Data[from.Prefix+name]; ok {
				return v, true
			}
		}
	}
	return "", false
}

// envSecret returns the Secret key an environment variable is read from.
func envSecret(c *corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func (s *Set) configMap(name string) *corev1.ConfigMap {
	for _, cm := range s.ConfigMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

// containerPort finds the container port a probe or Service port names.
func containerPort(c *corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// checkProbes: liveness on /livez (a liveness probe on /readyz would
// restart every pod when the database goes away), readiness on /readyz,
// a startup probe, each on a container port.
func (g *gateway) checkProbes() []error {
	var errs []error
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		want  string
	}{
		{"startupProbe", g.ctr.StartupProbe, ""},
		{"livenessProbe", g.ctr.LivenessProbe, "/livez"},
		{"readinessProbe", g.ctr.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			errs = append(errs, fmt.Errorf("%s: want an httpGet probe", p.kind))
			continue
		}
		h := p.probe.HTTPGet
		switch {
		case !ServedPaths[h.Path]:
			errs = append(errs, fmt.Errorf("%s: path %q is not a path Chorus serves for probes (%v)", p.kind, h.Path, keys(ServedPaths)))
		case p.want != "" && h.Path != p.want:
			errs = append(errs, fmt.Errorf("%s: path %q, want %s", p.kind, h.Path, p.want))
		}
		if cp, ok := containerPort(g.ctr, h.Port); !ok {
			errs = append(errs, fmt.Errorf("%s: port %s is not a port of container %s", p.kind, h.Port.String(), g.ctr.Name))
		} else if int(cp.ContainerPort) != g.cfg.Port {
			errs = append(errs, fmt.Errorf("%s: port %s is %d, but Chorus listens on %d", p.kind, h.Port.String(), cp.ContainerPort, g.cfg.Port))
		}
	}
	return errs
}

// checkGracePeriod: the kubelet runs preStop, then sends SIGTERM, and
// kills the container terminationGracePeriodSeconds after it began; on
// SIGTERM Chorus keeps accepting for timeouts.pre_drain (readiness failing),
// then drains for up to timeouts.drain. The grace period must cover all
// three.
func (g *gateway) checkGracePeriod() []error {
	preStop, err := preStopDuration(g.ctr)
	if err != nil {
		return []error{err}
	}
	if g.pod.TerminationGracePeriodSeconds == nil {
		return []error{errors.New("terminationGracePeriodSeconds: unset (30 s default); set it above the preStop sleep plus timeouts.drain")}
	}
	grace := time.Duration(*g.pod.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + g.cfg.PreDrain + g.cfg.Drain; grace <= need {
		return []error{fmt.Errorf("terminationGracePeriodSeconds: %s is not longer than preStop %s + timeouts.pre_drain %s + timeouts.drain %s = %s: the kubelet would kill pods mid-drain",
			grace, preStop, g.cfg.PreDrain, g.cfg.Drain, need)}
	}
	return nil
}

// preStopDuration is how long the container's preStop hook sleeps.
func preStopDuration(c *corev1.Container) (time.Duration, error) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0, errors.New("preStop: unset; pods would start draining while endpoints still send them requests")
	}
	if s := c.Lifecycle.PreStop.Sleep; s != nil && s.Seconds > 0 {
		return time.Duration(s.Seconds) * time.Second, nil
	}
	return 0, errors.New("preStop: want a sleep action of at least one second (it needs no shell in the image)")
}

// checkPorts: Chorus listens on the container port named http; the
// Service sends to it.
func (g *gateway) checkPorts() []error {
	var errs []error
	cp, ok := containerPort(g.ctr, intstr.FromString("http"))
	if !ok {
		return []error{fmt.Errorf("container %s: no port named http", g.ctr.Name)}
	}
	if int(cp.ContainerPort) != g.cfg.Port {
		errs = append(errs, fmt.Errorf("container port http is %d, but Chorus listens on %d", cp.ContainerPort, g.cfg.Port))
	}
	if len(g.set.Services) != 1 {
		return append(errs, fmt.Errorf("want exactly one Service, got %d", len(g.set.Services)))
	}
	for _, sp := range g.set.Services[0].Spec.Ports {
		if _, ok := containerPort(g.ctr, sp.TargetPort); !ok {
			errs = append(errs, objErr("Service", g.set.Services[0].Name, "port %s: targetPort %s is not a container port", sp.Name, sp.TargetPort.String()))
		}
	}
	return errs
}

// objErr is a violation found in one object, named by kind and name.
func objErr(kind, name, format string, args ...any) error {
	return fmt.Errorf("%s %s: %s", kind, name, fmt.Sprintf(format, args...))
}

func keys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
