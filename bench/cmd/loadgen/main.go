// Command loadgen measures what Chorus adds to a request. It starts an
// instant mock upstream and a Chorus process (fresh data dir, master key,
// log level warn), creates a model, an "openai" deployment pointing at the
// mock and an API key through the admin API, and then runs each scenario
// against the mock directly and through Chorus, back to back with the same
// parameters:
//
//   - open: non-streaming chat at a fixed rate (open loop, latency from the
//     scheduled send time, so there is no coordinated omission);
//   - open-stream: the same, streamed, with time to the first content chunk;
//   - closed, closed-stream: C workers sending back to back, for maximum
//     throughput.
//
// Requests through Chorus carry the API key, so key checks, metrics and usage
// logging are all on. At the end Chorus is stopped, started again on the same
// data and the usage log is read back through GET /api/admin/usage: every
// request Chorus answered must have its record. Everything listens on
// 127.0.0.1 and every run ends by itself.
//
//	go run ./bench/cmd/loadgen -chorus ./bin/chorus [-rate 2000 -duration 20s -concurrency 64 -runs 3] [-postgres]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
)

// defaultPostgres is the URL -postgres uses when given without one.
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// masterKey is the benchmark Chorus's admin key.
const masterKey = "sk-chorus-bench-master-key-0123456789"

type options struct {
	chorus      string
	rate        int
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	runs        int
	scenarios   []string
	chunks      int
	chunkDelay  time.Duration
	postgres    optionalURL
	timeout     time.Duration
	waitQuiet   time.Duration
	nice        int
	proxy       bool
	proxyClient string // the bare proxy's upstream client: h1 or net/http
	nginx       string // -nginx: "auto", "off" or a path
	nginxBin    string // the resolved binary; empty: no nginx baseline
	needNginx   bool
	chorusEnv   []string
	procs       int
	chorusProcs int
	mockProcs   int
	keep        bool
	jsonOut     string
	cpuprofile  string
	mode        string        // "bench" (the scenarios), "streams" or "soak" (hold.go)
	streams     int           // -mode streams: streams to hold open
	openOver    time.Duration // -mode streams: opened evenly over this
	settle      time.Duration // -mode streams: wait after the last stream before reading memory
	sample      time.Duration // -mode soak: memory sampling interval
}

// optionalURL is a flag that may be given bare (-postgres) or with a value
// (-postgres=postgres://…).
type optionalURL struct{ url string }

func (o *optionalURL) String() string   { return o.url }
func (o *optionalURL) IsBoolFlag() bool { return true }
func (o *optionalURL) Set(v string) error {
	switch v {
	case "true":
		o.url = defaultPostgres
	case "false", "":
		o.url = ""
	default:
		if !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
			return fmt.Errorf("want a postgres:// URL, got %q", v)
		}
		o.url = v
	}
	return nil
}

