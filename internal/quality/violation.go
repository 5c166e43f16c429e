package quality

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// violation is where a value breaks its schema, in one line:
// "at $.items[2].name: expected string, got integer".
type violation struct{ msg string }

func (v *violation) Error() string { return v.msg }

// describer renders the library's tree of validation errors as one line
// about its first error: the earliest place in the value, then the first
// keyword there, in the library's order.
type describer struct {
	doc any // the value validated

	// pointers is set when doc is a schema checked against its metaschema:
	// places are JSON pointers ("#/properties/a") and the metaschema's own
	// combinators are looked through.
	pointers bool

	// bare leaves out places: the value is a property name.
	bare bool
}

func (d *describer) describe(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference:
		if len(e.Causes) > 0 {
			return d.describe(earliest(e.Causes))
		}
	case *kind.AllOf:
		if len(e.Causes) > 0 {
			if d.pointers {
				return d.describe(e.Causes[0])
			}
			return "allOf" + subschemaIndex(e.Causes[0], "allOf") + ": " + d.describe(e.Causes[0])
		}
	case *kind.AnyOf:
		if len(e.Causes) > 0 {
			if d.pointers {
				return d.describe(furthest(e.Causes))
			}
			return d.at(e) + "matches none of the anyOf schemas (the first says: " + d.describe(e.Causes[0]) + ")"
		}
	case *kind.OneOf:
		if len(k.Subschemas) == 2 {
			return d.at(e) + fmt.Sprintf("matches 2 of the oneOf schemas (oneOf[%d] and oneOf[%d]); exactly one is allowed", k.Subschemas[0], k.Subschemas[1])
		}
		if len(e.Causes) > 0 {
			if d.pointers {
				return d.describe(furthest(e.Causes))
			}
			return d.at(e) + "matches none of the oneOf schemas (the first says: " + d.describe(e.Causes[0]) + ")"
		}
	case *kind.PropertyNames:
		msg := fmt.Sprintf("property name %q does not match propertyNames", k.Property)
		if len(e.Causes) > 0 {
			inner := describer{doc: k.Property, bare: true}
			msg += ": " + inner.describe(earliest(e.Causes))
		}
		return d.at(e) + msg
	}
	return d.at(e) + oneLine(d.message(e))
}

// earliest is the error at the earliest place in the value; of several
// there, the first.
func earliest(errs []*jsonschema.ValidationError) *jsonschema.ValidationError {
	return slices.MinFunc(errs, func(a, b *jsonschema.ValidationError) int {
		return compareLocations(a.InstanceLocation, b.InstanceLocation)
	})
}

// furthest is the error that reaches deepest into the value: of the
// metaschema's alternatives, the one the schema came closest to matching.
func furthest(errs []*jsonschema.ValidationError) *jsonschema.ValidationError {
	reach := func(e *jsonschema.ValidationError) int {
		n := 0
		for _, leaf := range leaves(e, nil) {
			n = max(n, len(leaf.InstanceLocation))
		}
		return n
	}
	return slices.MaxFunc(errs, func(a, b *jsonschema.ValidationError) int { return reach(a) - reach(b) })
}

