package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
)

const masterKey = "sk-chorus-footprint-master-0123456789abcdef"

// gateway is the Chorus process under measurement.
type gateway struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	logf *os.File
}

// serveMock serves a mock upstream on loopback; delay > 0 makes its
// streams slow (16 chunks, delay before each).
func serveMock(delay time.Duration) (*httptest.Server, error) {
	s := httptest.NewUnstartedServer(mockupstream.New(mockupstream.Options{Chunks: 16, ChunkDelay: delay}))
	s.Config.ReadHeaderTimeout = 10 * time.Second
	s.Start()
	return s, nil
}

// startGateway copies the binary under a name of its own and starts it on
// a free loopback port with a fresh SQLite data dir.
func startGateway(ctx context.Context, o options) (*gateway, error) {
	dir, err := os.MkdirTemp("", "chorus-footprint-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "gateway-under-test")
	b, err := os.ReadFile(o.chorus)
	if err != nil {
		return nil, fmt.Errorf("read %s (run make build first): %w", o.chorus, err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil { // #nosec G306 G703 -- an executable the benchmark runs from its own temporary directory: it needs the execute bit
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "chorus.log")) // #nosec G304 -- a log file in the benchmark's own temporary directory
	if err != nil {
		return nil, err
	}
	g := &gateway{url: "http://" + addr, dir: dir, logf: logf}
	g.cmd = exec.Command(bin, "serve") // #nosec G204 -- the benchmark starts the binary it copied, with a fixed argument
	g.cmd.Dir, g.cmd.Stdout, g.cmd.Stderr = dir, logf, logf
	g.cmd.Env = append(os.Environ(), "CHORUS_LISTEN="+addr, "CHORUS_DATA_DIR="+filepath.Join(dir, "data"),
		"CHORUS_MASTER_KEY="+masterKey, "CHORUS_BOOTSTRAP=true", "CHORUS_LOG_LEVEL=warn", "CHORUS_CONFIG=",
		"CHORUS_UPSTREAMS_ALLOW_PRIVATE_NETWORKS=true") // the mock upstream is on loopback
	g.cmd.Env = append(g.cmd.Env, o.env...)
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	if err := g.waitReady(ctx, 60*time.Second); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

func (g *gateway) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("chorus not ready within %v: %s", limit, g.tail())
}

// stop ends the gateway (SIGTERM, then SIGKILL) and removes its dir.
func (g *gateway) stop() {
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = g.cmd.Process.Kill()
			<-done
		}
	}
	g.logf.Close()
	os.RemoveAll(g.dir)
}

func (g *gateway) tail() string {
	b, _ := os.ReadFile(g.logf.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// memory is one reading of the gateway's memory.
type memory struct {
	RSS        int64 `json:"rss_bytes"`         // VmRSS
	HeapInuse  int64 `json:"heap_inuse_bytes"`  // go_memstats_heap_inuse_bytes
	StackInuse int64 `json:"stack_inuse_bytes"` // go_memstats_stack_inuse_bytes
	Goroutines int64 `json:"goroutines"`
}

// memory reads RSS from /proc and the Go figures from /metrics.
func (g *gateway) memory(ctx context.Context) (memory, error) {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			m.RSS = kb * 1024
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	want := map[string]*int64{"go_memstats_heap_inuse_bytes": &m.HeapInuse,
		"go_memstats_stack_inuse_bytes": &m.StackInuse, "go_goroutines": &m.Goroutines}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if p := want[name]; ok && p != nil {
			f, _ := strconv.ParseFloat(val, 64)
			*p = int64(f)
		}
	}
	return m, sc.Err()
}

// cpu is the gateway's user+system CPU time so far.
func (g *gateway) cpu() (time.Duration, error) { return procCPU(g.cmd.Process.Pid) }

// procCPU reads utime+stime of a process from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3; utime and stime are fields 14 and 15
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ
}

// machineBusy is the CPU time all CPUs spent on user, nice, system and
// steal work so far (/proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for _, i := range []int{1, 2, 3, 8} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100
}

func numCPU() int { return runtime.NumCPU() }

// admin calls the admin API with the master key.
type admin struct{ base string }

func (g *gateway) admin() admin { return admin{base: g.url} }

func (a admin) do(ctx context.Context, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+masterKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// provision creates a customer with credits and a key, and two models on
// the mocks: footprint-fast (instant) and footprint-slow (slow streams).
func provision(ctx context.Context, a admin, fastURL, slowURL string) (string, error) {
	var user struct {
		ID     int64 `json:"id"`
		TeamID int64 `json:"team_id"`
	}
	if err := a.do(ctx, "/api/admin/users", map[string]any{"email": "footprint@example.test", "name": "Footprint",
		"role": "customer", "password": "correct horse battery staple footprint"}, &user); err != nil {
		return "", err
	}
	if err := a.do(ctx, "/api/admin/credits/grant", map[string]any{"team_id": user.TeamID,
		"amount": 10_000_000 * chorus.MicroPerCredit, "memo": "footprint", "idempotency_key": "footprint-grant"}, nil); err != nil {
		return "", err
	}
	var cred struct {
		ID int64 `json:"id"`
	}
	if err := a.do(ctx, "/api/admin/credentials", map[string]any{"name": "mock", "provider": "openai", // #nosec G101 -- the benchmark's mock upstream key, accepted only by its local mock
		"secret": "sk-mock-upstream-0123456789"}, &cred); err != nil {
		return "", err
	}
	for name, base := range map[string]string{"footprint-fast": fastURL, "footprint-slow": slowURL} {
		var model struct {
			ID int64 `json:"id"`
		}
		if err := a.do(ctx, "/api/admin/models", map[string]any{"name": name, "kind": "chat",
			"context_window": 128000, "max_output_tokens": 4096}, &model); err != nil {
			return "", err
		}
		if err := a.do(ctx, "/api/admin/deployments", map[string]any{"model_id": model.ID, "name": name + "-mock",
			"provider": "openai", "upstream_model": "mock-model", "base_url": base, "credential_id": cred.ID,
			"input_price": 150_000, "output_price": 600_000,
			"settings": map[string]any{"allow_private_network": true}, // the mock listens on loopback
		}, nil); err != nil {
			return "", err
		}
	}
	var key struct {
		Key string `json:"key"`
	}
	err := a.do(ctx, "/api/admin/keys", map[string]any{"name": "footprint", "user_id": user.ID}, &key)
	return key.Key, err
}
