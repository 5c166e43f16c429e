package main

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// memoryLimitShare is the part of the container's memory limit Chorus
// gives the Go runtime as its soft limit when the operator has not set
// GOMEMLIMIT: the collector works harder as the heap nears it instead of
// the kernel killing the process, and the rest covers what the runtime
// does not count (stacks' guard pages, the binary, cgo's SQLite pages).
const memoryLimitShare = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to
// memoryLimitShare of the container's memory limit (cgroup v2 memory.max
// or v1 memory.limit_in_bytes, the smallest on the process's cgroup path)
// unless GOMEMLIMIT is set, which wins. It returns the limit it set, 0 if
// none. root is "/" but in tests.
func setMemoryLimit(root string, getenv func(string) string, log *slog.Logger) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit, ok := cgroupMemoryLimit(root)
	if !ok {
		return 0
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	log.Info("memory limit from the container", "cgroup_limit_bytes", limit, "gomemlimit_bytes", soft)
	return soft
}

// cgroupMemoryLimit returns the smallest memory limit set on the process's
// cgroup or any of its ancestors, in cgroup v2 or v1 (a hybrid host has
// both), and false when there is none.
func cgroupMemoryLimit(root string) (int64, bool) {
	f, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup")) // #nosec G304 -- a fixed path under root ("/" but in tests)
	if err != nil {
		return 0, false
	}
	best := int64(math.MaxInt64)
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		// A cgroup namespace mounts the process's own cgroup at the root
		// while /proc/self/cgroup may name the host's path: every ancestor
		// is tried, the mount's root included.
		for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
			if n, ok := readLimit(filepath.Join(root, dir, p, file)); ok && n < best {
				best = n
			}
			if p == "/" {
				break
			}
		}
	}
	return best, best != math.MaxInt64
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads a cgroup memory limit file: a byte count, or "max" (v2)
// or a page-rounded 2^63 (v1) for no limit.
func readLimit(name string) (int64, bool) {
	b, err := os.ReadFile(name) // #nosec G304 G703 -- a cgroup file under a fixed root ("/" but in tests)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}

// releaseEvery is how often serve checks for memory to give back.
const releaseEvery = 10 * time.Second

// releaseFloor is the least free heap worth a collection to give back.
const releaseFloor = 64 << 20

// releaseIdleMemory gives the operating system back what a burst left
// behind once the process is idle, checking every releaseEvery until ctx
// ends. Go's background scavenger returns free memory slowly, and with no
// allocation no collection runs to free the burst's garbage at all (Go
// forces one only every two minutes): after 10,000 streams ended, RSS
// stayed at its peak. When less than 5 % of the heap was allocated since
// the last check (idle) and the garbage and free heap together are over
// releaseFloor, it runs debug.FreeOSMemory (a collection and a full
// scavenge) once. Under load it does nothing.
func releaseIdleMemory(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},    // free, not yet returned
		{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
		{Name: "/gc/heap/live:bytes"},                // live at the last collection
		{Name: "/gc/heap/allocs:bytes"},              // allocated, cumulative
	}
	metrics.Read(samples)
	lastAllocs := samples[3].Value.Uint64()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		free, objects, live, allocs := samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[2].Value.Uint64(), samples[3].Value.Uint64()
		if shouldRelease(free, objects, live, allocs-lastAllocs) {
			debug.FreeOSMemory()
			log.Debug("returned idle memory to the OS", "free_bytes", free, "heap_objects_bytes", objects, "live_bytes", live)
		}
		metrics.Read(samples[3:]) // FreeOSMemory's own work does not count
		lastAllocs = samples[3].Value.Uint64()
	}
}

// shouldRelease reports whether a forced collection and scavenge is worth
// it: idle (allocated under 5 % of the heap since the last check: a
// metrics scrape or a trickle of requests, not load) with
// more than releaseFloor of garbage and free heap to give back.
func shouldRelease(free, objects, live, allocated uint64) bool {
	garbage := uint64(0)
	if objects > live {
		garbage = objects - live
	}
	return allocated < objects/20 && free+garbage > releaseFloor
}
