package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/app/apptest"
)

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// process is a running chorus binary.
type process struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	err    error // set when done is closed
	url    string
}

// startProcess runs `chorus serve` with env and waits until /readyz answers.
func startProcess(t *testing.T, bin, listen string, env []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve"), done: make(chan struct{}), url: "http://" + listen}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("chorus stdout:\n%s\nchorus stderr:\n%s", p.stdout.String(), p.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("chorus exited before it was ready: %v\n%s", p.err, p.stderr.String())
		default:
		}
		if resp, err := httpClient.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chorus not ready after 10s\n%s", p.stderr.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T, within time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t, within)
}

// wait waits for the process to exit 0 within d.
func (p *process) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("chorus exited with %v, want status 0", p.err)
		}
	case <-time.After(d):
		t.Fatalf("chorus did not exit within %v of SIGTERM", d)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildChorus compiles the binary into a temp dir.
func buildChorus(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chorus")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/chorusgw/chorus/cmd/chorus").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// chorusEnv is the environment without any CHORUS_ variable of the
// caller's, plus vars.
func chorusEnv(vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") {
			env = append(env, kv)
		}
	}
	return append(env, vars...)
}

var (
	printedKey  = regexp.MustCompile(`(?m)^\s*API key:\s+(\S+)\s*$`)
	printedCurl = regexp.MustCompile(`(?ms)^\s*(curl .*?-d '[^']*')\s*$`)
)

// TestProcessShutdown runs the chorus binary: the first start prints
// credentials and a curl command that works as pasted; SIGTERM during a
// stream lets the stream finish, refuses new work, exits 0; and the
// stream's usage record survives a restart.
func TestProcessShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildChorus(t)
	data := t.TempDir()
	listen := freePort(t)
	env := chorusEnv("CHORUS_DATA_DIR="+data, "CHORUS_LISTEN="+listen, "CHORUS_MASTER_KEY="+apptest.MasterKey,
		"CHORUS_BOOTSTRAP=true", "CHORUS_TIMEOUTS_DRAIN=10s", "CHORUS_LOG_LEVEL=info")
	p := startProcess(t, bin, listen, env)

	// The credentials block, shown once.
	out := p.stdout.String()
	km := printedKey.FindStringSubmatch(out)
	cm := printedCurl.FindStringSubmatch(out)
	if km == nil || cm == nil {
		t.Fatalf("stdout has no API key or curl line:\n%s", out)
	}
	apiKey, curl := km[1], cm[1]
	if !strings.Contains(curl, apiKey) || !strings.Contains(curl, "/v1/chat/completions") {
		t.Errorf("curl command %q does not use the printed key and the chat endpoint", curl)
	}

	t.Run("CurlAsPrinted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := exec.CommandContext(ctx, "sh", "-c", curl).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("printed curl failed: %v\n%s\n%s", err, res, ee.Stderr)
			}
			t.Fatalf("printed curl failed: %v", err)
		}
		var cc struct {
			Object  string `json:"object"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(res, &cc); err != nil || cc.Object != "chat.completion" || len(cc.Choices) != 1 ||
			words(cc.Choices[0].Message.Content) == 0 || cc.Usage.CompletionTokens == 0 {
			t.Errorf("printed curl answered %s (%v), want a chat completion", res, err)
		}
	})

	// A slow stream, created through the admin API of the running binary.
	g := &gateway{t: t, Gateway: &apptest.Gateway{URL: p.url, MasterKey: apptest.MasterKey}}
	g.simulated("slow", map[string]any{"tokens_per_second": 20, "output_tokens": 30, "seed": 7})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"slow","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"go slowly"}]}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d", resp.StatusCode)
	}
	requestID := resp.Header.Get("X-Request-Id")

	type frameResult struct {
		content   int
		usage     int
		last      string
		readError error
	}
	firstToken := make(chan struct{})
	results := make(chan frameResult, 1)
	go func() {
		var r frameResult
		sc := bufio.NewScanner(resp.Body)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			r.last = line
			if line == "data: [DONE]" {
				continue
			}
			var c struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
				Usage *struct {
					CompletionTokens int `json:"completion_tokens"`
				} `json:"usage"`
				Error any `json:"error"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &c); err != nil || c.Error != nil {
				r.readError = fmt.Errorf("bad frame %q: %v", line, err)
				break
			}
			if c.Usage != nil {
				r.usage = c.Usage.CompletionTokens
			}
			if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
				r.content++
				if !signalled {
					signalled = true
					close(firstToken)
				}
			}
		}
		if r.readError == nil {
			r.readError = sc.Err()
		}
		results <- r
	}()

	select {
	case <-firstToken:
	case <-time.After(5 * time.Second):
		t.Fatal("no token within 5s")
	}
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New work is turned away quickly: either the listener is closed or
	// /readyz says we are draining.
	fresh := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	refused := false
	for time.Since(sigterm) < 1500*time.Millisecond {
		r, err := fresh.Get(p.url + "/readyz")
		if err != nil {
			refused = true
			break
		}
		r.Body.Close()
		if r.StatusCode == http.StatusServiceUnavailable {
			refused = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Error("a new connection got /readyz 200 for 1.5s after SIGTERM")
	}

	var r frameResult
	select {
	case r = <-results:
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight stream did not finish within 10s of SIGTERM")
	}
	if r.readError != nil || r.content != 30 || r.usage != 30 || r.last != "data: [DONE]" {
		t.Errorf("in-flight stream after SIGTERM: %d content chunks, usage %d, last frame %q, error %v; want 30, 30, data: [DONE], none",
			r.content, r.usage, r.last, r.readError)
	}
	p.wait(t, 10*time.Second)
	t.Logf("exited %v after SIGTERM", time.Since(sigterm).Round(time.Millisecond))

	// Restart on the same data: no second credentials block, and the
	// stream's usage is there.
	p2 := startProcess(t, bin, listen, env)
	if strings.Contains(p2.stdout.String(), "API key") {
		t.Errorf("second start printed credentials again:\n%s", p2.stdout.String())
	}
	g.Gateway.URL = p2.url
	var page usagePage
	g.mustAdmin("GET", "/api/admin/usage?limit=500", nil, http.StatusOK, &page)
	var found bool
	for _, u := range page.Data {
		if u.RequestID != requestID {
			continue
		}
		found = true
		if u.Status != 200 || !u.Stream || u.Model != "slow" || u.OutputTokens != 30 || u.Cost <= 0 {
			t.Errorf("usage of the drained stream = %+v, want status 200, stream, slow, 30 output tokens, a cost", u)
		}
	}
	if !found {
		t.Errorf("no usage record for the drained stream %s among %d records", requestID, len(page.Data))
	}
	if len(page.Data) != 2 {
		t.Errorf("usage records = %d, want 2 (the curl request and the stream): %+v", len(page.Data), page.Data)
	}
	p2.stop(t, 10*time.Second)
}