// compareLocations orders places in a value: a container before its
// members, array items by index, object members by name.
func compareLocations(a, b []string) int {
	for i := range min(len(a), len(b)) {
		x, errx := strconv.Atoi(a[i])
		y, erry := strconv.Atoi(b[i])
		if errx == nil && erry == nil && x != y {
			return x - y
		}
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// subschemaIndex is "[i]" when e comes from subschema i of keyword.
func subschemaIndex(e *jsonschema.ValidationError, keyword string) string {
	at := strings.LastIndex(e.SchemaURL, "/"+keyword+"/")
	if at < 0 {
		return ""
	}
	i, err := strconv.Atoi(e.SchemaURL[at+len(keyword)+2:])
	if err != nil {
		return ""
	}
	return "[" + strconv.Itoa(i) + "]"
}

// at names the place of e: "at $.a[1]: ", or "#/a/1: " in a schema.
func (d *describer) at(e *jsonschema.ValidationError) string {
	switch {
	case d.bare:
		return ""
	case d.pointers:
		return "#" + jsonPointer(e.InstanceLocation) + ": "
	}
	path := "$"
	v := d.doc
	for _, tok := range e.InstanceLocation {
		switch t := v.(type) {
		case []any:
			i, _ := strconv.Atoi(tok)
			path += "[" + tok + "]"
			if i >= 0 && i < len(t) {
				v = t[i]
			}
		default:
			path = propertyPath(path, tok)
			if m, ok := t.(map[string]any); ok {
				v = m[tok]
			}
		}
	}
	return "at " + path + ": "
}

// value is the value at e's place.
func (d *describer) value(e *jsonschema.ValidationError) any {
	v := d.doc
	for _, tok := range e.InstanceLocation {
		switch t := v.(type) {
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		case map[string]any:
			v = t[tok]
		default:
			return nil
		}
	}
	return v
}

// message says what is wrong at e's place.
func (d *describer) message(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return fmt.Sprintf("expected %s, got %s", strings.Join(k.Want, " or "), jsonKind(d.value(e)))
	case *kind.Const:
		return "must equal " + compact(k.Want)
	case *kind.Enum:
		return compact(k.Got) + " is not one of " + compact(k.Want)
	case *kind.FalseSchema:
		return falseSchema(e.SchemaURL)
	case *kind.Not:
		return `matches the schema under "not"`
	case *kind.Format:
		if k.Want == "regex" {
			return fmt.Sprintf("%s is not a valid regular expression (RE2 syntax): %v", compact(k.Got), k.Err)
		}
		return fmt.Sprintf("%s is not a valid %s: %v", compact(k.Got), k.Want, k.Err)
	}
	if msg, ok := d.numberMessage(e); ok {
		return msg
	}
	if msg, ok := sizeMessage(e.ErrorKind); ok {
		return msg
	}
	if msg, ok := objectMessage(e.ErrorKind); ok {
		return msg
	}
	if e.ErrorKind == nil {
		return "does not match"
	}
	return e.ErrorKind.LocalizedString(message.NewPrinter(language.English))
}

// falseSchema explains a false schema, naming the keyword that holds it.
func falseSchema(schemaURL string) string {
	kw := schemaURL[strings.LastIndex(schemaURL, "/")+1:]
	switch kw {
	case "items", "additionalItems", "unevaluatedItems", "additionalProperties", "unevaluatedProperties", "contains", "then", "else":
		return "no value is allowed here (" + kw + " is false)"
	}
	return "no value is allowed here (false schema)"
}

// numberMessage explains a number's bound.
func (d *describer) numberMessage(e *jsonschema.ValidationError) (string, bool) {
	var got, want *big.Rat
	var format string
	switch k := e.ErrorKind.(type) {
	case *kind.Minimum:
		got, want, format = k.Got, k.Want, "%s is less than the minimum %s"
	case *kind.Maximum:
		got, want, format = k.Got, k.Want, "%s is greater than the maximum %s"
	case *kind.ExclusiveMinimum:
		got, want, format = k.Got, k.Want, "%s must be greater than %s"
	case *kind.ExclusiveMaximum:
		got, want, format = k.Got, k.Want, "%s must be less than %s"
	case *kind.MultipleOf:
		got, want, format = k.Got, k.Want, "%s is not a multiple of %s"
	default:
		return "", false
	}
	g := ratString(got)
	if n, ok := d.value(e).(json.Number); ok {
		g = clip(string(n), 40)
	}
	return fmt.Sprintf(format, g, ratString(want)), true
}

// ratString writes a schema's bound as its author would: 150, 0.25.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return clip(r.Num().String(), 40)
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// sizeMessage explains a bound on a size: of a string, an array, an object.
func sizeMessage(k jsonschema.ErrorKind) (string, bool) {
	switch k := k.(type) {
	case *kind.MinLength:
		return fmt.Sprintf("string of %d characters is shorter than minLength %d", k.Got, k.Want), true
	case *kind.MaxLength:
		return fmt.Sprintf("string of %d characters is longer than maxLength %d", k.Got, k.Want), true
	case *kind.Pattern:
		return fmt.Sprintf("%s does not match the pattern %q", compact(k.Got), k.Want), true
	case *kind.MinItems:
		return fmt.Sprintf("%d items, fewer than minItems %d", k.Got, k.Want), true
	case *kind.MaxItems:
		return fmt.Sprintf("%d items, more than maxItems %d", k.Got, k.Want), true
	case *kind.AdditionalItems:
		return fmt.Sprintf("%d items more than the tuple allows (additionalItems is false)", k.Count), true
	case *kind.UniqueItems:
		return fmt.Sprintf("items %d and %d are equal; uniqueItems is set", k.Duplicates[0], k.Duplicates[1]), true
	case *kind.Contains:
		return "no item matches the contains schema", true
	case *kind.MinContains:
		return fmt.Sprintf("%d items match the contains schema, fewer than minContains %d", len(k.Got), k.Want), true
	case *kind.MaxContains:
		return fmt.Sprintf("%d items match the contains schema, more than maxContains %d", len(k.Got), k.Want), true
	case *kind.MinProperties:
		return fmt.Sprintf("%d properties, fewer than minProperties %d", k.Got, k.Want), true
	case *kind.MaxProperties:
		return fmt.Sprintf("%d properties, more than maxProperties %d", k.Got, k.Want), true
	}
	return "", false
}

// objectMessage explains a missing or unwanted property.
func objectMessage(k jsonschema.ErrorKind) (string, bool) {
	switch k := k.(type) {
	case *kind.Required:
		if len(k.Missing) == 1 {
			return fmt.Sprintf("missing required property %q", k.Missing[0]), true
		}
		return "missing required properties " + quoteAll(k.Missing), true
	case *kind.DependentRequired:
		return fmt.Sprintf("property %q requires %s (dependentRequired)", k.Prop, quoteAll(k.Missing)), true
	case *kind.Dependency:
		return fmt.Sprintf("property %q requires %s (dependencies)", k.Prop, quoteAll(k.Missing)), true
	case *kind.AdditionalProperties:
		if len(k.Properties) == 1 {
			return fmt.Sprintf("property %q is not allowed (additionalProperties is false)", k.Properties[0]), true
		}
		return "properties " + quoteAll(k.Properties) + " are not allowed (additionalProperties is false)", true
	}
	return "", false
}

// quoteAll quotes names, sorted, comma-separated, at most eight.
func quoteAll(names []string) string {
	names = slices.Sorted(slices.Values(names))
	more := ""
	if len(names) > 8 {
		names, more = names[:8], fmt.Sprintf(" and %d more", len(names)-8)
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(clip(n, 40))
	}
	return strings.Join(q, ", ") + more
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// propertyPath appends a property to a path: $.name, or $["odd name"].
func propertyPath(path, name string) string {
	ident := name != ""
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ident = false
			break
		}
	}
	if ident {
		return path + "." + name
	}
	return path + "[" + strconv.Quote(clip(name, 40)) + "]"
}

// jsonKind names a JSON value's type as a schema would, integer apart.
func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if _, digits, exp := decimal(string(x)); digits == "" || exp >= 0 {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// compact renders a value for a reason, shortened.
func compact(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return clip(strings.TrimSuffix(b.String(), "\n"), 80)
}