var allScenarios = []string{"open", "open-stream", "closed", "closed-stream"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "mock" {
		runMock(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "proxy" {
		runProxy(os.Args[2:])
		return
	}
	var o options
	var scen, chorusEnv string
	flag.StringVar(&o.chorus, "chorus", "bin/chorus", "path of the chorus binary (make build)")
	flag.IntVar(&o.rate, "rate", 2000, "open-loop requests per second")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time of each scenario and target")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each measurement")
	flag.IntVar(&o.concurrency, "concurrency", 64, "closed-loop workers")
	flag.IntVar(&o.runs, "runs", 1, "repeat every scenario this many times; tables show medians")
	flag.StringVar(&scen, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	flag.IntVar(&o.chunks, "chunks", 16, "content chunks in a streamed answer")
	flag.DurationVar(&o.chunkDelay, "chunk-delay", 0, "mock delay before each streamed content chunk")
	flag.Var(&o.postgres, "postgres", "run Chorus on PostgreSQL (in a fresh database); -postgres=URL names the server (default "+defaultPostgres+")")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&chorusEnv, "chorus-env", "", "extra environment for Chorus, comma-separated KEY=VALUE (e.g. GOGC=400,CHORUS_USAGE_BATCH_SIZE=1000)")
	flag.StringVar(&o.proxyClient, "proxy-client", "h1", "the bare Go proxy's upstream client: h1 (Chorus's own, internal/provider/h1) or net/http (http.Transport)")
	flag.BoolVar(&o.proxy, "proxy", true, "also measure a bare Go reverse proxy (net/http/httputil) in front of the mock, to tell the cost of any extra hop from Chorus's own")
	flag.StringVar(&o.nginx, "nginx", nginxAuto, "also measure Debian's nginx as a bare keepalive proxy in front of the mock (the floor issue #17 measures against): "+
		"\"auto\" looks in PATH and at "+debianNginx+" and skips the baseline when absent, \"off\" disables it, or a path")
	flag.BoolVar(&o.needNginx, "require-nginx", false, "fail instead of skipping the nginx baseline when nginx is absent")
	flag.IntVar(&o.nice, "nice", 0, "run the load generator, mock and Chorus at this nice value (-20..19; below 0 needs root): on a shared machine, -20 keeps other work from skewing the figures")
	flag.DurationVar(&o.waitQuiet, "wait-quiet", 0, "before each measurement, wait up to this long for other processes to leave the CPUs idle (a shared machine)")
	flag.IntVar(&o.procs, "procs", 0, "GOMAXPROCS of the load generator (0: Go's default)")
	flag.IntVar(&o.chorusProcs, "chorus-procs", 0, "GOMAXPROCS of Chorus (0: Go's default)")
	flag.IntVar(&o.mockProcs, "mock-procs", 0, "GOMAXPROCS of the mock (0: Go's default)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, SQLite file) and the PostgreSQL database")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run's figures to this JSON file")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "save CPU, allocation, mutex and block profiles of Chorus (one set per scenario, first run) in this directory; "+
		"needs a -chorus that serves pprof: go build -o bin/chorus-pprof ./bench/cmd/chorus-pprof")
	flag.StringVar(&o.mode, "mode", "bench", "bench: the scenarios against every target; streams: hold -streams slow streams open through Chorus and follow its memory; "+
		"soak: a steady mixed load at -rate for -warmup + -duration, following Chorus's memory and goroutines for growth")
	flag.IntVar(&o.streams, "streams", 9000, "-mode streams: concurrent slow streams (each takes 2 of Chorus's file descriptors; mind ulimit -n)")
	flag.DurationVar(&o.openOver, "open-over", 10*time.Second, "-mode streams: open the streams evenly over this time")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "-mode streams: wait this long after the last stream ended before reading memory")
	flag.DurationVar(&o.sample, "sample", 10*time.Second, "-mode soak: sample Chorus's memory and goroutines this often")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.proxyClient != "h1" && o.proxyClient != "net/http" {
		fmt.Fprintf(os.Stderr, "loadgen: -proxy-client is h1 or net/http, not %q\n", o.proxyClient)
		os.Exit(2)
	}
	switch o.mode {
	case "bench":
	case "streams", "soak":
		// Chorus alone: the baselines measure latency, not memory.
		o.proxy, o.nginx, o.needNginx = false, "off", false
		if o.mode == "streams" {
			if !set["chunks"] {
				o.chunks = 100
			}
			if !set["chunk-delay"] {
				o.chunkDelay = 100 * time.Millisecond
			}
		}
		if !set["rate"] {
			o.rate = 500
		}
		if floor := time.Duration(o.chunks)*o.chunkDelay + time.Minute; o.timeout < floor {
			o.timeout = floor
		}
		if o.streams < 1 || o.openOver <= 0 || o.sample <= 0 {
			fmt.Fprintln(os.Stderr, "loadgen: -streams, -open-over and -sample must be positive")
			os.Exit(2)
		}
	default:
		fmt.Fprintf(os.Stderr, "loadgen: -mode %q: want bench, streams or soak\n", o.mode)
		os.Exit(2)
	}
	for _, s := range strings.Split(scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !contains(allScenarios, s) {
			fmt.Fprintf(os.Stderr, "loadgen: unknown scenario %q; want some of %s\n", s, strings.Join(allScenarios, ","))
			os.Exit(2)
		}
		o.scenarios = append(o.scenarios, s)
	}
	for _, kv := range strings.Split(chorusEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if !strings.Contains(kv, "=") {
			fmt.Fprintf(os.Stderr, "loadgen: -chorus-env: want KEY=VALUE, got %q\n", kv)
			os.Exit(2)
		}
		o.chorusEnv = append(o.chorusEnv, kv)
	}
	if o.rate < 1 || o.duration <= 0 || o.concurrency < 1 || o.runs < 1 || len(o.scenarios) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -rate, -duration, -concurrency and -runs must be positive and -scenarios non-empty")
		os.Exit(2)
	}
	bin, err := findNginx(o.nginx, exec.LookPath, os.Stat)
	switch {
	case err != nil && (o.needNginx || o.nginx != nginxAuto):
		fmt.Fprintln(os.Stderr, "loadgen: -nginx:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "loadgen: skipping the nginx baseline:", err, "(-require-nginx makes this an error)")
	case bin == "" && o.needNginx:
		fmt.Fprintln(os.Stderr, "loadgen: -require-nginx with -nginx off")
		os.Exit(2)
	}
	o.nginxBin = bin
	if o.procs > 0 {
		runtime.GOMAXPROCS(o.procs)
	}
	if o.nice != 0 {
		// Children inherit it.
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, o.nice); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -nice:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "\nloadgen: FAILED:", err)
		os.Exit(1)
	}
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

