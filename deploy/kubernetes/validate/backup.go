package validate

import (
	"fmt"
	"path"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// checkBackup: one backup CronJob, never two runs at once, running
// "chorus backup --dir DIR" with the gateway's image, configuration file
// and database secrets, DIR on a PersistentVolumeClaim.
func (g *gateway) checkBackup() []error {
	if len(g.set.CronJobs) != 1 {
		return []error{fmt.Errorf("want exactly one backup CronJob, got %d", len(g.set.CronJobs))}
	}
	cj := g.set.CronJobs[0]
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("CronJob %s: "+format, append([]any{cj.Name}, args...)...))
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		bad("concurrencyPolicy is %q, want Forbid: two backups at once would write one directory", cj.Spec.ConcurrencyPolicy)
	}
	pod := &cj.Spec.JobTemplate.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		bad("want one container, got %d", len(pod.Containers))
		return errs
	}
	c := &pod.Containers[0]
	if c.Image != g.ctr.Image {
		bad("image %q differs from the gateway's %q: the backup must know the schema it copies", c.Image, g.ctr.Image)
	}
	if cm, key, err := g.set.configFile(pod, c); err != nil {
		bad("%v", err)
	} else if cm.Name != g.cfgMap.Name || key != ConfigFileKey {
		bad("reads ConfigMap %s key %s, the gateway reads %s key %s", cm.Name, key, g.cfgMap.Name, ConfigFileKey)
	}
	for _, name := range []string{"CHORUS_DATABASE_URL", "CHORUS_SECRET_KEY"} {
		mine, theirs := envSecret(c, name), envSecret(g.ctr, name)
		if mine == nil || theirs == nil || mine.Name != theirs.Name || mine.Key != theirs.Key {
			bad("%s must come from the same Secret key as the gateway's", name)
		}
	}
	dir, ok := backupDir(c.Args)
	if !ok {
		bad("args %q: want backup --dir DIR", c.Args)
		return errs
	}
	if err := g.set.checkPersistent(pod, c, dir); err != nil {
		bad("%v", err)
	}
	return errs
}

// backupDir returns DIR of "backup --dir DIR" (or --dir=DIR).
func backupDir(args []string) (string, bool) {
	if len(args) == 0 || args[0] != "backup" {
		return "", false
	}
	for i, a := range args[1:] {
		if a == "--dir" && i+2 < len(args) {
			return args[i+2], true
		}
		if v, ok := strings.CutPrefix(a, "--dir="); ok {
			return v, true
		}
	}
	return "", false
}

// checkPersistent reports whether dir is on a volume backed by a rendered
// PersistentVolumeClaim: on an emptyDir the backups would vanish with the
// job's pod.
func (s *Set) checkPersistent(pod *corev1.PodSpec, c *corev1.Container, dir string) error {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.PersistentVolumeClaim == nil {
				return fmt.Errorf("--dir %s is on volume %s, which is not a PersistentVolumeClaim", dir, v.Name)
			}
			for _, pvc := range s.PVCs {
				if pvc.Name == v.PersistentVolumeClaim.ClaimName {
					return nil
				}
			}
			return fmt.Errorf("--dir %s: PersistentVolumeClaim %s is not rendered", dir, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return fmt.Errorf("--dir %s: no volume is mounted there", dir)
}
