//go:build !uidev

// Package ui holds the customer console, a React app built by Vite into
// dist/ and embedded in the binary. Build it with `make ui`; without a
// build, dist holds only a placeholder and the server explains how.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built console, rooted at dist/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // only if the embed directive changed
		panic(err)
	}
	return sub
}
