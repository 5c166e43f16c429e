package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider/h1"
)

func post(t *testing.T, tr *h1.Transport, ctx context.Context, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return tr.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRoundTrip checks what reaches the server and what comes back, with
// Content-Length and chunked answers, over one kept-alive connection.
func TestRoundTrip(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Method", r.Method)
		w.Header().Set("X-Echo-Type", r.Header.Get("Content-Type"))
		w.Header().Set("X-Echo-Len", fmt.Sprint(r.ContentLength))
		w.Header().Set("X-Echo-Host", r.Host)
		w.Header().Set("X-Echo-URI", r.RequestURI)
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		if r.URL.Query().Get("chunked") == "1" {
			w.WriteHeader(201)
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part%d:", i)
				w.(http.Flusher).Flush()
			}
			w.Write(b)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()

	for i := 0; i < 20; i++ {
		chunked := i%2 == 1
		url := srv.URL + "/v1/chat?x=%2F&i=" + fmt.Sprint(i)
		if chunked {
			url += "&chunked=1"
		}
		body := strings.Repeat("é", i*500) // up to ~19 KB: bodies larger than the write buffer
		resp, err := post(t, tr, context.Background(), url, body)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got := readAll(t, resp)
		want := body
		if chunked {
			want = "part0:part1:part2:" + body
			if resp.StatusCode != 201 || resp.ContentLength != -1 {
				t.Fatalf("chunked: status %d, length %d", resp.StatusCode, resp.ContentLength)
			}
		} else if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) {
			t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
		}
		if got != want {
			t.Fatalf("request %d: body of %d bytes, want %d", i, len(got), len(want))
		}
		h := resp.Header
		if h.Get("X-Echo-Method") != "POST" || h.Get("X-Echo-Type") != "application/json" ||
			h.Get("X-Echo-Len") != fmt.Sprint(len(body)) || h.Get("X-Echo-Host") != strings.TrimPrefix(srv.URL, "http://") ||
			!strings.HasPrefix(h.Get("X-Echo-URI"), "/v1/chat?x=%2F&i=") || strings.Join(h.Values("X-Multi"), ",") != "a,b" {
			t.Fatalf("request %d: server saw %v", i, h)
		}
	}
	if n := conns.Load(); n != 1 || tr.Dials() != 1 {
		t.Fatalf("20 sequential requests used %d server connections, %d dials; want 1", n, tr.Dials())
	}
	if tr.IdleConns() != 1 {
		t.Fatalf("idle connections = %d, want 1", tr.IdleConns())
	}
}

// TestUnknownLengthBody sends a body whose length is not known (chunked).
func TestUnknownLengthBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%d|%s", r.TransferEncoding, len(b), b[:5])
	}))
	defer srv.Close()
	tr := &h1.Transport{}
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 10; i++ {
			pw.Write(bytes.Repeat([]byte("hello"), 1000))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "[chunked]|50000|hello" {
		t.Fatalf("server saw %q", got)
	}
}

// TestConcurrent runs many requests at once: each gets its own answer and
// the pool keeps at most what was open.
func TestConcurrent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		time.Sleep(time.Millisecond)
		w.Write(b)
	}))
	defer srv.Close()
	tr := &h1.Transport{MaxIdlePerHost: 4}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				want := fmt.Sprintf("g%d-i%d", g, i)
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(want))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					errs <- fmt.Errorf("got %q, %v; want %q", b, err, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := tr.IdleConns(); n > 4 {
		t.Fatalf("idle connections = %d, over MaxIdlePerHost 4", n)
	}
	if d := tr.Dials(); d > 16+4*25 {
		t.Fatalf("%d dials for 400 requests from 16 goroutines", d)
	}
}

// rawServer accepts connections and hands each to fn.
func rawServer(t *testing.T, fn func(c net.Conn, n int)) (url string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(accepted.Add(1))
			go func() {
				defer c.Close()
				fn(c, n)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), accepted
}

// readReq reads one request (headers and Content-Length body) from br.
func readReq(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestServerClosedIdle: the server closes a kept-alive connection after
// one answer (a keep-alive timeout); the next request finds it closed
// before writing and dials again.
func TestServerClosedIdle(t *testing.T) {
	url, accepted := rawServer(t, func(c net.Conn, _ int) {
		br := bufio.NewReader(c)
		if _, err := readReq(br); err != nil {
			return
		}
		io.WriteString(c, okAnswer) // says nothing of closing, then closes
	})
	tr := &h1.Transport{}
	for i := 0; i < 5; i++ {
		resp, err := post(t, tr, context.Background(), url, "{}")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("got %q", got)
		}
		time.Sleep(20 * time.Millisecond) // the server's close arrives
	}
	if n := accepted.Load(); n != 5 {
		t.Fatalf("%d connections, want 5", n)
	}
}

