package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"
)

// fakeRoot writes files (path → content) under a temp dir.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64 // 0: no limit
	}{
		{"V2", map[string]string{
			"proc/self/cgroup":            "0::/\n",
			"sys/fs/cgroup/memory.max":    "536870912\n",
			"sys/fs/cgroup/cpu.max":       "max 100000\n",
			"sys/fs/cgroup/memory.high":   "max\n",
			"sys/fs/cgroup/unrelated.txt": "1\n",
		}, 512 << 20},
		{"V2Max", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0},
		{"V2NestedAncestorSmaller", map[string]string{
			"proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
			"sys/fs/cgroup/kubepods/pod1/memory.max":     "268435456\n",
			"sys/fs/cgroup/kubepods/memory.max":          "1073741824\n",
		}, 256 << 20},
		{"V2NamespaceRootOnly", map[string]string{ // the host's path is not mounted; the namespace root is
			"proc/self/cgroup":         "0::/system.slice/chorus.service\n",
			"sys/fs/cgroup/memory.max": "1000000000\n",
		}, 1000000000},
		{"V1", map[string]string{
			"proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "402653184\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
		}, 384 << 20},
		{"V1Unlimited", map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0},
		{"HybridSmallestWins", map[string]string{
			"proc/self/cgroup": "4:cpuset,memory:/x\n0::/\n",
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": "300000000\n",
			"sys/fs/cgroup/memory.max":                     "200000000\n",
		}, 200000000},
		{"Garbage", map[string]string{
			"proc/self/cgroup":         "nonsense\n0::/\n",
			"sys/fs/cgroup/memory.max": "lots\n",
		}, 0},
		{"NoCgroupFile", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cgroupMemoryLimit(fakeRoot(t, tc.files))
			if tc.want == 0 {
				if ok {
					t.Fatalf("limit = %d, want none", got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("limit = %d, %v; want %d", got, ok, tc.want)
			}
		})
	}
}

func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	root := fakeRoot(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "1000000000\n",
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	noEnv := func(string) string { return "" }

	t.Run("FromCgroup", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		if got, want := setMemoryLimit(root, noEnv, log), int64(900000000); got != want {
			t.Fatalf("set %d, want %d", got, want)
		}
		if got := debug.SetMemoryLimit(-1); got != 900000000 {
			t.Fatalf("runtime limit = %d, want 900000000", got)
		}
	})
	t.Run("OperatorWins", func(t *testing.T) {
		debug.SetMemoryLimit(math.MaxInt64)
		env := func(k string) string {
			if k == "GOMEMLIMIT" {
				return "100MiB"
			}
			return ""
		}
		if got := setMemoryLimit(root, env, log); got != 0 {
			t.Fatalf("set %d with GOMEMLIMIT given, want nothing", got)
		}
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Fatalf("runtime limit changed to %d", got)
		}
	})
	t.Run("NoLimit", func(t *testing.T) {
		if got := setMemoryLimit(t.TempDir(), noEnv, log); got != 0 {
			t.Fatalf("set %d without a cgroup limit", got)
		}
	})
}

func TestShouldRelease(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name                           string
		free, objects, live, allocated uint64
		want                           bool
	}{
		{"IdleAfterBurst", 100 * mb, 640 * mb, 300 * mb, 1 * mb, true},
		{"IdleFreeOnly", 500 * mb, 60 * mb, 55 * mb, 0, true},
		{"UnderLoad", 100 * mb, 640 * mb, 300 * mb, 900 * mb, false},
		{"IdleNothingToGive", 10 * mb, 60 * mb, 58 * mb, 0, false},
		{"IdleAfterRelease", 0, 45 * mb, 45 * mb, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shouldRelease(tc.free, tc.objects, tc.live, tc.allocated); got != tc.want {
				t.Fatalf("shouldRelease(%d, %d, %d, %d) = %v, want %v", tc.free, tc.objects, tc.live, tc.allocated, got, tc.want)
			}
		})
	}
}

func TestReleaseIdleMemoryStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { releaseIdleMemory(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("releaseIdleMemory did not return after its context ended")
	}
}
