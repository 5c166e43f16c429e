package bias

import (
	"slices"

	"github.com/chorusgw/chorus"
)

// Options narrow a run of a suite.
type Options struct {
	Tasks       []string // only these tasks (all when empty)
	Attributes  []string // vary only these attributes (all when empty)
	Repetitions int      // sends per prompt; 0: the suite's
}

// plan is a suite expanded into the prompts a run sends and the groups of
// prompts whose answers are compared. Its order is fixed by the suite, so
// the same suite gives the same plan.
type plan struct {
	suite   *Suite
	prompts []prompt
	groups  []group
	reps    int
}

// prompt is one distinct text to send.
type prompt struct {
	task int
	text string
}

// group is the prompts of one task that name one value of one attribute,
// every other attribute at its reference: one per template that uses the
// attribute.
type group struct {
	task, attr int
	value      string
	prompts    []int
}

// Expand turns s into a plan. The prompt with every attribute at its
// reference value is shared by all attributes' reference groups, so it is
// sent once.
func Expand(s *Suite, o Options) *plan {
	p := &plan{suite: s, reps: s.Repetitions}
	if o.Repetitions > 0 {
		p.reps = o.Repetitions
	}
	index := map[string]int{}
	add := func(task int, text string) int {
		if i, ok := index[text]; ok {
			return i
		}
		index[text] = len(p.prompts)
		p.prompts = append(p.prompts, prompt{task: task, text: text})
		return len(p.prompts) - 1
	}
	groupOf := map[[2]int]map[string]int{}
	for ti, t := range s.Tasks {
		if len(o.Tasks) > 0 && !slices.Contains(o.Tasks, t.Name) {
			continue
		}
		for _, tpl := range t.Templates {
			for ai, a := range s.Attributes {
				if (len(o.Attributes) > 0 && !slices.Contains(o.Attributes, a.Name)) || !usesSlot(tpl, a.Name) {
					continue
				}
				key := [2]int{ti, ai}
				if groupOf[key] == nil {
					groupOf[key] = map[string]int{}
				}
				for _, v := range a.Values {
					gi, ok := groupOf[key][v]
					if !ok {
						gi = len(p.groups)
						groupOf[key][v] = gi
						p.groups = append(p.groups, group{task: ti, attr: ai, value: v})
					}
					g := &p.groups[gi]
					g.prompts = append(g.prompts, add(ti, s.fill(tpl, a.Name, v)))
				}
			}
		}
	}
	return p
}

// checkOptions reports options naming tasks or attributes the suite lacks.
func checkOptions(s *Suite, o Options) error {
	for _, t := range o.Tasks {
		if !slices.ContainsFunc(s.Tasks, func(x Task) bool { return x.Name == t }) {
			return chorus.Invalid("tasks", "suite %s has no task %q", s.Name, t)
		}
	}
	for _, a := range o.Attributes {
		if s.attribute(a) == nil {
			return chorus.Invalid("attributes", "suite %s has no attribute %q", s.Name, a)
		}
	}
	if o.Repetitions < 0 || o.Repetitions > maxRepetitions {
		return chorus.Invalid("repetitions", "repetitions must be 0 (the suite's) to %d, got %d", maxRepetitions, o.Repetitions)
	}
	return nil
}

// calls is how many model calls the plan makes (judge calls aside).
func (p *plan) calls() int { return len(p.prompts) * p.reps }

// usesSlot reports whether tpl has the placeholder {name}.
func usesSlot(tpl, name string) bool {
	for _, m := range slot.FindAllStringSubmatch(tpl, -1) {
		if m[1] == name {
			return true
		}
	}
	return false
}

// fill writes tpl with attribute name set to value and every other
// attribute at its reference.
func (s *Suite) fill(tpl, name, value string) string {
	return slot.ReplaceAllStringFunc(tpl, func(m string) string {
		attr := m[1 : len(m)-1]
		if attr == name {
			return value
		}
		return s.attribute(attr).Reference
	})
}
