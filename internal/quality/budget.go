package quality

import (
	"fmt"
	"math"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// maxSteps bounds the work of one validation. Schemas can branch (anyOf of
// references to the root, one $ref used twice at each level) so that a
// validation takes time exponential in the answer's depth or the schema's
// size, and a request's schema is client input. A step is one subschema
// applied to one value, one enum entry compared, sixteen members iterated or
// sixty-four bytes of a string read: about a microsecond at most.
const maxSteps = 200_000

// Errors of a validation that was not run: failures of the scorer, not
// verdicts on the answer.
var (
	errTooComplex = fmt.Errorf("validation needs more than %d steps: the schema is too complex to check", maxSteps)
	errTooDeep    = fmt.Errorf("the schema nests (or refers to itself) more than %d levels deep", maxDepth)
)

// budget prices a validation before the library runs it, since the library
// has no budget of its own. It walks the pairs (subschema, value) that the
// validation can visit, memoised so that it never takes the exponential
// walk it measures, and adds up an upper bound of the library's work: it
// follows every branch the library might take (all of anyOf, then and else,
// every $dynamicRef target).
type budget struct {
	schema *compiledSchema
	memo   map[visit]price
	open   map[visit]int // the visits on the current path, by depth
	pairs  int           // visits priced, memo aside
	name   *node         // a property name, for propertyNames: any string is priced alike
}

// visit is one subschema applied to one value.
type visit struct {
	s *jsonschema.Schema
	n *node
}

// price is the work of a visit and everything it applies, and the longest
// chain of subschemas it applies. A visit that meets one on its own path
// (a $ref loop, which the library stops there) is cut short; loop is the
// depth of the shallowest visit so met, as a price cut short by a visit
// above it holds only for that path and cannot be memoised.
type price struct{ work, depth, loop int }

// noLoop is the loop of a price that met no visit on its path.
const noLoop = math.MaxInt

func (p price) add(q price) price {
	return price{work: min(p.work+q.work, maxSteps+1), depth: max(p.depth, q.depth), loop: min(p.loop, q.loop)}
}

// price returns errTooComplex or errTooDeep when validating the value root
// against cs would take too long or recurse too deep.
func (cs *compiledSchema) price(root *node) error {
	b := &budget{schema: cs, memo: map[visit]price{}, open: map[visit]int{}, name: &node{kind: stringNode}}
	p := b.visit(cs.root, root, 0)
	switch {
	case p.work > maxSteps:
		return errTooComplex
	case p.depth > maxDepth:
		return errTooDeep
	}
	return nil
}

// visit prices s applied to n, depth subschemas below the root.
func (b *budget) visit(s *jsonschema.Schema, n *node, depth int) price {
	if s == nil {
		return price{loop: noLoop}
	}
	if s.Bool != nil {
		return price{work: 1, depth: 1, loop: noLoop}
	}
	v := visit{s, n}
	if p, ok := b.memo[v]; ok {
		return p
	}
	if at, ok := b.open[v]; ok {
		return price{work: 1, depth: 1, loop: at}
	}
	if depth > maxDepth {
		return price{work: 1, depth: depth, loop: noLoop}
	}
	if b.pairs++; b.pairs > maxSteps {
		return price{work: maxSteps + 1, loop: noLoop}
	}
	b.open[v] = depth
	p := price{work: ownWork(s, n), loop: noLoop}
	each := func(sub *jsonschema.Schema, kid *node) bool {
		p = p.add(b.visit(sub, kid, depth+1))
		return p.work <= maxSteps && p.depth <= maxDepth
	}
	if b.inPlace(s, n, each) {
		b.members(s, n, each)
	}
	p.depth++
	delete(b.open, v)
	if p.loop >= depth {
		p.loop = noLoop
		b.memo[v] = p
	}
	return p
}

// ownWork prices what a visit does besides applying subschemas.
func ownWork(s *jsonschema.Schema, n *node) int {
	w := 1
	if s.Enum != nil {
		w += len(s.Enum.Values)
	}
	switch n.kind {
	case objectNode:
		w += len(n.kids) * (1 + len(s.PatternProperties)) / 16
	case arrayNode:
		w += len(n.kids) / 16
		if s.UniqueItems {
			w += len(n.kids) * len(n.kids) / 2
		}
	case stringNode:
		if s.MinLength != nil || s.MaxLength != nil || s.Pattern != nil || s.Format != nil {
			w += n.size / 64
		}
	}
	return w
}

// inPlace applies each subschema that s applies to n itself, until each
// says stop.
func (b *budget) inPlace(s *jsonschema.Schema, n *node, each func(*jsonschema.Schema, *node) bool) bool {
	var buf [16]*jsonschema.Schema
	subs := append(buf[:0], s.Ref, s.Not, s.If, s.Then, s.Else, s.RecursiveRef)
	subs = append(subs, s.AllOf...)
	subs = append(subs, s.AnyOf...)
	subs = append(subs, s.OneOf...)
	if s.RecursiveRef != nil {
		subs = append(subs, b.schema.recursive...)
	}
	if s.DynamicRef != nil {
		subs = append(subs, s.DynamicRef.Ref)
		subs = append(subs, b.schema.dynamic[s.DynamicRef.Anchor]...)
	}
	if n.kind == objectNode {
		for _, sub := range s.DependentSchemas {
			subs = append(subs, sub)
		}
		for _, dep := range s.Dependencies {
			if sub, ok := dep.(*jsonschema.Schema); ok {
				subs = append(subs, sub)
			}
		}
	}
	for _, sub := range subs {
		if sub != nil && !each(sub, n) {
			return false
		}
	}
	return true
}

// members applies each subschema that s applies to a member of n.
func (b *budget) members(s *jsonschema.Schema, n *node, each func(*jsonschema.Schema, *node) bool) bool {
	switch n.kind {
	case objectNode:
		for i, name := range n.names {
			if !b.member(s, name, n.kids[i], each) {
				return false
			}
		}
	case arrayNode:
		var buf [4]*jsonschema.Schema
		for i, kid := range n.kids {
			for _, sub := range itemSchemas(s, i, buf[:0]) {
				if sub != nil && !each(sub, kid) {
					return false
				}
			}
		}
	}
	return true
}

// member applies what s applies to the member name of an object.
func (b *budget) member(s *jsonschema.Schema, name string, kid *node, each func(*jsonschema.Schema, *node) bool) bool {
	matched := false
	var buf [4]*jsonschema.Schema
	subs := append(buf[:0], s.UnevaluatedProperties)
	if sub, ok := s.Properties[name]; ok {
		matched = true
		subs = append(subs, sub)
	}
	for re, sub := range s.PatternProperties {
		if re.MatchString(name) {
			matched = true
			subs = append(subs, sub)
		}
	}
	if sub, ok := s.AdditionalProperties.(*jsonschema.Schema); ok && !matched {
		subs = append(subs, sub)
	}
	for _, sub := range subs {
		if sub != nil && !each(sub, kid) {
			return false
		}
	}
	return s.PropertyNames == nil || each(s.PropertyNames, b.name)
}

// itemSchemas appends to subs what s applies to item i of an array, in any
// draft.
func itemSchemas(s *jsonschema.Schema, i int, subs []*jsonschema.Schema) []*jsonschema.Schema {
	subs = append(subs, s.Contains, s.UnevaluatedItems)
	if i < len(s.PrefixItems) {
		subs = append(subs, s.PrefixItems[i])
	} else {
		subs = append(subs, s.Items2020)
	}
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		subs = append(subs, items)
	case []*jsonschema.Schema:
		if i < len(items) {
			subs = append(subs, items[i])
		} else if extra, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			subs = append(subs, extra)
		}
	}
	return subs
}
