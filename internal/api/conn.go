package api

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
)

// Request smuggling hygiene. Go's server reads a request with both
// Content-Length and Transfer-Encoding: chunked by the chunked framing and
// deletes both headers before the handler runs, and it unfolds an
// obs-folded header ("Transfer-Encoding:\r\n chunked") into a plain one: the
// handler sees r.TransferEncoding == ["chunked"] either way and cannot tell
// such a request from an honest chunked one. A proxy in front that framed
// it by Content-Length, or did not unfold, disagrees with us about where
// the request ends — the smuggling. RFC 9112 §6.1 says a server that
// receives both MUST close the connection after responding; §5.2 lets it
// reject obs-fold with 400.
//
// So the listener (Listener) watches the raw bytes of each connection for
// a request head that carries both headers, or a folded Transfer-Encoding,
// and marks the connection; Middleware answers a chunked request on a
// marked connection 400 and closes it, and closes after every other chunked
// request too (Connection: close), which costs an honest chunked upload
// only a new connection.

// Listener wraps ln so that Middleware can see, through ConnContext, whether
// a connection carried a request head that frames its body ambiguously.
func Listener(ln net.Listener) net.Listener { return watchListener{ln} }

type watchListener struct{ net.Listener }

func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c}, nil
}

type connKey struct{}

// ConnContext is the http.Server hook that hands a connection accepted by
// Listener to the requests it carries.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*watchConn); ok {
		return context.WithValue(ctx, connKey{}, wc)
	}
	return ctx
}

// ambiguousFraming reports whether the connection that carried ctx's
// request sent a head with both Content-Length and Transfer-Encoding, or
// with a folded Transfer-Encoding.
func ambiguousFraming(ctx context.Context) bool {
	wc, _ := ctx.Value(connKey{}).(*watchConn)
	return wc != nil && wc.bad.Load()
}

// watchConn scans what is read from the connection line by line. It looks
// only at the start of each line, and reads body lines as if they were
// header lines: a body crafted to look like such a head marks its own
// connection, which only hurts its sender (only chunked requests are
// refused).
type watchConn struct {
	net.Conn
	bad atomic.Bool
	// Read is called by one goroutine at a time (the server's reader), so
	// the scanner state needs no lock.
	line                   [20]byte // the start of the current line
	n                      int      // bytes of the current line seen so far
	sawCL, sawTE, inTEFold bool
}

func (c *watchConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.bad.Load() {
		c.scan(b[:n])
	}
	return n, err
}

// scan feeds p to the line scanner.
func (c *watchConn) scan(p []byte) {
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		part := p
		if nl >= 0 {
			part = p[:nl]
		}
		if c.n < len(c.line) {
			c.n += copy(c.line[c.n:], part)
		}
		if nl < 0 {
			return
		}
		c.endLine()
		p = p[nl+1:]
	}
}

// endLine judges the line just ended: a blank line ends a head.
func (c *watchConn) endLine() {
	line := c.line[:min(c.n, len(c.line))]
	c.n = 0
	line = bytes.TrimSuffix(line, []byte("\r"))
	switch {
	case len(line) == 0:
		c.sawCL, c.sawTE, c.inTEFold = false, false, false
	case line[0] == ' ' || line[0] == '\t':
		if c.inTEFold {
			c.bad.Store(true)
		}
	case hasFold(line, "transfer-encoding:"):
		c.sawTE, c.inTEFold = true, true
	case hasFold(line, "content-length:"):
		c.sawCL, c.inTEFold = true, false
	default:
		c.inTEFold = false
	}
	if c.sawCL && c.sawTE {
		c.bad.Store(true)
	}
}

// hasFold reports whether line starts with the lower-case prefix, in any
// case.
func hasFold(line []byte, prefix string) bool {
	return len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], []byte(prefix))
}