// runMock is the mock upstream process (the load generator starts itself
// with "mock" so the benchmark needs no separate build step).
func runMock(args []string) {
	fs := flag.NewFlagSet("mock", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	chunks := fs.Int("chunks", 16, "content chunks")
	delay := fs.Duration("chunk-delay", 0, "delay before each content chunk")
	_ = fs.Parse(args)
	srv := &http.Server{Addr: *listen, Handler: mockupstream.New(mockupstream.Options{Chunks: *chunks, ChunkDelay: *delay}),
		ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "mock:", err)
		os.Exit(1)
	}
}

// env is the running benchmark setup.
type env struct {
	o         options
	dir       string
	mock      *proc
	chorus    *proc
	proxy     *proc // bare reverse proxy, when -proxy
	nginx     *proc // nginx baseline, when found
	chorusEnv []string
	chorusURL string
	pprofURL  string // Chorus's /debug/pprof, when -cpuprofile is set
	dropDB    func()
	admin     admin
	direct    *target
	viaProxy  *target // nil without -proxy
	viaNginx  *target // nil without nginx
	through   *target
	keyID     int64
	teamID    int64 // the benchmark customer's team, whose wallet pays
}

func run(ctx context.Context, o options) (err error) {
	if _, err := os.Stat(o.chorus); err != nil {
		return fmt.Errorf("chorus binary %s: %w (build it with `make build`, or pass -chorus)", o.chorus, err)
	}
	dir, err := os.MkdirTemp("", "gwbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("temp dir (kept):", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{o: o, dir: dir}
	defer func() {
		if e.dropDB != nil {
			e.dropDB() // after Chorus stopped: deferred calls run last in, first out
		}
	}()
	defer func() {
		if e.chorus != nil {
			_ = e.chorus.stop(60 * time.Second)
		}
		if e.proxy != nil {
			_ = e.proxy.stop(5 * time.Second)
		}
		if e.nginx != nil {
			_ = e.nginx.stop(5 * time.Second)
		}
		if e.mock != nil {
			_ = e.mock.stop(5 * time.Second)
		}
	}()
	if err := e.startAll(ctx); err != nil {
		return err
	}
	printSetup(o, e)
	switch o.mode {
	case "streams":
		return e.runStreams(ctx)
	case "soak":
		return e.runSoak(ctx)
	}

	var runs []runResult
	for r := 0; r < o.runs; r++ {
		rr := runResult{Run: r + 1}
		for _, sc := range o.scenarios {
			order := []*target{e.direct}
			for _, b := range []*target{e.viaProxy, e.viaNginx} {
				if b != nil {
					order = append(order, b)
				}
			}
			order = append(order, e.through)
			if r%2 == 1 {
				slices.Reverse(order) // alternate, so drift does not favour one side
			}
			res := scenarioResult{Scenario: sc}
			for _, t := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				st := e.measure(ctx, sc, t, r == 0)
				printProgress(r+1, sc, st)
				if err := e.checkAlive(); err != nil {
					return err
				}
				switch t {
				case e.direct:
					res.Direct = st
				case e.viaProxy:
					res.Proxy = st
				case e.viaNginx:
					res.Nginx = st
				default:
					res.Chorus = st
				}
			}
			rr.Scenarios = append(rr.Scenarios, res)
		}
		runs = append(runs, rr)
	}
	report(os.Stdout, o, runs)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(runs, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil { // #nosec G306 -- a results file for the operator to read and share, no secrets in it
			return err
		}
	}
	return e.verifyUsage(ctx)
}

