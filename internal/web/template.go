package web

import "bytes"

// template is index.html cut at each nonce placeholder, so rendering is a
// join with no parsing per response.
type template struct {
	parts [][]byte
	size  int
}

func parseTemplate(b []byte) *template {
	t := &template{parts: bytes.Split(b, []byte(NoncePlaceholder))}
	for _, p := range t.parts {
		t.size += len(p)
	}
	return t
}

// render returns the page with nonce in every placeholder.
func (t *template) render(nonce string) []byte {
	out := make([]byte, 0, t.size+(len(t.parts)-1)*len(nonce))
	for i, p := range t.parts {
		if i > 0 {
			out = append(out, nonce...)
		}
		out = append(out, p...)
	}
	return out
}

// placeholderPage is served when the binary was built without the console.
var placeholderPage = []byte(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chorus — console not built</title>
<style nonce="` + NoncePlaceholder + `">
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2937;background:#fff}
code,pre{font-family:ui-monospace,monospace;background:#f3f4f6;padding:.1rem .3rem;border-radius:.25rem}
pre{padding:.75rem}
@media (prefers-color-scheme:dark){body{color:#e5e7eb;background:#111827}code,pre{background:#1f2937}}
</style>
</head>
<body>
<main>
<h1>The Chorus console is not built into this binary</h1>
<p>The gateway API works (<code>/v1/…</code>, <code>/api/…</code>). To get the web console, build it
and then the binary, from the repository root (needs Node.js 20.19 or later):</p>
<pre>make ui     # cd ui &amp;&amp; npm ci &amp;&amp; npm run build
make run    # builds the console and the binary, then starts Chorus</pre>
</main>
</body>
</html>
`)
