package quality_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

// checkScore scores doc against an explicit schema and compares the verdict.
func checkScore(t *testing.T, e *quality.Evaluator, schema, doc string, want float64, reason string) {
	t.Helper()
	spec := quality.Spec{Type: quality.TypeJSONSchema, Schema: json.RawMessage(schema)}
	if err := e.Validate([]quality.Spec{spec}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got := scoreOne(t, e, spec, request("q"), answer(doc))
	if got.Value != want {
		t.Errorf("value = %v (%s), want %v", got.Value, got.Reason, want)
	}
	if !strings.Contains(got.Reason, reason) {
		t.Errorf("reason = %q, want it to mention %q", got.Reason, reason)
	}
}

// TestJSONSchemaKeywords covers keywords and drafts that the hand-written
// subset refused.
func TestJSONSchemaKeywords(t *testing.T) {
	const ifThenElse = `{"if": {"properties": {"kind": {"const": "card"}}}, "then": {"required": ["number"]}, "else": {"required": ["iban"]}}`
	const unevaluated = `{"allOf": [{"properties": {"a": {"type": "string"}}}], "properties": {"b": {"type": "integer"}}, "unevaluatedProperties": false}`
	const draft7 = `"$schema": "http://json-schema.org/draft-07/schema#"`
	const tree = `{"$dynamicAnchor": "node", "type": "object", "properties": {"kids": {"type": "array", "items": {"$dynamicRef": "#node"}}}, "required": ["kids"]}`
	tests := []struct {
		name   string
		schema string
		doc    string
		want   float64
		reason string
	}{
		{"IfThen", ifThenElse, `{"kind": "card", "number": "4111"}`, 1, "matches"},
		{"ErrIfThen", ifThenElse, `{"kind": "card"}`, 0, `at $: missing required property "number"`},
		{"ErrIfElse", ifThenElse, `{"kind": "bank"}`, 0, `at $: missing required property "iban"`},
		{"DependentRequired", `{"dependentRequired": {"card": ["billing"]}}`, `{"card": 1, "billing": 2}`, 1, "matches"},
		{"DependentRequiredAbsent", `{"dependentRequired": {"card": ["billing"]}}`, `{}`, 1, "matches"},
		{"ErrDependentRequired", `{"dependentRequired": {"card": ["billing"]}}`, `{"card": 1}`, 0, `at $: property "card" requires "billing" (dependentRequired)`},
		{"ErrDependentSchemas", `{"dependentSchemas": {"a": {"required": ["b"]}}}`, `{"a": 1}`, 0, `at $: missing required property "b"`},
		{"UnevaluatedProperties", unevaluated, `{"a": "x", "b": 1}`, 1, "matches"},
		{"ErrUnevaluatedProperties", unevaluated, `{"a": "x", "c": 1}`, 0, "at $.c: no value is allowed here (unevaluatedProperties is false)"},
		{"ErrUnevaluatedItems", `{"prefixItems": [{"type": "string"}], "unevaluatedItems": false}`, `["a", 1]`, 0, "at $[1]: no value is allowed here (unevaluatedItems is false)"},
		{"MinContains", `{"contains": {"type": "integer"}, "minContains": 2}`, `[1, "a", 2]`, 1, "matches"},
		{"ErrMinContains", `{"contains": {"type": "integer"}, "minContains": 2}`, `["a", 1]`, 0, "at $: 1 items match the contains schema, fewer than minContains 2"},
		{"ErrContains", `{"contains": {"type": "integer"}}`, `["a"]`, 0, "at $: no item matches the contains schema"},
		{"ErrMaxContains", `{"contains": {"const": 1}, "maxContains": 1}`, `[1, 1]`, 0, "more than maxContains 1"},
		{"ErrPropertyNames", `{"propertyNames": {"pattern": "^[a-z]+$"}}`, `{"ok": 1, "Bad": 2}`, 0, `at $: property name "Bad" does not match propertyNames: "Bad" does not match the pattern "^[a-z]+$"`},
		{"ErrMinProperties", `{"minProperties": 2}`, `{"a": 1}`, 0, "at $: 1 properties, fewer than minProperties 2"},
		{"ErrRequiredMany", `{"required": ["b", "a"]}`, `{}`, 0, `at $: missing required properties "a", "b"`},
		{"ErrAdditionalMany", `{"additionalProperties": false}`, `{"y": 1, "x": 2}`, 0, `at $: properties "x", "y" are not allowed`},
		{"FormatIsAnnotationIn2020", `{"format": "email"}`, `"nope"`, 1, "matches"},
		{"FormatAssertedDraft7", `{` + draft7 + `, "format": "email"}`, `"ada@example.com"`, 1, "matches"},
		{"ErrFormatAssertedDraft7", `{` + draft7 + `, "format": "email"}`, `"nope"`, 0, `at $: "nope" is not a valid email`},
		{"ErrFormatDateTimeDraft7", `{` + draft7 + `, "properties": {"at": {"format": "date-time"}}}`, `{"at": "2024-13-01T00:00:00Z"}`, 0, "at $.at: \"2024-13-01T00:00:00Z\" is not a valid date-time"},
		{"ErrDraft4Declared", `{"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 5, "exclusiveMaximum": true}`, `5`, 0, "at $: 5 must be less than 5"},
		{"ErrRecursiveRef2019", `{"$schema": "https://json-schema.org/draft/2019-09/schema", "$recursiveAnchor": true, "type": "object", "additionalProperties": {"$recursiveRef": "#"}}`,
			`{"a": {"b": 1}}`, 0, "at $.a.b: expected object, got integer"},
		{"DynamicRef", tree, `{"kids": [{"kids": []}]}`, 1, "matches"},
		{"ErrDynamicRef", tree, `{"kids": [{"kids": []}, {}]}`, 0, `at $.kids[1]: missing required property "kids"`},
		{"ErrAnchorRef", `{"$defs": {"pos": {"$anchor": "pos", "minimum": 1}}, "$ref": "#pos"}`, `0`, 0, "at $: 0 is less than the minimum 1"},
		{"ErrRefUnderID", `{"$id": "https://example.com/root.json", "$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s"}`, `1`, 0, "at $: expected string, got integer"},
		{"ConstObjectNumbersByValue", `{"const": {"a": [1, 2]}}`, `{"a": [1, 2.0]}`, 1, "matches"},
		{"ErrAdditionalItemsDraft7Form", `{"items": [{"type": "string"}], "additionalItems": false}`, `["a", 1]`, 0, "at $: 1 items more than the tuple allows (additionalItems is false)"},
		{"ErrLegacyFormKeepsNewKeywords", `{"items": [{"type": "string"}], "dependentRequired": {"a": ["b"]}}`, `{"a": 1}`, 0, `property "a" requires "b"`},
		{"ErrHugeNumber", `{"maximum": 10}`, `1e999999`, 0, "is greater than the maximum 10"},
		{"TinyNumber", `{"exclusiveMinimum": 0}`, `1e-999999999`, 1, "matches"},
		{"ErrTinyNegativeNumber", `{"exclusiveMinimum": 0}`, `-1e-999999999`, 0, "must be greater than 0"},
		{"ErrTinyNumberNotInteger", `{"type": "integer"}`, `1.5e-999999`, 0, "at $: expected integer, got number"},
		{"ZeroWithHugeExponent", `{"type": "integer", "const": 0}`, `0e999999999`, 1, "matches"},
		{"HugeNegativeInteger", `{"type": "integer", "maximum": 0}`, `-2e999999999`, 1, "matches"},
		{"HugeMultipleOf", `{"multipleOf": 3}`, `3e5000`, 1, "matches"},
		{"ErrHugeMultipleOf", `{"multipleOf": 7}`, `3e5000`, 0, "is not a multiple of 7"},
	}
	e := quality.NewEvaluator(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkScore(t, e, tt.schema, tt.doc, tt.want, tt.reason)
		})
	}
}

