package e2e_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nginxBinary returns Debian's nginx, or skips (fails when services are
// required: .ci/run installs it).
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
		t.Fatal("nginx is required (CHORUS_REQUIRE_SERVICES=1): apt-get install nginx")
	}
	t.Skip("nginx is not installed (apt-get install nginx)")
	return ""
}

// nginx is a running nginx in front of the Chorus instances, run as the
// current user from a temp dir (never the system's service).
type nginx struct {
	url    string
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
	stderr lockedBuffer
}

// startNginx runs deploy/nginx/chorus.conf with its upstream servers
// replaced by upstreams (in order: chorus-1, chorus-2, …), listening on a
// free loopback port, its logs, pid and temp files in a temp dir.
func startNginx(t *testing.T, upstreams []string) *nginx {
	t.Helper()
	bin := nginxBinary(t)
	n := &nginx{dir: t.TempDir(), done: make(chan struct{})}
	listen := freePort(t)
	n.url = "http://" + listen
	site := rewriteNginxConf(t, repoFile(t, "deploy/nginx/chorus.conf"), upstreams, listen, filepath.Join(n.dir, "access.log"))
	if err := os.WriteFile(filepath.Join(n.dir, "chorus.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := nginxMainConf(n.dir)
	if err := os.WriteFile(filepath.Join(n.dir, "nginx.conf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(n.dir, "error.log")
	n.cmd = exec.Command(bin, "-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"), "-e", errLog, "-g", "daemon off;")
	n.cmd.Stderr = &n.stderr
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers go with it
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.stop(t) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", listen, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case <-n.done:
			b, _ := os.ReadFile(errLog)
			t.Fatalf("nginx exited at start: %s\n%s", n.stderr.String(), b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s after 5s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends nginx (SIGTERM to the master, the group if it lingers) and logs
// its error log when the test failed.
func (n *nginx) stop(t *testing.T) {
	select {
	case <-n.done:
	default:
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.done
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
		t.Logf("nginx error log:\n%s", b)
	}
}

// nginxMainConf is the main configuration around the site file: one worker,
// everything nginx writes under dir.
func nginxMainConf(dir string) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;" // workers would otherwise be nobody, locked out of dir
	}
	return fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/chorus.conf;
}
`, user, dir)
}

var (
	nginxUpstreamServer = regexp.MustCompile(`(?m)^(\s*server\s+)chorus-\d+:8080(\s)`)
	nginxListen         = regexp.MustCompile(`(?m)^(\s*listen\s+)80;`)
	nginxAccessLog      = regexp.MustCompile(`(?m)^(\s*access_log\s+)\S+(\s+chorus;)`)
)

// rewriteNginxConf points the shipped site file at loopback: each
// chorus-N:8080 server at upstreams[N-1], the listen port, the access log.
// It fails when the file no longer has the lines it rewrites.
func rewriteNginxConf(t *testing.T, conf string, upstreams []string, listen, accessLog string) string {
	t.Helper()
	i := 0
	conf = nginxUpstreamServer.ReplaceAllStringFunc(conf, func(m string) string {
		sub := nginxUpstreamServer.FindStringSubmatch(m)
		if i >= len(upstreams) {
			t.Fatalf("deploy/nginx/chorus.conf has more upstream servers than the %d instances", len(upstreams))
		}
		i++
		return sub[1] + upstreams[i-1] + sub[2]
	})
	if i != len(upstreams) {
		t.Fatalf("deploy/nginx/chorus.conf has %d upstream servers chorus-N:8080, want %d", i, len(upstreams))
	}
	for _, r := range []struct {
		re   *regexp.Regexp
		with string
	}{{nginxListen, "${1}" + listen + ";"}, {nginxAccessLog, "${1}" + accessLog + "${2}"}} {
		if len(r.re.FindAllString(conf, -1)) != 1 {
			t.Fatalf("deploy/nginx/chorus.conf: want exactly one line matching %s", r.re)
		}
		conf = r.re.ReplaceAllString(conf, r.with)
	}
	return conf
}

// nginxAttempt is what nginx's access log says of one request.
type nginxAttempt struct {
	status    string
	upstreams []string // every instance tried, in order
}

var nginxLogLine = regexp.MustCompile(`"\S+ \S+ [^"]*" (\d+) .* rid=(\S+) upstream=(.*?) ustatus=`)

// attempts reads the access log: request ID → what nginx did.
func (n *nginx) attempts(t *testing.T) map[string]nginxAttempt {
	t.Helper()
	f, err := os.Open(filepath.Join(n.dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]nginxAttempt{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := nginxLogLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		// $upstream_addr: "a:1, b:2" when nginx tried a then b.
		out[m[2]] = nginxAttempt{status: m[1], upstreams: strings.Split(m[3], ", ")}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
