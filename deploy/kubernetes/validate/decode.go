package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Set is every object one kustomization renders, decoded into its API type.
type Set struct {
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Services        []*corev1.Service
	ServiceAccounts []*corev1.ServiceAccount
	PVCs            []*corev1.PersistentVolumeClaim
	Deployments     []*appsv1.Deployment
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	NetworkPolicies []*networkingv1.NetworkPolicy
	CronJobs        []*batchv1.CronJob
	ServiceMonitors []*monitoringv1.ServiceMonitor
}

// Load renders the kustomization in dir and decodes what it renders.
func Load(dir string) (*Set, error) {
	out, err := Render(dir)
	if err != nil {
		return nil, err
	}
	return Decode(out)
}

// Render builds the kustomization in dir as kubectl apply -k would.
func Render(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m.AsYaml()
}

// Decode decodes a stream of YAML documents strictly: each must be a kind
// the manifests are expected to hold, with no field its type lacks and no
// key twice.
func Decode(stream []byte) (*Set, error) {
	s := &Set{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		if err := s.add(doc); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
	}
}

// add decodes one document into the type its apiVersion and kind name.
func (s *Set) add(doc []byte) error {
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	tm := head.TypeMeta
	var obj any
	var keep func()
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		obj, keep = o, func() { s.ConfigMaps = append(s.ConfigMaps, o) }
	case "v1 Secret":
		o := &corev1.Secret{}
		obj, keep = o, func() { s.Secrets = append(s.Secrets, o) }
	case "v1 Service":
		o := &corev1.Service{}
		obj, keep = o, func() { s.Services = append(s.Services, o) }
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		obj, keep = o, func() { s.ServiceAccounts = append(s.ServiceAccounts, o) }
	case "v1 PersistentVolumeClaim":
		o := &corev1.PersistentVolumeClaim{}
		obj, keep = o, func() { s.PVCs = append(s.PVCs, o) }
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		obj, keep = o, func() { s.Deployments = append(s.Deployments, o) }
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		obj, keep = o, func() { s.HPAs = append(s.HPAs, o) }
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		obj, keep = o, func() { s.PDBs = append(s.PDBs, o) }
	case "networking.k8s.io/v1 NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		obj, keep = o, func() { s.NetworkPolicies = append(s.NetworkPolicies, o) }
	case "batch/v1 CronJob":
		o := &batchv1.CronJob{}
		obj, keep = o, func() { s.CronJobs = append(s.CronJobs, o) }
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := &monitoringv1.ServiceMonitor{}
		obj, keep = o, func() { s.ServiceMonitors = append(s.ServiceMonitors, o) }
	default:
		return fmt.Errorf("unexpected kind %q of apiVersion %q: add it to validate.Set and check it", tm.Kind, tm.APIVersion)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return fmt.Errorf("%s %s: %w", tm.Kind, head.Metadata.Name, err)
	}
	keep()
	return nil
}
