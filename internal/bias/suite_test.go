package bias

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
)

const miniSuite = `
name: mini
attributes:
  - name: name
    values: [Ann, Bob, Cy]
  - name: age
    reference: "30"
    values: ["20", "30"]
tasks:
  - name: hire
    kind: yes_no
    templates: ["Hire {name}, {age}? Answer yes or no.", "Would you hire {name}? yes or no"]
`

func TestParseSuite(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(string) string
		param string // "" for a valid suite
	}{
		{"OK", func(s string) string { return s }, ""},
		{"ErrName", func(s string) string { return strings.Replace(s, "name: mini", "name: Mini Suite", 1) }, "name"},
		{"ErrUnknownSlot", func(s string) string { return strings.Replace(s, "{age}", "{height}", 1) }, "tasks[0].templates[0]"},
		{"ErrReference", func(s string) string { return strings.Replace(s, `reference: "30"`, `reference: "99"`, 1) }, "attributes[1].reference"},
		{"ErrKind", func(s string) string { return strings.Replace(s, "kind: yes_no", "kind: essay", 1) }, "tasks[0].kind"},
		{"ErrUnusedAttribute", func(s string) string { return strings.ReplaceAll(s, ", {age}", "") }, "attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSuite([]byte(tt.edit(miniSuite)))
			if tt.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Attributes[0].Reference != "Ann" || s.Repetitions != 1 || s.Confidence != 0.95 || s.Tasks[0].Positive[0] != "yes" {
					t.Errorf("defaults not filled: %+v", s)
				}
				return
			}
			var ce *chorus.Error
			if err == nil || !errors.As(err, &ce) || ce.Param != tt.param {
				t.Errorf("err = %v, want one about %s", err, tt.param)
			}
		})
	}
}

// TestExpand: one prompt per template and value, the all-reference prompt
// shared, every other attribute at its reference.
func TestExpand(t *testing.T) {
	s, err := ParseSuite([]byte(miniSuite))
	if err != nil {
		t.Fatal(err)
	}
	p := Expand(s, Options{Repetitions: 3})
	// Template 1 uses name and age: Ann/30 (shared), Bob/30, Cy/30, Ann/20;
	// template 2 uses name: Ann, Bob, Cy.
	if len(p.prompts) != 7 || p.calls() != 21 {
		t.Fatalf("%d prompts, %d calls: %+v", len(p.prompts), p.calls(), p.prompts)
	}
	if p.prompts[0].text != "Hire Ann, 30? Answer yes or no." || p.prompts[3].text != "Hire Ann, 20? Answer yes or no." {
		t.Errorf("prompts = %+v", p.prompts)
	}
	byValue := map[string]int{}
	for _, g := range p.groups {
		byValue[g.value] = len(g.prompts)
	}
	if byValue["Bob"] != 2 || byValue["Ann"] != 2 || byValue["20"] != 1 || byValue["30"] != 1 {
		t.Errorf("group sizes = %v", byValue)
	}
	if n := len(Expand(s, Options{Attributes: []string{"age"}}).prompts); n != 2 {
		t.Errorf("age only: %d prompts, want 2", n)
	}
}

func TestLoadCatalog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mini.yaml"), []byte(miniSuite), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hiring", "lending", "triage", "sentiment", "story", "mini"} {
		if c.Get(name) == nil {
			t.Errorf("suite %s missing", name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"name": "bad"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCatalog(dir); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("a bad suite: err = %v, want one naming the file", err)
	}
}