// TestJSONSchemaInvalid checks that a schema its metaschema rejects is
// refused with the place and the reason, in one line.
func TestJSONSchemaInvalid(t *testing.T) {
	tests := []struct{ name, schema, msg string }{
		{"ErrType", `{"type": 5}`, `#/type: 5 is not one of ["array","boolean","integer","null","number","object","string"]`},
		{"ErrInsideLegacyForm", `{"items": [{"type": "string"}, {"type": 5}]}`, "#/items/1/type: 5 is not one of"},
		{"ErrMinLength", `{"properties": {"a": {"minLength": -1}}}`, "#/properties/a/minLength: -1 is less than the minimum 0"},
		{"ErrPattern", `{"properties": {"a": {"pattern": "(?<=x)"}}}`, `#/properties/a/pattern: "(?<=x)" is not a valid regular expression (RE2 syntax)`},
		{"ErrDraft7", `{"$schema": "http://json-schema.org/draft-07/schema#", "additionalItems": 1}`, "#/additionalItems: expected boolean or object, got integer"},
		{"ErrDeclared2020", `{"$schema": "https://json-schema.org/draft/2020-12/schema", "items": [true]}`, "#/items: expected boolean or object, got array"},
		{"ErrAnchor", `{"$ref": "#nope"}`, `$ref "#nope" points at nothing`},
		{"ErrZeroHugeExponent", `{"minimum": 0e999999999}`, "#/minimum: the number 0e999999999 is out of range"},
	}
	e := quality.NewEvaluator(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Validate([]quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(tt.schema)}})
			ce, ok := err.(*chorus.Error)
			if !ok || ce.Param != "scorers[0].schema" || !strings.Contains(ce.Message, tt.msg) || strings.Contains(ce.Message, "\n") {
				t.Errorf("got %v, want one line mentioning %s", err, tt.msg)
			}
		})
	}
}

