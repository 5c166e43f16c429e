package bias

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// builtin holds the suites that ship in the binary.
//
//go:embed suites/*.yaml
var builtin embed.FS

// Catalog is the suites a run may name: the built-in ones and an operator's
// directory, read once at start. It is immutable, so safe to share.
type Catalog struct {
	suites map[string]*Suite
	source map[string]string // "builtin" or the file
}

// SuiteInfo describes a suite for GET /api/admin/bias/suites.
type SuiteInfo struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Source      string   `json:"source"` // builtin, or the operator's file
	Hash        string   `json:"hash"`
	Tasks       []string `json:"tasks"`
	Attributes  []string `json:"attributes"`
	Repetitions int      `json:"repetitions"`
	// Requests is what one run with the suite's repetitions sends (without
	// judge calls).
	Requests int `json:"requests"`
}

// LoadCatalog reads the built-in suites and, when dir is not empty, every
// *.yaml, *.yml and *.json file in dir. A suite in dir replaces a built-in
// one of the same name; a suite that does not parse is an error, so a
// mistake is seen at start rather than at the first run.
func LoadCatalog(dir string) (*Catalog, error) {
	c := &Catalog{suites: map[string]*Suite{}, source: map[string]string{}}
	if err := c.load(builtin, "suites", "builtin"); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := c.load(os.DirFS(dir), ".", dir); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Catalog) load(fsys fs.FS, dir, source string) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("bias suites: %w", err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("bias suite %s: %w", e.Name(), err)
		}
		s, err := ParseSuite(b)
		if err != nil {
			return fmt.Errorf("bias suite %s: %w", e.Name(), err)
		}
		if other, dup := seen[s.Name]; dup {
			return fmt.Errorf("bias suite %s: name %q is also used by %s", e.Name(), s.Name, other)
		}
		seen[s.Name] = e.Name()
		c.suites[s.Name] = s
		c.source[s.Name] = source
		if source != "builtin" {
			c.source[s.Name] = path.Join(source, e.Name())
		}
	}
	return nil
}

// Get returns the suite named name, or nil.
func (c *Catalog) Get(name string) *Suite { return c.suites[name] }

// List describes every suite, by name.
func (c *Catalog) List() []SuiteInfo {
	out := make([]SuiteInfo, 0, len(c.suites))
	for name, s := range c.suites {
		out = append(out, Describe(s, c.source[name]))
	}
	slices.SortFunc(out, func(a, b SuiteInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Describe summarises s.
func Describe(s *Suite, source string) SuiteInfo {
	info := SuiteInfo{Name: s.Name, Description: s.Description, Source: source, Hash: s.Hash(), Repetitions: s.Repetitions}
	for _, t := range s.Tasks {
		info.Tasks = append(info.Tasks, t.Name)
	}
	for _, a := range s.Attributes {
		info.Attributes = append(info.Attributes, a.Name)
	}
	info.Requests = len(Expand(s, Options{}).prompts) * s.Repetitions
	return info
}