// startAll starts the mock and Chorus and provisions Chorus.
func (e *env) startAll(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	mockAddr, err := e.startMock(ctx, exe)
	if err != nil {
		return err
	}
	var proxyAddr string
	if e.o.proxy {
		if proxyAddr, err = e.startProxy(ctx, exe, mockAddr); err != nil {
			return err
		}
	}
	var nginxAddr string
	if e.o.nginxBin != "" {
		if nginxAddr, err = e.startNginx(ctx, e.o.nginxBin, mockAddr); err != nil {
			return err
		}
	}
	if err := e.configureChorus(ctx); err != nil {
		return err
	}
	if err := e.startChorus(ctx); err != nil {
		return err
	}
	e.admin = admin{base: e.chorusURL, key: masterKey, c: &http.Client{Timeout: 60 * time.Second}}
	mockBase := "http://" + mockAddr + "/v1"
	secret, keyID, teamID, err := provision(ctx, e.admin, mockBase)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	e.keyID, e.teamID = keyID, teamID
	e.setTargets(mockBase, proxyAddr, nginxAddr, secret)
	return e.tryTargets(ctx)
}

// startMock starts the mock upstream and returns its address.
func (e *env) startMock(ctx context.Context, exe string) (string, error) {
	mockAddr, err := freeAddr()
	if err != nil {
		return "", err
	}
	e.mock, err = start("mock", e.dir, exe, []string{"mock", "-listen", mockAddr,
		"-chunks", strconv.Itoa(e.o.chunks), "-chunk-delay", e.o.chunkDelay.String()}, procsEnv(e.o.mockProcs))
	if err != nil {
		return "", err
	}
	if err := waitTCP(ctx, e.mock, mockAddr, 10*time.Second); err != nil {
		return "", err
	}
	return mockAddr, nil
}

// startProxy starts the bare reverse proxy in front of the mock and returns
// its address.
func (e *env) startProxy(ctx context.Context, exe, mockAddr string) (string, error) {
	proxyAddr, err := freeAddr()
	if err != nil {
		return "", err
	}
	e.proxy, err = start("proxy", e.dir, exe, []string{"proxy", "-listen", proxyAddr, "-upstream", "http://" + mockAddr, "-client", e.o.proxyClient},
		procsEnv(e.o.chorusProcs))
	if err != nil {
		return "", err
	}
	if err := waitTCP(ctx, e.proxy, proxyAddr, 10*time.Second); err != nil {
		return "", err
	}
	return proxyAddr, nil
}

