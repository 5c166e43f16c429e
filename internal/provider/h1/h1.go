// Package h1 is the HTTP/1.1 client Chorus calls plain-HTTP upstreams with
// (vLLM, Ollama, TGI, a mock): an http.RoundTripper that writes the request
// and reads the answer on the caller's goroutine, over pooled keep-alive
// connections.
//
// net/http's Transport gives every connection two goroutines (a read loop
// and a write loop) and hands each request and answer between them and the
// caller through channels. At a gateway's rates those hand-offs cost more
// than the work (bench/results/profile-2026-12-07.md: 27 µs of scheduler
// time and ~40 allocations per request), and every open stream keeps the
// two goroutines and 8 KiB of buffers. Here a connection is a socket and,
// while a request uses it, one pooled read buffer: nothing runs when
// nothing is asked.
//
// Parsing is the standard library's (http.Request's header rules,
// http.ReadResponse for the status line, headers, chunked and
// Content-Length bodies), so what is accepted and refused on the wire is
// net/http's. TLS upstreams stay on net/http (HTTP/2 with real providers);
// this package speaks only http://.
//
// Cancelling the request's context closes its connection, which ends a
// write or read in progress; the error is then the context's. A reused
// connection the server had closed while idle (a keep-alive timeout, as
// uvicorn's 5 s) is found before use by a non-blocking peek on unix, and
// a request that failed on a reused connection before any byte of answer
// came back is sent once more on a new connection, as net/http does for
// requests it can replay.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a zero Transport field.
const (
	DefaultMaxIdlePerHost    = 1024
	DefaultIdleTimeout       = 90 * time.Second
	DefaultMaxResponseHeader = 1 << 20
	bufSize                  = 4 << 10
)

// Transport is an HTTP/1.1 RoundTripper for http:// URLs. Its zero value
// dials with net.Dialer; set the fields before first use.
type Transport struct {
	// DialContext opens connections (Chorus passes netguard's dialer).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxIdlePerHost bounds the idle connections kept per host:port.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle for longer.
	IdleTimeout time.Duration
	// MaxResponseHeaderBytes bounds an answer's status line and headers.
	MaxResponseHeaderBytes int64

	mu    sync.Mutex
	hosts map[string]*pool
	sweep *time.Timer // closes expired idle connections; nil when none are idle

	dials atomic.Int64 // connections opened (for tests and metrics)
}

// pool is one host's idle connections, most recently used last.
type pool struct {
	idle []*conn
}

// Dials returns how many connections t has opened.
func (t *Transport) Dials() int64 { return t.dials.Load() }

// IdleConns returns how many idle connections t holds.
func (t *Transport) IdleConns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.hosts {
		n += len(p.idle)
	}
	return n
}

// CloseIdleConnections closes every idle connection.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var all []*conn
	for _, p := range t.hosts {
		all = append(all, p.idle...)
		p.idle = nil
	}
	t.mu.Unlock()
	for _, c := range all {
		_ = c.nc.Close()
	}
}

// ErrScheme is returned for a URL that is not http://.
var ErrScheme = errors.New("h1: only http:// URLs are supported")

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" {
		closeBody(req)
		return nil, ErrScheme
	}
	if req.URL.Host == "" {
		closeBody(req)
		return nil, errors.New("h1: no host in request URL")
	}
	if req.Method != "" && !validMethod(req.Method) {
		closeBody(req)
		return nil, fmt.Errorf("h1: invalid method %q", req.Method)
	}
	if err := validHeader(req.Header); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	addr := hostPort(req.URL.Host)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			closeBody(req)
			return nil, err
		}
		c, err := t.get(ctx, addr)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := t.send(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		// Sent again once, on a new connection, when a reused one failed
		// before any byte of the answer came back and the body can be
		// made again: the server had closed it while it was idle.
		if c.reused && attempt == 0 && !c.answered && ctx.Err() == nil && rewind(req) {
			continue
		}
		closeBody(req)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
}

