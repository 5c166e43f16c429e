package quality

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// JSON Schema is checked by github.com/santhosh-tekuri/jsonschema, which
// passes the official test suite: every keyword of the schema's draft is
// enforced. The draft is the one $schema names, else 2020-12 (else, for a
// schema that 2020-12 rejects only for a draft-4 or draft-7 form, the newest
// draft with that form: see legacyDraft). format is an annotation unless the
// draft asserts it, as draft 7 and earlier do. Around the library this
// package keeps its own bounds: nothing is ever loaded (a $ref or $schema
// outside the document is refused), documents nest at most maxDepth levels,
// numbers are bounded, and a budget prices each validation before it runs.

// rootURL names the schema document inside the compiler; references
// relative to it resolve (and are refused) under it.
const rootURL = "mem:///schema.json"

// errNotLoaded is what the loader says to every URL.
var errNotLoaded = errors.New("nothing is loaded")

// refusingLoader loads nothing: no network, no files. The library's own
// copies of the standard metaschemas do not go through it.
type refusingLoader struct{}

// Load refuses url.
func (refusingLoader) Load(string) (any, error) { return nil, errNotLoaded }

var _ jsonschema.URLLoader = refusingLoader{}

// compiledSchema is a compiled JSON Schema and what the budget needs to
// price a validation against it. It is safe for concurrent use.
type compiledSchema struct {
	root      *jsonschema.Schema
	dynamic   map[string][]*jsonschema.Schema // $dynamicAnchor name → the subschemas that declare it
	recursive []*jsonschema.Schema            // subschemas with $recursiveAnchor: true
}

// compileSchema parses and compiles a schema document.
func compileSchema(raw json.RawMessage) (*compiledSchema, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	var scan schemaDoc
	if err := scan.walk(doc); err != nil {
		return nil, err
	}
	cs, err := compileDraft(doc, jsonschema.Draft2020, scan.anchors)
	if err == nil {
		return cs, nil
	}
	if legacy := legacyDraft(doc, err); legacy != nil {
		if cs, err = compileDraft(doc, legacy, scan.anchors); err == nil {
			return cs, nil
		}
	}
	return nil, compileError(err, doc)
}

// legacyDraft is the draft to read doc as when it has no $schema and
// 2020-12 rejects it only for the forms that older drafts gave a keyword: a
// tuple "items" (draft 2019-09 and earlier) or a boolean exclusiveMinimum or
// exclusiveMaximum (draft 4). It is nil when doc is simply invalid.
func legacyDraft(doc any, err error) *jsonschema.Draft {
	var invalid *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if !errors.As(err, &invalid) || !errors.As(invalid.Err, &verr) {
		return nil
	}
	if obj, ok := doc.(map[string]any); !ok || obj["$schema"] != nil {
		return nil
	}
	draft := jsonschema.Draft2019
	for _, leaf := range leaves(verr, nil) {
		loc := leaf.InstanceLocation
		if len(loc) == 0 {
			return nil
		}
		switch loc[len(loc)-1] {
		case "items":
		case "exclusiveMinimum", "exclusiveMaximum":
			draft = jsonschema.Draft4
		default:
			return nil
		}
	}
	return draft
}

// leaves appends the errors of e's tree that have no causes.
func leaves(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, c := range e.Causes {
		out = leaves(c, out)
	}
	return out
}

// compileDraft compiles doc with draft as the default.
func compileDraft(doc any, draft *jsonschema.Draft, anchors []string) (*compiledSchema, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(refusingLoader{})
	c.DefaultDraft(draft)
	if err := c.AddResource(rootURL, doc); err != nil {
		return nil, err
	}
	root, err := c.Compile(rootURL)
	if err != nil {
		return nil, err
	}
	cs := &compiledSchema{root: root}
	for _, ptr := range anchors {
		sch, err := c.Compile(rootURL + "#" + escapeFragment(ptr))
		if err != nil {
			continue // not a subschema (an anchor-like object in data, say): never a $dynamicRef target
		}
		if sch.DynamicAnchor != "" {
			if cs.dynamic == nil {
				cs.dynamic = map[string][]*jsonschema.Schema{}
			}
			cs.dynamic[sch.DynamicAnchor] = append(cs.dynamic[sch.DynamicAnchor], sch)
		}
		if sch.RecursiveAnchor {
			cs.recursive = append(cs.recursive, sch)
		}
	}
	return cs, nil
}

// escapeFragment escapes a "#/a/b" JSON pointer for use in a URL fragment.
func escapeFragment(ptr string) string {
	toks := strings.Split(strings.TrimPrefix(ptr, "#"), "/")
	for i, tok := range toks {
		toks[i] = url.PathEscape(tok)
	}
	return strings.Join(toks, "/")
}

// compileError says in one line why a schema does not compile.
func compileError(err error, doc any) error {
	var (
		load    *jsonschema.LoadURLError
		pointer *jsonschema.JSONPointerNotFoundError
		anchor  *jsonschema.AnchorNotFoundError
		invalid *jsonschema.SchemaValidationError
	)
	switch {
	case errors.As(err, &load):
		return fmt.Errorf("%q is not loaded: only references into the same schema (#, #/$defs/…) are allowed; nothing is fetched from the network or files", localURL(load.URL))
	case errors.As(err, &pointer):
		return fmt.Errorf("$ref %q points at nothing", localURL(pointer.URL))
	case errors.As(err, &anchor):
		return fmt.Errorf("$ref %q points at nothing", localURL(anchor.Reference))
	case errors.As(err, &invalid):
		var verr *jsonschema.ValidationError
		if errors.As(invalid.Err, &verr) {
			d := describer{doc: doc, pointers: true}
			return errors.New(d.describe(verr))
		}
	}
	return errors.New(oneLine(localURL(err.Error())))
}

// localURL strips the document's own name from a URL or a message.
func localURL(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, rootURL, ""), "mem:///", "")
}

// validate checks a decoded JSON value (numbers as json.Number; huge ones
// are clamped in place). A *violation says where the value breaks the
// schema; any other error says the check could not be done.
func (cs *compiledSchema) validate(doc any) error {
	doc, root, err := readAnswer(doc)
	if err != nil {
		return err
	}
	if err := cs.price(root); err != nil {
		return err
	}
	err = cs.root.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("validate: %w", err)
	}
	if loop := refLoop(verr); loop != nil {
		return fmt.Errorf("%w (a $ref loop: %s)", errTooDeep, loop.KeywordLocation1)
	}
	d := describer{doc: doc}
	return &violation{d.describe(verr)}
}

// refLoop finds a reference cycle the library stopped: a $ref that leads
// back to itself without descending into the value.
func refLoop(e *jsonschema.ValidationError) *kind.RefCycle {
	if k, ok := e.ErrorKind.(*kind.RefCycle); ok {
		return k
	}
	for _, c := range e.Causes {
		if k := refLoop(c); k != nil {
			return k
		}
	}
	return nil
}