// configureChorus picks Chorus's addresses and sets its environment, with
// a fresh PostgreSQL database when -postgres is set.
func (e *env) configureChorus(ctx context.Context) error {
	o := e.o
	chorusAddr, err := freeAddr()
	if err != nil {
		return err
	}
	e.chorusEnv = append(procsEnv(o.chorusProcs),
		"CHORUS_LISTEN="+chorusAddr,
		"CHORUS_DATA_DIR="+filepath.Join(e.dir, "data"),
		"CHORUS_MASTER_KEY="+masterKey,
		"CHORUS_BOOTSTRAP=true",
		"CHORUS_LOG_LEVEL=warn",
		"CHORUS_CONFIG=",
	)
	e.chorusEnv = append(e.chorusEnv, o.chorusEnv...)
	if o.postgres.url != "" {
		dsn, drop, err := freshPostgres(ctx, o.postgres.url, o.keep)
		if err != nil {
			return err
		}
		e.dropDB = drop
		e.chorusEnv = append(e.chorusEnv, "CHORUS_DATABASE_URL="+dsn)
	}
	e.chorusURL = "http://" + chorusAddr
	if o.cpuprofile != "" {
		pprofAddr, err := freeAddr()
		if err != nil {
			return err
		}
		e.chorusEnv = append(e.chorusEnv, "BENCH_PPROF_LISTEN="+pprofAddr)
		e.pprofURL = "http://" + pprofAddr + "/debug/pprof"
	}
	return nil
}

// setTargets sets the targets to measure: the mock directly, Chorus with
// the provisioned key, and the bare proxy and nginx when they run.
func (e *env) setTargets(mockBase, proxyAddr, nginxAddr, secret string) {
	e.direct = &target{name: "direct", url: mockBase + "/chat/completions", auth: "Bearer sk-mock-upstream-0123456789",
		client: newClient(e.o.timeout)}
	e.through = &target{name: "chorus", url: e.chorusURL + "/v1/chat/completions", auth: "Bearer " + secret,
		client: newClient(e.o.timeout)}
	if e.proxy != nil {
		e.viaProxy = &target{name: "proxy", url: "http://" + proxyAddr + "/v1/chat/completions",
			auth: "Bearer sk-mock-upstream-0123456789", client: newClient(e.o.timeout)}
	}
	if e.nginx != nil {
		e.viaNginx = &target{name: "nginx", url: "http://" + nginxAddr + "/v1/chat/completions",
			auth: "Bearer sk-mock-upstream-0123456789", client: newClient(e.o.timeout)}
	}
}

// tryTargets sends one request of each kind to every target first, so a
// broken setup fails here clearly.
func (e *env) tryTargets(ctx context.Context) error {
	all := []*target{e.direct, e.through}
	for _, b := range []*target{e.viaProxy, e.viaNginx} {
		if b != nil {
			all = append(all, b)
		}
	}
	for _, t := range all {
		for _, stream := range []bool{false, true} {
			s := call(ctx, t, requestBody(stream), stream, time.Now(), bufio.NewReader(nil))
			count(t, s, stream)
			if s.err != nil {
				return fmt.Errorf("first request to %s (stream=%v): %w", t.name, stream, s.err)
			}
		}
	}
	return nil
}

// checkAlive fails when a child process has ended during the run.
func (e *env) checkAlive() error {
	for _, p := range []*proc{e.mock, e.proxy, e.nginx, e.chorus} {
		if p == nil {
			continue
		}
		if ended, err := p.exited(); ended {
			return fmt.Errorf("%s ended during the run (%v); its log:\n%s", p.name, err, p.tail(4000))
		}
	}
	return nil
}

func (e *env) startChorus(ctx context.Context) error {
	// A copy with a name of its own, so nobody's `pkill chorus` on a shared
	// machine stops the benchmark halfway.
	bin := filepath.Join(e.dir, "gateway-under-test")
	if _, err := os.Stat(bin); err != nil {
		b, err := os.ReadFile(e.o.chorus)
		if err != nil {
			return err
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil { // #nosec G306 G703 -- an executable the benchmark runs: it needs the execute bit
			return err
		}
	}
	var err error
	e.chorus, err = start("chorus", e.dir, bin, []string{"serve"}, e.chorusEnv)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, e.chorus, e.chorusURL+"/readyz", 60*time.Second)
}

func procsEnv(n int) []string {
	if n > 0 {
		return []string{"GOMAXPROCS=" + strconv.Itoa(n)}
	}
	return nil
}