// rewind makes req's body readable again for a second attempt.
func rewind(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	if req.GetBody == nil {
		return false
	}
	b, err := req.GetBody()
	if err != nil {
		return false
	}
	req.Body = b
	return true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// conn is one connection to an upstream.
type conn struct {
	t        *Transport
	addr     string
	nc       net.Conn
	probe    *prober
	lr       limitReader // what the read buffer reads through: bounds the header
	idleAt   time.Time
	reused   bool // it served a request before this one
	answered bool // a byte of the current answer arrived
	closed   atomic.Bool
}

// limitReader reads from the connection, failing once more than n bytes
// were asked for while n >= 0 (set while headers are read), and notes that
// the answer has begun.
type limitReader struct {
	c *conn
	n int64
}

var errHeaderTooLarge = errors.New("h1: upstream answer's header exceeds the limit")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if l.n > 0 && int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.nc.Read(p)
	if n > 0 {
		l.c.answered = true
		if l.n > 0 {
			l.n -= int64(n)
		}
	}
	return n, err
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// get returns an idle connection to addr that is still open, or a new one.
func (t *Transport) get(ctx context.Context, addr string) (*conn, error) {
	for {
		c := t.popIdle(addr)
		if c == nil {
			break
		}
		if c.probe.alive() {
			c.reused = true
			return c, nil
		}
		_ = c.nc.Close()
	}
	dial := t.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.dials.Add(1)
	c := &conn{t: t, addr: addr, nc: nc, probe: newProber(nc)}
	c.lr.c = c
	return c, nil
}

func (t *Transport) popIdle(addr string) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.hosts[addr]
	if p == nil {
		return nil
	}
	timeout := t.idleTimeout()
	now := time.Now()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.idleAt) < timeout {
			return c
		}
		_ = c.nc.Close() // the oldest are below it: expired too
		for _, old := range p.idle {
			_ = old.nc.Close()
		}
		clear(p.idle)
		p.idle = p.idle[:0]
	}
	return nil
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultIdleTimeout
}

// put returns c to the idle pool, or closes it when the pool is full.
func (t *Transport) put(c *conn) {
	max := t.MaxIdlePerHost
	if max <= 0 {
		max = DefaultMaxIdlePerHost
	}
	c.idleAt = time.Now()
	t.mu.Lock()
	if t.hosts == nil {
		t.hosts = make(map[string]*pool)
	}
	p := t.hosts[c.addr]
	if p == nil {
		p = &pool{}
		t.hosts[c.addr] = p
	}
	if len(p.idle) >= max {
		t.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	p.idle = append(p.idle, c)
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.idleTimeout(), t.sweepIdle)
	}
	t.mu.Unlock()
}

