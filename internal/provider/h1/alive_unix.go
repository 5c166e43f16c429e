//go:build unix

package h1

import (
	"net"
	"syscall"
)

// prober peeks at an idle connection without blocking. It is made once
// per connection, so a check costs a system call and no allocation.
type prober struct {
	rc  syscall.RawConn
	err error
	buf [1]byte
	fn  func(fd uintptr) bool
}

func newProber(nc net.Conn) *prober {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &prober{rc: rc}
	p.fn = func(fd uintptr) bool {
		_, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait
	}
	return p
}

// alive reports whether an idle connection is still open: a non-blocking
// peek finds nothing to read. End of stream (the server closed it) or
// unexpected bytes (an answer nobody asked for) make it unusable.
func (p *prober) alive() bool {
	if p == nil {
		return true
	}
	p.err = nil
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK
}