// TestRetryOnReusedConnection: the server reads the second request on a
// connection and closes it without a byte of answer (the race the peek
// cannot see); the request is sent again on a new connection, once.
func TestRetryOnReusedConnection(t *testing.T) {
	var requests atomic.Int32
	url, accepted := rawServer(t, func(c net.Conn, n int) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := readReq(br)
			if err != nil {
				return
			}
			requests.Add(1)
			if n == 1 && i == 1 {
				return // closes without answering
			}
			_ = req
			io.WriteString(c, okAnswer)
		}
	})
	tr := &h1.Transport{}
	for i := 0; i < 2; i++ {
		resp, err := post(t, tr, context.Background(), url, `{"n":1}`)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("got %q", got)
		}
	}
	if a, r := accepted.Load(), requests.Load(); a != 2 || r != 3 {
		t.Fatalf("%d connections, %d requests seen; want 2 and 3", a, r)
	}

	// On a new connection the same failure is an error, never a retry.
	url2, _ := rawServer(t, func(c net.Conn, _ int) {
		readReq(bufio.NewReader(c))
	})
	if _, err := post(t, tr, context.Background(), url2, "{}"); err == nil {
		t.Fatal("a connection closed without an answer gave no error")
	}

	// A failure after part of the answer came back is not retried either.
	var seen atomic.Int32
	url3, _ := rawServer(t, func(c net.Conn, n int) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, err := readReq(br); err != nil {
				return
			}
			seen.Add(1)
			if i == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
				return
			}
			io.WriteString(c, okAnswer)
		}
	})
	resp, err := post(t, tr, context.Background(), url3, "{}")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if _, err := post(t, tr, context.Background(), url3, "{}"); err == nil {
		t.Fatal("half an answer: no error")
	}
	if n := seen.Load(); n != 2 {
		t.Fatalf("the server saw %d requests, want 2 (no retry after a partial answer)", n)
	}
}

// TestCancel: cancelling the context ends a request waiting for its answer
// and a body being read, with the context's error, and the connection is
// not reused.
func TestCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	url, accepted := rawServer(t, func(c net.Conn, _ int) {
		br := bufio.NewReader(c)
		req, err := readReq(br)
		if err != nil {
			return
		}
		if req.URL.Path == "/stream" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
		}
		<-release
	})
	tr := &h1.Transport{}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := post(t, tr, ctx, url+"/wait", "{}")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting for the head: err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	resp, err := post(t, tr, ctx, url+"/stream", "{}")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first chunk %q, %v", buf, err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("reading a cancelled stream: err = %v, want context.Canceled", err)
	}
	resp.Body.Close()
	if tr.IdleConns() != 0 {
		t.Fatal("a cancelled connection went back to the pool")
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := post(t, tr, ctx, url+"/wait", "{}"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: err = %v, want context.DeadlineExceeded", err)
	}
	if n := accepted.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

// TestCloseDuringRead: Close from another goroutine ends a Read blocked on
// the connection.
func TestCloseDuringRead(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	url, _ := rawServer(t, func(c net.Conn, _ int) {
		if _, err := readReq(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		<-release
	})
	tr := &h1.Transport{}
	resp, err := post(t, tr, context.Background(), url, "{}")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	resp.Body.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read on a closed body returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the blocked Read")
	}
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Close returned no error")
	}
}

// TestEarlyClose: a body closed before its end closes the connection; one
// read to its end returns it to the pool.
func TestEarlyClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 100000))
	}))
	defer srv.Close()
	tr := &h1.Transport{}
	resp, err := post(t, tr, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if tr.IdleConns() != 0 {
		t.Fatal("a half-read connection went back to the pool")
	}
	resp, err = post(t, tr, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, resp)); n != 100000 {
		t.Fatalf("read %d bytes", n)
	}
	if tr.IdleConns() != 1 || tr.Dials() != 2 {
		t.Fatalf("idle %d, dials %d; want 1 and 2", tr.IdleConns(), tr.Dials())
	}
	// A body read to its end keeps answering io.EOF (bufio readers ask
	// again); once closed, reads fail.
	resp, err = post(t, tr, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if n, err := resp.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("read after the end: %d, %v; want 0, EOF", n, err)
		}
	}
	resp.Body.Close()
	resp, err = post(t, tr, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Fatalf("read after Close: %v, want an error", err)
	}
}