// measure runs one scenario against one target and summarises it.
func (e *env) measure(ctx context.Context, sc string, t *target, first bool) stats {
	stream := strings.HasSuffix(sc, "-stream")
	body := requestBody(stream)
	meter := cpuMeter{mockPID: e.mock.cmd.Process.Pid, chorusPID: e.chorus.cmd.Process.Pid}
	if e.proxy != nil {
		meter.proxyPID = e.proxy.cmd.Process.Pid
	}
	if e.nginx != nil {
		meter.nginxPID = e.nginx.cmd.Process.Pid
	}
	if e.o.waitQuiet > 0 {
		waitQuiet(ctx, meter, e.o.waitQuiet)
	}
	var before cpuSpent
	cpuStart := make(chan struct{})
	go func() {
		time.Sleep(e.o.warmup)
		before = meter.read()
		close(cpuStart)
	}()
	var profDone chan error
	if first && t == e.through && e.pprofURL != "" {
		profDone = make(chan error, 1)
		go func() {
			time.Sleep(e.o.warmup)
			profDone <- e.fetchProfiles(ctx, sc)
		}()
	}
	var samples []sample
	var w window
	if strings.HasPrefix(sc, "open") {
		samples, w = openLoop(ctx, t, body, stream, e.o.rate, e.o.warmup, e.o.duration)
	} else {
		samples, w = closedLoop(ctx, t, body, stream, e.o.concurrency, e.o.warmup, e.o.duration)
	}
	<-cpuStart
	// The CPU clocks are read once the last answer is in; the window is the
	// measured period, so a few ms of drain are charged to it.
	spent := meter.read().since(before)
	if profDone != nil {
		if err := <-profDone; err != nil {
			fmt.Println("warning: CPU profile:", err)
		}
	}
	var gateway time.Duration
	switch t {
	case e.through:
		gateway = spent.chorus
	case e.viaProxy:
		gateway = spent.proxy
	case e.viaNginx:
		gateway = spent.nginx
	}
	return summarise(t.name, samples, w, spent, gateway)
}

// profileKinds are the profiles of Chorus saved over the measured window,
// by pprof endpoint: CPU, then the delta of allocations, mutex contention
// and blocking over the same seconds. The last two are empty unless the
// binary sets runtime.SetMutexProfileFraction and SetBlockProfileRate.
var profileKinds = []struct{ endpoint, suffix, label string }{
	{"profile", "", "CPU"}, {"allocs", "-allocs", "allocation"}, {"mutex", "-mutex", "mutex"}, {"block", "-block", "block"},
}