// TestJSONSchemaRemoteRef checks that a schema never loads anything: a
// reference out of the document is refused when the schema compiles.
func TestJSONSchemaRemoteRef(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"type": "string"}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(file, []byte(`{"type": "string"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, schema, url string }{
		{"ErrHTTPS", `{"$ref": "https://example.com/s.json"}`, "https://example.com/s.json"},
		{"ErrHTTP", `{"properties": {"a": {"$ref": "` + srv.URL + `/s.json#/type"}}}`, srv.URL + "/s.json"},
		{"ErrFile", `{"$ref": "file://` + file + `"}`, "file://" + file},
		{"ErrRelative", `{"items": {"$ref": "other.json"}}`, "other.json"},
		{"ErrRelativeToID", `{"$id": "https://example.com/root.json", "properties": {"a": {"$ref": "b.json"}}}`, "https://example.com/b.json"},
		{"ErrMetaschema", `{"$schema": "` + srv.URL + `/meta.json", "type": "string"}`, srv.URL + "/meta.json"},
	}
	e := quality.NewEvaluator(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Validate([]quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(tt.schema)}})
			ce, ok := err.(*chorus.Error)
			want := fmt.Sprintf("%q is not loaded: only references into the same schema", tt.url)
			if !ok || ce.Param != "scorers[0].schema" || !strings.Contains(ce.Message, want) {
				t.Errorf("got %v, want a schema error mentioning %s", err, want)
			}
			req := request("q")
			req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(tt.schema)}
			res, err := e.Evaluate(t.Context(), quality.AutoSpecs(req), req, answer(`{"a": "x"}`))
			if err == nil || !strings.Contains(err.Error(), want) || len(res.Scores) != 0 {
				t.Errorf("request schema: got %+v, %v; want a scorer error mentioning %s", res, err, want)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the schema server was asked %d times, want never", n)
	}
}

// refChain is a schema whose root refers through n definitions, each to the
// next, without descending into the value.
func refChain(n int) string {
	var defs []string
	for i := range n {
		defs = append(defs, fmt.Sprintf(`"d%d": {"$ref": "#/$defs/d%d"}`, i, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d": {"type": "integer"}`, n))
	return `{"$ref": "#/$defs/d0", "$defs": {` + strings.Join(defs, ", ") + `}}`
}