// TestWire covers answers net/http clients meet: 100 Continue before the
// answer, Connection: close, a body until the connection closes, HEAD, a
// header over the limit, a malformed status line.
func TestWire(t *testing.T) {
	answers := map[string]string{
		"/continue":  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/close":     "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"/untilEOF":  "HTTP/1.0 200 OK\r\n\r\nok",
		"/big":       "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 3000) + "\r\nContent-Length: 2\r\n\r\nok",
		"/garbage":   "SMTP ready\r\n\r\n",
		"/switching": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
	}
	url, _ := rawServer(t, func(c net.Conn, _ int) {
		br := bufio.NewReader(c)
		for {
			req, err := readReq(br)
			if err != nil {
				return
			}
			io.WriteString(c, answers[req.URL.Path])
			if req.URL.Path != "/continue" && req.URL.Path != "/big" {
				return
			}
		}
	})
	tr := &h1.Transport{MaxResponseHeaderBytes: 2048}
	for i, path := range []string{"/continue", "/close", "/untilEOF"} {
		resp, err := post(t, tr, context.Background(), url+path, "{}")
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := readAll(t, resp); resp.StatusCode != 200 || got != "ok" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, got)
		}
		// /continue's connection is kept and reused by /close, which
		// closes it; /untilEOF's ends with the connection.
		if want := []int{1, 0, 0}[i]; tr.IdleConns() != want {
			t.Fatalf("after %s: %d idle, want %d", path, tr.IdleConns(), want)
		}
	}
	if tr.Dials() != 2 {
		t.Fatalf("%d dials, want 2", tr.Dials())
	}
	tr.CloseIdleConnections()
	for _, path := range []string{"/big", "/garbage", "/switching"} {
		if resp, err := post(t, tr, context.Background(), url+path, "{}"); err == nil {
			resp.Body.Close()
			t.Fatalf("%s: no error", path)
		}
	}
}

// TestRefusesBadRequests: a header value able to start a header of its
// own, a bad method and other schemes are refused before anything is sent.
func TestRefusesBadRequests(t *testing.T) {
	url, accepted := rawServer(t, func(c net.Conn, _ int) { readReq(bufio.NewReader(c)) })
	tr := &h1.Transport{}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	req.Header["X-Evil"] = []string{"a\r\nX-Injected: 1"}
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid header value") {
		t.Fatalf("CRLF in a header value: err = %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, url, nil)
	req.Header["Bad Name"] = []string{"x"}
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a header name with a space was sent")
	}
	req, _ = http.NewRequest(http.MethodPost, strings.Replace(url, "http:", "https:", 1), nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, h1.ErrScheme) {
		t.Fatalf("https: err = %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, url, nil)
	req.Method = "GET /x"
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a method with a space was sent")
	}
	if n := accepted.Load(); n != 0 || tr.Dials() != 0 {
		t.Fatalf("refused requests opened %d connections", n)
	}
}

// TestIdleTimeout: idle connections are closed once idle for the timeout.
func TestIdleTimeout(t *testing.T) {
	var closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := &h1.Transport{IdleTimeout: 100 * time.Millisecond}
	resp, err := post(t, tr, context.Background(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if tr.IdleConns() != 1 {
		t.Fatal("no idle connection")
	}
	deadline := time.Now().Add(5 * time.Second)
	for (tr.IdleConns() != 0 || closed.Load() != 1) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if tr.IdleConns() != 0 || closed.Load() != 1 {
		t.Fatalf("after the idle timeout: %d idle, %d closed", tr.IdleConns(), closed.Load())
	}
}

// TestAgainstNetHTTP sends the same requests through h1 and net/http to a
// server that records the raw bytes of each; the servers' views of the two
// must carry the same method, target, headers and body.
func TestAgainstNetHTTP(t *testing.T) {
	seen := make(chan *http.Request, 2)
	bodies := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- r
		bodies <- string(b)
	}))
	defer srv.Close()
	mk := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages?beta=true", strings.NewReader(`{"a":1}`))
		req.Header.Set("Authorization", "Bearer sk-x")
		req.Header.Set("Anthropic-Version", "2023-06-01")
		req.Header.Add("Accept", "text/event-stream")
		return req
	}
	tr := &h1.Transport{}
	std := &http.Transport{DisableCompression: true}
	defer std.CloseIdleConnections()
	for _, rt := range []http.RoundTripper{tr, std} {
		resp, err := rt.RoundTrip(mk())
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	a, b := <-seen, <-seen
	ab, bb := <-bodies, <-bodies
	if a.Method != b.Method || a.RequestURI != b.RequestURI || a.Host != b.Host || a.ContentLength != b.ContentLength || ab != bb {
		t.Fatalf("h1 sent %s %s %s %d %q; net/http %s %s %s %d %q", a.Method, a.RequestURI, a.Host, a.ContentLength, ab,
			b.Method, b.RequestURI, b.Host, b.ContentLength, bb)
	}
	if fmt.Sprint(a.Header) != fmt.Sprint(b.Header) {
		t.Fatalf("headers differ:\nh1       %v\nnet/http %v", a.Header, b.Header)
	}
}