// fetchProfiles saves every profile of profileKinds, taken at once.
func (e *env) fetchProfiles(ctx context.Context, sc string) error {
	errs := make(chan error, len(profileKinds))
	for _, k := range profileKinds {
		go func() { errs <- e.fetchProfile(ctx, k.endpoint, k.label, "chorus-"+sc+k.suffix+".pprof") }()
	}
	var all []error
	for range profileKinds {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// fetchProfile saves one profile of Chorus over the measured window.
func (e *env) fetchProfile(ctx context.Context, endpoint, label, name string) error {
	secs := max(1, int(e.o.duration/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/%s?seconds=%d", e.pprofURL, endpoint, secs), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Duration(secs+30) * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d (is -chorus a binary that serves pprof, such as bench/cmd/chorus-pprof?)", e.pprofURL, resp.StatusCode)
	}
	if err := os.MkdirAll(e.o.cpuprofile, 0o755); err != nil { // #nosec G301 -- the profile directory the operator named on the command line
		return err
	}
	path := filepath.Join(e.o.cpuprofile, name)
	f, err := os.Create(path) // #nosec G304 -- a path the operator named on the command line
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return err
	}
	fmt.Printf("%s profile of Chorus saved to %s\n", label, path)
	return f.Close()
}

// quietCores is how much CPU other processes may use for the machine to
// count as quiet.
const quietCores = 0.1

// waitQuiet waits until other processes used less than quietCores over a
// two seconds, or until max has passed.
func waitQuiet(ctx context.Context, m cpuMeter, max time.Duration) {
	deadline := time.Now().Add(max)
	said := false
	for ctx.Err() == nil {
		before := m.read()
		time.Sleep(2 * time.Second)
		other := m.read().since(before).other().Seconds() / 2
		if other < quietCores {
			if said {
				fmt.Println("machine quiet; measuring")
			}
			return
		}
		if time.Now().After(deadline) {
			fmt.Printf("machine still busy (other processes use %.2f cores) after %s; measuring anyway\n", other, max)
			return
		}
		if !said {
			fmt.Printf("waiting for a quiet machine: other processes use %.2f cores\n", other)
			said = true
		}
	}
}

// requestBody is a small, typical chat request.
func requestBody(stream bool) []byte {
	if stream {
		return []byte(`{"model":"` + benchModel + `","messages":[{"role":"system","content":"You are a helpful assistant."},` +
			`{"role":"user","content":"Say hello in a few words."}],"max_tokens":64,"stream":true,"stream_options":{"include_usage":true}}`)
	}
	return []byte(`{"model":"` + benchModel + `","messages":[{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"Say hello in a few words."}],"max_tokens":64}`)
}

// verifyUsage stops Chorus (which flushes its usage writer), starts it again
// on the same data, and checks that the usage log holds one record for every
// request Chorus answered.
func (e *env) verifyUsage(ctx context.Context) error {
	if err := e.chorus.stop(60 * time.Second); err != nil {
		return fmt.Errorf("stop chorus: %w\n%s", err, e.chorus.tail(4000))
	}
	if err := e.startChorus(ctx); err != nil {
		return fmt.Errorf("restart chorus to read the usage log: %w", err)
	}
	uc, err := countUsage(ctx, e.admin, e.keyID)
	if err != nil {
		return err
	}
	ok, failed, okStream := e.through.ok.Load(), e.through.failed.Load(), e.through.okStream.Load()
	fmt.Printf("\nusage records: %d of %d (successful answers through Chorus; %d streamed of %d)\n", uc.OK, ok, uc.OKStream, okStream)
	fmt.Printf("usage log: %d records in all, by status %v; client-side failures through Chorus: %d\n", uc.Total, uc.Statuses, failed)
	var problems []string
	if uc.OK < ok {
		problems = append(problems, fmt.Sprintf("%d usage records MISSING", ok-uc.OK))
	}
	if uc.OKStream < okStream {
		problems = append(problems, fmt.Sprintf("%d streamed usage records MISSING", okStream-uc.OKStream))
	}
	if uc.OK > ok+failed {
		problems = append(problems, fmt.Sprintf("%d more successful usage records than requests sent", uc.OK-ok-failed))
	}
	if uc.WrongTokens > 0 {
		problems = append(problems, fmt.Sprintf("%d records with token counts other than the mock's %d/%d", uc.WrongTokens,
			mockupstream.PromptTokens, mockupstream.CompletionTokens))
	}
	if uc.WrongCost > 0 {
		problems = append(problems, fmt.Sprintf("%d records with a wrong cost", uc.WrongCost))
	}
	// Every answered request is charged to the wallet, once: a graceful
	// stop writes the last charges.
	paid, err := charged(ctx, e.admin, e.teamID)
	if err != nil {
		return err
	}
	want := uc.OK * chorus.RequestCost(mockupstream.PromptTokens, mockupstream.CompletionTokens, inputPrice, outputPrice)
	fmt.Printf("credits charged: %d of %d micro-credits (the cost of the %d successful usage records)\n", paid, want, uc.OK)
	if paid != want && !slices.Contains(e.chorusEnv, "CHORUS_BILLING_MODE=off") {
		problems = append(problems, fmt.Sprintf("the wallet paid %d micro-credits for usage worth %d", paid, want))
	}
	if len(problems) > 0 {
		return errors.New("usage log incomplete or wrong: " + strings.Join(problems, "; "))
	}
	fmt.Println("usage log complete: every answered request has its record, with the mock's token counts and the right cost")
	return nil
}
