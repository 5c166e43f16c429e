package validate

import (
	"fmt"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// checkServiceMonitor: Prometheus scrapes /metrics on the gateway's
// Service port that leads to Chorus, with the token Chorus expects (the
// same Secret key as CHORUS_METRICS_TOKEN).
func (g *gateway) checkServiceMonitor() []error {
	if len(g.set.ServiceMonitors) != 1 {
		return []error{fmt.Errorf("want exactly one ServiceMonitor, got %d", len(g.set.ServiceMonitors))}
	}
	sm := g.set.ServiceMonitors[0]
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("ServiceMonitor %s: "+format, append([]any{sm.Name}, args...)...))
	}
	svcs := g.set.servicesSelected(&sm.Spec.Selector)
	if len(svcs) != 1 {
		bad("selector selects %d Services, want the gateway's one", len(svcs))
		return errs
	}
	token := envSecret(g.ctr, "CHORUS_METRICS_TOKEN")
	for i, ep := range sm.Spec.Endpoints {
		if ep.Path != "/metrics" {
			bad("endpoints[%d].path is %q, want /metrics", i, ep.Path)
		}
		if !g.servicePortReachesChorus(svcs[0], ep.Port) {
			bad("endpoints[%d].port %q is not a port of Service %s that leads to Chorus's http port", i, ep.Port, svcs[0].Name)
		}
		a := ep.Authorization
		switch {
		case token == nil:
			// reported by checkSecrets
		case a == nil || a.Credentials == nil:
			bad("endpoints[%d] has no authorization, but Chorus requires CHORUS_METRICS_TOKEN on /metrics", i)
		case a.Credentials.Name != token.Name || a.Credentials.Key != token.Key:
			bad("endpoints[%d] sends Secret %s key %s, but Chorus's CHORUS_METRICS_TOKEN is Secret %s key %s",
				i, a.Credentials.Name, a.Credentials.Key, token.Name, token.Key)
		}
	}
	return errs
}

// servicePortReachesChorus reports whether the Service port named name
// targets the container port Chorus listens on.
func (g *gateway) servicePortReachesChorus(svc *corev1.Service, name string) bool {
	for _, sp := range svc.Spec.Ports {
		if sp.Name == name {
			cp, ok := containerPort(g.ctr, sp.TargetPort)
			return ok && int(cp.ContainerPort) == g.cfg.Port
		}
	}
	return false
}

// egress is one port and protocol a policy lets pods reach.
type egress struct {
	proto corev1.Protocol
	port  int32
}

// checkNetworkPolicies: the gateway pods and the backup pods are each
// under a policy restricting ingress and egress; gateway ingress is on its
// http port; egress reaches DNS, PostgreSQL, Redis and HTTPS (the gateway)
// or DNS and PostgreSQL (the backup).
func (g *gateway) checkNetworkPolicies() []error {
	db, redis := g.databasePorts()
	dns := []egress{{corev1.ProtocolUDP, 53}, {corev1.ProtocolTCP, 53}}
	errs := g.checkPolicy("gateway", g.dep.Spec.Template.Labels, true, append(dns, egress{"TCP", db}, egress{"TCP", redis}, egress{"TCP", 443}))
	if l := g.backupPodLabels(); l != nil {
		errs = append(errs, g.checkPolicy("backup", l, false, append(dns, egress{"TCP", db}))...)
	}
	return errs
}

// checkPolicy checks the NetworkPolicies selecting pods: both directions
// restricted, ingress only on Chorus's http port (or none at all unless
// serving), egress to at least need.
func (g *gateway) checkPolicy(what string, pods map[string]string, serving bool, need []egress) []error {
	idx := g.set.policiesFor(pods)
	if len(idx) == 0 {
		return []error{fmt.Errorf("no NetworkPolicy selects the %s pods (labels %v)", what, pods)}
	}
	var errs []error
	allowed := map[egress]bool{}
	types := map[networkingv1.PolicyType]bool{}
	anyPort := false
	for _, i := range idx {
		p := g.set.NetworkPolicies[i]
		for _, t := range p.Spec.PolicyTypes {
			types[t] = true
		}
		if !serving && len(p.Spec.Ingress) > 0 {
			errs = append(errs, objErr("NetworkPolicy", p.Name, "lets traffic in to the %s pods, which serve nothing", what))
		}
		for _, r := range p.Spec.Ingress {
			if len(r.Ports) == 0 {
				errs = append(errs, objErr("NetworkPolicy", p.Name, "an ingress rule allows every port; allow Chorus's http port only"))
			}
			for _, port := range r.Ports {
				if port.Port == nil {
					continue
				}
				if cp, ok := containerPort(g.ctr, *port.Port); !ok || int(cp.ContainerPort) != g.cfg.Port {
					errs = append(errs, objErr("NetworkPolicy", p.Name, "ingress port %s is not Chorus's http port", port.Port.String()))
				}
			}
		}
		for _, r := range p.Spec.Egress {
			if len(r.Ports) == 0 {
				anyPort = true
			}
			for _, port := range r.Ports {
				proto := corev1.ProtocolTCP
				if port.Protocol != nil {
					proto = *port.Protocol
				}
				if port.Port != nil {
					allowed[egress{proto, port.Port.IntVal}] = true
				}
			}
		}
	}
	if !types[networkingv1.PolicyTypeIngress] || !types[networkingv1.PolicyTypeEgress] {
		errs = append(errs, fmt.Errorf("the %s pods' NetworkPolicies must restrict both Ingress and Egress", what))
	}
	for _, e := range need {
		if !anyPort && !allowed[e] {
			errs = append(errs, fmt.Errorf("the %s pods' NetworkPolicies do not allow egress to %s port %d", what, e.proto, e.port))
		}
	}
	return errs
}

// databasePorts returns the ports of the database and Redis URLs in the
// rendered Secret, or PostgreSQL's and Redis's defaults.
func (g *gateway) databasePorts() (db, redis int32) {
	db, redis = 5432, 6379
	for _, v := range []struct {
		env  string
		port *int32
	}{{"CHORUS_DATABASE_URL", &db}, {"CHORUS_REDIS_URL", &redis}} {
		ref := envSecret(g.ctr, v.env)
		if ref == nil {
			continue
		}
		sec := g.set.secret(ref.Name)
		if sec == nil {
			continue
		}
		raw, ok := sec.StringData[ref.Key]
		if !ok {
			raw = string(sec.Data[ref.Key])
		}
		if u, err := url.Parse(raw); err == nil && u.Port() != "" {
			if n, err := strconv.ParseInt(u.Port(), 10, 32); err == nil {
				*v.port = int32(n)
			}
		}
	}
	return db, redis
}
