package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process: the mock or Chorus.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // file holding its stdout and stderr
	done chan error
}

// start runs path with args and env (added to ours), logging to dir/name.log.
func start(name, dir, path string, args, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath) // #nosec G304 -- a log file in the benchmark's own temporary directory
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...) // #nosec G204 -- the benchmark starts the binaries it built, with arguments it chose
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Our own process group, so a Ctrl-C to the terminal reaches us first and
	// we stop the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	return p, nil
}

// stop sends SIGTERM and waits up to grace for a clean exit, then kills.
func (p *proc) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // let a second stop see it
		return err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("%s did not exit within %s; killed", p.name, grace)
	}
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// tail returns the last n bytes of the process log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// cpuTime returns the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the CPU time all CPUs spent running tasks, from /proc/stat.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	// user, nice, system and steal; interrupts are left out because our own
	// loopback traffic is processed there, charged to no process.
	for _, i := range []int{1, 2, 3, 8} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			busy += n
		}
	}
	const clkTck = 100
	return time.Duration(busy) * time.Second / clkTck
}

// cpuSpent is the CPU time each process used during a window, and what the
// whole machine used (other processes: a busy machine skews figures).
type cpuSpent struct{ loadgen, mock, chorus, proxy, nginx, machine time.Duration }

// other is the CPU time used by processes other than ours.
func (c cpuSpent) other() time.Duration {
	return max(0, c.machine-c.loadgen-c.mock-c.chorus-c.proxy-c.nginx)
}

// cpuMeter samples our processes' CPU clocks (a zero PID reads as zero).
type cpuMeter struct{ mockPID, chorusPID, proxyPID, nginxPID int }

func (m cpuMeter) read() cpuSpent {
	c := cpuSpent{loadgen: selfCPU(), machine: machineBusy()}
	for _, p := range []struct {
		pid int
		dst *time.Duration
	}{{m.mockPID, &c.mock}, {m.chorusPID, &c.chorus}, {m.proxyPID, &c.proxy}} {
		if p.pid != 0 {
			*p.dst, _ = cpuTime(p.pid)
		}
	}
	if m.nginxPID != 0 {
		c.nginx = treeCPU(m.nginxPID) // master and workers
	}
	return c
}

func (c cpuSpent) since(before cpuSpent) cpuSpent {
	return cpuSpent{c.loadgen - before.loadgen, c.mock - before.mock, c.chorus - before.chorus,
		c.proxy - before.proxy, c.nginx - before.nginx, c.machine - before.machine}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		if ended, err := p.exited(); ended {
			return fmt.Errorf("%s exited during start (%v):\n%s", p.name, err, p.tail(4000))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready at %s after %s:\n%s", p.name, url, timeout, p.tail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitTCP polls addr until it accepts a connection.
func waitTCP(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if ended, err := p.exited(); ended {
			return fmt.Errorf("%s exited during start (%v):\n%s", p.name, err, p.tail(4000))
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not listening on %s after %s", p.name, addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
