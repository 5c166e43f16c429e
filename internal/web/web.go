// Package web serves the embedded console: the single-page app's files
// with the right types, caching and pre-compressed variants, index.html
// for every route the app handles in the browser, and the page security
// headers (a Content-Security-Policy with a fresh nonce per response).
package web

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// NoncePlaceholder is what the build writes where the per-response CSP
// nonce goes (Vite's html.cspNonce); the handler replaces it in index.html.
const NoncePlaceholder = "__CSP_NONCE__"

// Cache-Control values.
const (
	cacheImmutable  = "public, max-age=31536000, immutable" // content-hashed names under assets/
	cacheRevalidate = "no-cache"                            // other static files: favicon, robots.txt
	cacheNoStore    = "no-store"                            // index.html: it carries a fresh nonce
)

// Options configure a Handler.
type Options struct {
	// FS holds the built console (index.html, assets/…), such as ui.Dist().
	FS fs.FS
	// IsTLS says whether a request reached us over TLS, directly or through
	// a trusted proxy; Strict-Transport-Security is sent only then. Nil
	// means r.TLS != nil.
	IsTLS func(r *http.Request) bool
	// Logger receives failures to read the embedded files.
	Logger *slog.Logger
}

// Handler serves the console. It answers GET and HEAD only; paths under
// /api/ and /v1/ are 404, so an API client never receives the app's HTML.
type Handler struct {
	fsys    fs.FS
	isTLS   func(r *http.Request) bool
	log     *slog.Logger
	index   *template // nil when the console was not built
	modTime time.Time
}

// New returns a Handler over opts.FS. A FS without index.html (a build of
// the binary without `make ui`) is not an error: the handler then serves a
// page that says how to build the console.
func New(opts Options) (*Handler, error) {
	if opts.FS == nil {
		return nil, errors.New("web: Options.FS is required")
	}
	h := &Handler{fsys: opts.FS, isTLS: opts.IsTLS, log: opts.Logger, modTime: time.Now()}
	if h.isTLS == nil {
		h.isTLS = func(r *http.Request) bool { return r.TLS != nil }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	b, err := fs.ReadFile(opts.FS, "index.html")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		h.index = parseTemplate(placeholderPage)
	case err != nil:
		return nil, err
	default:
		h.index = parseTemplate(b)
	}
	return h, nil
}

// Built reports whether the FS held a built console.
func (h *Handler) Built() bool {
	_, err := fs.Stat(h.fsys, "index.html")
	return err == nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header(), h.isTLS(r))
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p == "/api" || p == "/v1" || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/v1/") {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" || name == "index.html" {
		h.serveIndex(w, r)
		return
	}
	if h.serveFile(w, r, name) {
		return
	}
	if looksLikeAsset(name) {
		w.Header().Set("Cache-Control", cacheNoStore)
		http.NotFound(w, r)
		return
	}
	h.serveIndex(w, r) // a route of the app: the browser's router takes it from here
}

// looksLikeAsset is true for paths the app's router never handles: the
// build's asset folder and names with a file extension. A missing asset
// must be a 404, not index.html served as JavaScript.
func looksLikeAsset(name string) bool {
	return name == "assets" || strings.HasPrefix(name, "assets/") || path.Ext(name) != ""
}

// serveIndex writes index.html with a fresh nonce in the page and in its
// Content-Security-Policy.
func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	nonce, err := newNonce()
	if err != nil {
		h.log.Error("web: nonce", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy(nonce))
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", cacheNoStore)
	body := h.index.render(nonce)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// serveFile serves name from the FS, or its pre-compressed .br or .gz
// sibling when the client accepts it; false when there is no such file.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	if strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") || !fs.ValidPath(name) {
		return false // the variants are served only as the encoding of their original
	}
	st, err := fs.Stat(h.fsys, name)
	if err != nil || st.IsDir() {
		return false
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType(name))
	if strings.HasPrefix(name, "assets/") {
		hd.Set("Cache-Control", cacheImmutable)
	} else {
		hd.Set("Cache-Control", cacheRevalidate)
	}
	serve, encoding := name, ""
	if compressible(name) {
		hd.Add("Vary", "Accept-Encoding")
		for _, enc := range []struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
			if !acceptsEncoding(r.Header.Get("Accept-Encoding"), enc.token) {
				continue
			}
			if _, err := fs.Stat(h.fsys, name+enc.ext); err == nil {
				serve, encoding = name+enc.ext, enc.token
				break
			}
		}
	}
	f, err := h.fsys.Open(serve)
	if err != nil {
		h.log.Error("web: open embedded file", "name", serve, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return true
	}
	defer f.Close()
	if encoding != "" {
		hd.Set("Content-Encoding", encoding)
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			h.log.Error("web: read embedded file", "name", serve, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return true
		}
		rs = bytes.NewReader(b)
	}
	// ServeContent handles Range and HEAD; its modification time is the
	// handler's start (embedded files have none), so If-Modified-Since works
	// within one process's life and hashed names make it moot.
	http.ServeContent(w, r, "", h.modTime, rs)
	return true
}

// contentTypes covers what a Vite build emits, independent of the host's
// MIME tables.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".webp":        "image/webp",
	".woff2":       "font/woff2",
	".woff":        "font/woff",
	".txt":         "text/plain; charset=utf-8",
	".webmanifest": "application/manifest+json",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible is true for the types the build pre-compresses.
func compressible(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".mjs", ".css", ".html", ".json", ".map", ".svg", ".txt", ".webmanifest":
		return true
	}
	return false
}

// acceptsEncoding reports whether an Accept-Encoding header accepts token
// (explicitly, or through "*"), honouring q=0.
func acceptsEncoding(header, token string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != token && name != "*" {
			continue
		}
		ok := true
		for _, prm := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(prm), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q == 0 {
					ok = false
				}
			}
		}
		if name == token {
			return ok
		}
		star = ok
	}
	return star
}