// sweepIdle closes connections idle for longer than the idle timeout and
// runs again while any stay idle.
func (t *Transport) sweepIdle() {
	timeout := t.idleTimeout()
	now := time.Now()
	var expired []*conn
	t.mu.Lock()
	left := 0
	for addr, p := range t.hosts {
		keep := p.idle[:0]
		for _, c := range p.idle {
			if now.Sub(c.idleAt) >= timeout {
				expired = append(expired, c)
			} else {
				keep = append(keep, c)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		left += len(keep)
		if len(keep) == 0 {
			delete(t.hosts, addr)
		}
	}
	if left > 0 {
		t.sweep.Reset(timeout / 2)
	} else {
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, c := range expired {
		_ = c.nc.Close()
	}
}

// send writes req on c and reads the answer's head. On success the
// response's body owns c until it is read to the end or closed.
func (t *Transport) send(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	c.answered = false
	// Cancelling ctx closes the connection: a blocked write or read ends.
	stop := context.AfterFunc(ctx, func() { c.abort() })
	if err := c.writeRequest(req); err != nil {
		stop()
		c.abort()
		return nil, err
	}
	br := readers.Get().(*bufio.Reader)
	max := t.MaxResponseHeaderBytes
	if max <= 0 {
		max = DefaultMaxResponseHeader
	}
	c.lr.n = max
	br.Reset(&c.lr)
	var resp *http.Response
	for {
		r, err := http.ReadResponse(br, req)
		if err != nil {
			stop()
			release(br)
			c.abort()
			if errors.Is(err, io.EOF) && c.answered {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		// 1xx answers other than 101 come before the real one.
		if r.StatusCode >= 100 && r.StatusCode < 200 && r.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		resp = r
		break
	}
	c.lr.n = -1
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		release(br)
		c.abort()
		return nil, errors.New("h1: the upstream switched protocols, which Chorus does not ask for")
	}
	reuse := !resp.Close && !req.Close
	resp.Body = &body{c: c, br: br, rc: resp.Body, stop: stop, reuse: reuse, ctx: ctx}
	return resp, nil
}

// release gives a read buffer back to the pool.
func release(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}

// abort closes c for good.
func (c *conn) abort() {
	if c.closed.CompareAndSwap(false, true) {
		_ = c.nc.Close()
	}
}

// writeRequest writes req's line, headers and body on c, in one write when
// they fit the buffer.
func (c *conn) writeRequest(req *http.Request) error {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	defer func() {
		bw.Reset(nil)
		writers.Put(bw)
	}()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	uri := req.URL.RequestURI()
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	hasUA := false
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue
		case "User-Agent":
			hasUA = true
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if !hasUA {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	if req.Close {
		bw.WriteString("Connection: close\r\n")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	chunked := hasBody && req.ContentLength <= 0
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	case hasBody:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n\r\n")
	default:
		bw.WriteString("\r\n")
	}
	if hasBody {
		var err error
		if chunked {
			cw := httputil.NewChunkedWriter(bw)
			if _, err = io.Copy(cw, req.Body); err == nil {
				err = cw.Close()
			}
			if err == nil {
				_, err = bw.WriteString("\r\n")
			}
		} else {
			var n int64
			n, err = io.Copy(bw, io.LimitReader(req.Body, req.ContentLength))
			if err == nil && n != req.ContentLength {
				err = fmt.Errorf("h1: request body is %d bytes, Content-Length says %d", n, req.ContentLength)
			}
		}
		_ = req.Body.Close()
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// body is an answer's body. Read to its end, it gives its connection back
// to the pool; closed before, it closes the connection (the rest of the
// answer is not read). Close may be called while another goroutine is in
// Read: it closes the connection, which ends that Read.
type body struct {
	c     *conn
	br    *bufio.Reader // nil once given back
	rc    io.ReadCloser
	stop  func() bool
	ctx   context.Context
	reuse bool
	eof   bool        // read whole: later Reads return io.EOF again
	late  bool        // the context's cancellation had begun when the answer ended
	ended atomic.Bool // the answer is over: the connection was pooled or closed
	mu    sync.Mutex  // held by Read, and while the read buffer is given back
}

var errClosedBody = errors.New("h1: read on closed response body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended.Load() {
		b.release()
		if b.eof {
			return 0, io.EOF
		}
		return 0, errClosedBody
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		if b.end() {
			b.pool()
		} else {
			b.release() // Close ended it meanwhile
		}
		return n, io.EOF
	case err != nil:
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
		if b.end() {
			b.c.abort()
		}
		b.release()
	}
	return n, err
}

func (b *body) Close() error {
	if b.end() {
		b.c.abort() // ends a Read in progress
	}
	b.mu.Lock()
	b.release()
	b.mu.Unlock()
	return nil
}

// release gives the read buffer back; b.mu is held.
func (b *body) release() {
	if b.br != nil {
		release(b.br)
		b.br = nil
	}
}

// end marks the answer over; only the first caller gets true.
func (b *body) end() bool {
	if !b.ended.CompareAndSwap(false, true) {
		return false
	}
	b.late = !b.stop()
	return true
}

// pool gives the connection back after an answer read whole, unless it
// must not be reused: either side asked to close it, the context's
// cancellation closed it, or more bytes than the answer arrived.
func (b *body) pool() {
	c := b.c
	ok := b.reuse && !b.late && !c.closed.Load() && b.br.Buffered() == 0
	b.release()
	if !ok {
		c.abort()
		return
	}
	c.t.put(c)
}

func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if len(host) > 0 && host[0] == '[' && host[len(host)-1] == ']' {
		return host + ":80"
	}
	return net.JoinHostPort(host, "80")
}

func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !isToken(m[i]) {
			return false
		}
	}
	return m != ""
}

// validHeader refuses what could not be sent as it is: a name that is not
// a token, a value with a control character.
func validHeader(h http.Header) error {
	for k, vs := range h {
		if !validHeaderName(k) {
			return fmt.Errorf("h1: invalid header name %q", k)
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return fmt.Errorf("h1: invalid header value for %q", k)
			}
		}
	}
	return nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isToken(k[i]) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters (CR and LF above all: a
// value must not be able to start a header of its own).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func isToken(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
