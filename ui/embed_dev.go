//go:build uidev

package ui

import (
	"io/fs"
	"os"
)

// Dist returns ui/dist on disk (go run -tags uidev from the repository
// root): a rebuilt console is served without rebuilding the binary.
func Dist() fs.FS { return os.DirFS("ui/dist") }
