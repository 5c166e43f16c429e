// Package validate checks Chorus's Kubernetes manifests with no cluster at
// hand: it renders a kustomization as kubectl apply -k does (the
// kustomize library kubectl embeds), decodes every object strictly into
// the Kubernetes API types (an unknown or misspelt field is an error, as
// the API server's strict field validation would make it), and checks the
// invariants no schema can express: probes on the paths Chorus serves, a
// grace period longer than the drain, an autoscaler aimed at the
// Deployment, selectors that select the pods they mean, one image and one
// configuration for the gateway and its backup job.
//
// It is its own Go module so that the Kubernetes libraries stay out of
// Chorus's. Run it with:
//
//	cd deploy/kubernetes/validate && go test ./...
package validate