// TestJSONSchemaDepth checks the nesting bounds on schemas, answers and the
// chain of subschemas applied to a value.
func TestJSONSchemaDepth(t *testing.T) {
	// Each level of the value goes through anyOf, properties and $ref:
	// three subschemas applied per level.
	const list = `{"anyOf": [{"type": "integer"}, {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}]}`
	e := quality.NewEvaluator(nil)
	t.Run("SchemaDocument", func(t *testing.T) {
		deep := func(n int) string { return strings.Repeat(`{"not": `, n) + "false" + strings.Repeat("}", n) }
		if err := e.Validate([]quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(deep(100))}}); err != nil {
			t.Errorf("100 levels: %v", err)
		}
		err := e.Validate([]quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(deep(300))}})
		if err == nil || !strings.Contains(err.Error(), "nests more than 256 levels deep") {
			t.Errorf("300 levels: got %v, want the depth bound named", err)
		}
	})
	t.Run("Answer", func(t *testing.T) {
		checkScore(t, e, `true`, strings.Repeat("[", 250)+strings.Repeat("]", 250), 1, "matches")
		checkScore(t, e, list, nested(60), 1, "matches")
	})
	tests := []struct{ name, schema, doc, msg string }{
		{"ErrAnswer", `true`, strings.Repeat("[", 300) + strings.Repeat("]", 300), "the answer nests more than 256 levels deep"},
		{"ErrRecursion", list, nested(100), "the schema nests (or refers to itself) more than 256 levels deep"},
		{"ErrRefChain", refChain(300), `1`, "more than 256 levels deep"},
		{"ErrLongNumber", `{"type": "number"}`, strings.Repeat("9", 1500), "a number of more than 1000 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := quality.Spec{Type: quality.TypeJSONSchema, Schema: json.RawMessage(tt.schema)}
			res, err := e.Evaluate(t.Context(), []quality.Spec{spec}, request("q"), answer(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.msg) || len(res.Scores) != 0 {
				t.Errorf("got %+v, %v; want a scorer error mentioning %q and no score", res, err, tt.msg)
			}
		})
	}
	t.Run("ErrSchemaNumber", func(t *testing.T) {
		err := e.Validate([]quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"properties": {"n": {"minimum": 1e999999}}}`)}})
		if err == nil || !strings.Contains(err.Error(), "#/properties/n/minimum: the number 1e999999 is out of range") {
			t.Errorf("got %v, want the number and its place named", err)
		}
	})
}

// TestJSONSchemaSize checks the bounds on a schema's size, which apply to a
// request's schema as to an explicit one.
func TestJSONSchemaSize(t *testing.T) {
	props := func(n int) string {
		var p []string
		for i := range n {
			p = append(p, fmt.Sprintf(`"p%d": {}`, i))
		}
		return `{"properties": {` + strings.Join(p, ", ") + `}}`
	}
	tests := []struct{ name, schema, msg string }{
		{"Subschemas", props(4000), ""},
		{"ErrSubschemas", props(5000), "the schema has more than 5000 objects and booleans (subschemas)"},
		{"ErrBytes", `{"description": "` + strings.Repeat("x", 300<<10) + `"}`, "schema must be at most 262144 bytes"},
	}
	e := quality.NewEvaluator(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("q")
			req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(tt.schema)}
			res, err := e.Evaluate(t.Context(), quality.AutoSpecs(req), req, answer(`{"p1": 1}`))
			if tt.msg == "" {
				if err != nil || res.Score != 1 {
					t.Errorf("got %+v, %v; want a match", res, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) || len(res.Scores) != 0 {
				t.Errorf("got %+v, %v; want a scorer error mentioning %q", res, err, tt.msg)
			}
		})
	}
}

// dag is a schema whose root refers twice to a definition that refers twice
// to the next, n times: 2^n visits of one value without a budget.
func dag(n int) string {
	var defs []string
	for i := range n {
		defs = append(defs, fmt.Sprintf(`"d%d": {"anyOf": [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d": {"type": "string"}`, n))
	return `{"$ref": "#/$defs/d0", "$defs": {` + strings.Join(defs, ", ") + `}}`
}

// TestJSONSchemaBudget checks that validations the budget prices too high
// are not run, and that large ordinary ones are.
func TestJSONSchemaBudget(t *testing.T) {
	e := quality.NewEvaluator(nil)
	tests := []struct{ name, schema, doc, msg string }{
		{"ErrDAGOnOneValue", dag(40), `1`, "too complex"},
		{"ErrDAGUnderNot", strings.Replace(dag(40), `"$ref"`, `"not": {"$ref": "#/$defs/d0"}, "$comment"`, 1), `"x"`, "too complex"},
		{"ErrDAGWithLoop", strings.Replace(dag(40), `"d40": {"type": "string"}`, `"d40": {"anyOf": [{"$ref": "#/$defs/d0"}, {"type": "string"}]}`, 1), `1`, "too complex"},
		{"ErrDynamicRef", `{"$dynamicAnchor": "x", "type": "object", "anyOf": [{"properties": {"a": {"$dynamicRef": "#x"}}}, {"properties": {"a": {"$dynamicRef": "#x"}}}]}`, nested(40), "too complex"},
		{"ErrEnumTimesItems", `{"items": {"enum": [` + strings.TrimSuffix(strings.Repeat(`"v",`, 1000), ",") + `]}}`, "[" + strings.TrimSuffix(strings.Repeat(`"w",`, 1000), ",") + "]", "too complex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := quality.Spec{Type: quality.TypeJSONSchema, Schema: json.RawMessage(tt.schema)}
			start := time.Now()
			res, err := e.Evaluate(t.Context(), []quality.Spec{spec}, request("q"), answer(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.msg) || len(res.Scores) != 0 {
				t.Errorf("got %+v, %v; want a scorer error mentioning %q and no score", res, err, tt.msg)
			}
			// Generous for the race detector on a busy machine: what the
			// budget stops would otherwise run for hours.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("LargeAnswer", func(t *testing.T) {
		items := strings.TrimSuffix(strings.Repeat(`{"id": 1, "name": "x"},`, 10_000), ",")
		checkScore(t, e, `{"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}, "required": ["id", "name"]}}`,
			"["+items+"]", 1, "matches")
	})
}
