package quality_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

func TestJSONSchema(t *testing.T) {
	person := `{
		"type": "object",
		"properties": {
			"name": {"type": "string", "minLength": 1, "maxLength": 5},
			"age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 150},
			"email": {"type": ["string", "null"], "pattern": "^[^@]+@[^@]+$"},
			"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2, "uniqueItems": true},
			"role": {"enum": ["admin", "user"]},
			"kind": {"const": "person"}
		},
		"required": ["name", "age"],
		"additionalProperties": false
	}`
	tests := []struct {
		name   string
		schema string
		doc    string
		want   float64
		reason string
	}{
		{"Valid", person, `{"name": "Ada", "age": 36, "email": null, "tags": ["x"], "role": "admin", "kind": "person"}`, 1, "matches the schema"},
		{"ValidFenced", person, "```json\n{\"name\": \"Ada\", \"age\": 36}\n```", 1, "fenced"},
		{"IntegerAsFloat", person, `{"name": "Ada", "age": 36.0}`, 1, "matches"},
		{"ErrNotJSON", person, `{"name": "Ada",`, 0, "not valid JSON"},
		{"ErrRequired", person, `{"name": "Ada"}`, 0, `at $: missing required property "age"`},
		{"ErrType", person, `{"name": 7, "age": 1}`, 0, "at $.name: expected string, got integer"},
		{"ErrTypeRoot", person, `[1]`, 0, "at $: expected object, got array"},
		{"ErrInteger", person, `{"name": "Ada", "age": 36.5}`, 0, "at $.age: expected integer, got number"},
		{"ErrMinimum", person, `{"name": "Ada", "age": -1}`, 0, "at $.age: -1 is less than the minimum 0"},
		{"ErrExclusiveMaximum", person, `{"name": "Ada", "age": 150}`, 0, "at $.age: 150 must be less than 150"},
		{"ErrMinLength", person, `{"name": "", "age": 1}`, 0, "shorter than minLength 1"},
		{"ErrMaxLengthRunes", person, `{"name": "Ëlïsàb", "age": 1}`, 0, "6 characters is longer than maxLength 5"},
		{"MaxLengthRunes", person, `{"name": "Ëlïsà", "age": 1}`, 1, "matches"},
		{"ErrPattern", person, `{"name": "A", "age": 1, "email": "nope"}`, 0, "at $.email"},
		{"NullAllowedByTypeList", person, `{"name": "A", "age": 1, "email": null}`, 1, "matches"},
		{"ErrAdditional", person, `{"name": "A", "age": 1, "extra": true}`, 0, `property "extra" is not allowed`},
		{"ErrItems", person, `{"name": "A", "age": 1, "tags": [1]}`, 0, "at $.tags[0]: expected string"},
		{"ErrMinItems", person, `{"name": "A", "age": 1, "tags": []}`, 0, "fewer than minItems 1"},
		{"ErrMaxItems", person, `{"name": "A", "age": 1, "tags": ["a", "b", "c"]}`, 0, "more than maxItems 2"},
		{"ErrUniqueItems", person, `{"name": "A", "age": 1, "tags": ["a", "a"]}`, 0, "uniqueItems"},
		{"ErrEnum", person, `{"name": "A", "age": 1, "role": "root"}`, 0, `"root" is not one of`},
		{"ErrConst", person, `{"name": "A", "age": 1, "kind": "robot"}`, 0, `must equal "person"`},
		{"AdditionalSchema", `{"type": "object", "additionalProperties": {"type": "number"}}`, `{"a": 1, "b": 2.5}`, 1, "matches"},
		{"ErrAdditionalSchema", `{"type": "object", "additionalProperties": {"type": "number"}}`, `{"a": "x"}`, 0, "at $.a: expected number"},
		{"PatternProperties", `{"patternProperties": {"^x_": {"type": "integer"}}, "additionalProperties": false}`, `{"x_a": 1}`, 1, "matches"},
		{"ErrPatternProperties", `{"patternProperties": {"^x_": {"type": "integer"}}, "additionalProperties": false}`, `{"y": 1}`, 0, "not allowed"},
		{"OddPropertyPath", `{"properties": {"a b": {"type": "string"}}}`, `{"a b": 1}`, 0, `at $["a b"]`},
		{"ExclusiveMinimumDraft4", `{"minimum": 0, "exclusiveMinimum": true}`, `0`, 0, "must be greater than 0"},
		{"MultipleOfDecimal", `{"multipleOf": 0.1}`, `0.3`, 1, "matches"},
		{"ErrMultipleOf", `{"multipleOf": 0.25}`, `0.3`, 0, "not a multiple of 0.25"},
		{"AnyOf", `{"anyOf": [{"type": "string"}, {"type": "integer"}]}`, `3`, 1, "matches"},
		{"ErrAnyOf", `{"anyOf": [{"type": "string"}, {"type": "integer"}]}`, `true`, 0, "none of the anyOf"},
		{"OneOf", `{"oneOf": [{"type": "integer"}, {"type": "string"}]}`, `"x"`, 1, "matches"},
		{"ErrOneOfTwo", `{"oneOf": [{"type": "integer"}, {"minimum": 0}]}`, `3`, 0, "matches 2 of the oneOf"},
		{"ErrOneOfNone", `{"oneOf": [{"type": "integer"}, {"type": "string"}]}`, `null`, 0, "none of the oneOf"},
		{"AllOf", `{"allOf": [{"type": "integer"}, {"minimum": 2}]}`, `3`, 1, "matches"},
		{"ErrAllOf", `{"allOf": [{"type": "integer"}, {"minimum": 5}]}`, `3`, 0, "allOf[1]"},
		{"ErrNot", `{"not": {"type": "null"}}`, `null`, 0, `under "not"`},
		{"RefDefs", `{"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "object", "properties": {"n": {"$ref": "#/$defs/pos"}}}`, `{"n": 2}`, 1, "matches"},
		{"ErrRefDefs", `{"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "object", "properties": {"n": {"$ref": "#/$defs/pos"}}}`, `{"n": 0}`, 0, "at $.n: 0 is less than the minimum 1"},
		{"ErrRefDefinitions", `{"definitions": {"s": {"type": "string"}}, "items": {"$ref": "#/definitions/s"}}`, `["a", 1]`, 0, "at $[1]: expected string"},
		{"RecursiveRef", `{"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["v"]}`,
			`{"v": 1, "next": {"v": 2, "next": {"v": 3, "next": null}}}`, 1, "matches"},
		{"ErrRecursiveRef", `{"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["v"]}`,
			`{"v": 1, "next": {"v": 2, "next": {"next": null}}}`, 0, "anyOf"},
		{"PrefixItems", `{"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false}`, `["a", 1]`, 1, "matches"},
		{"ErrPrefixItemsExtra", `{"prefixItems": [{"type": "string"}], "items": false}`, `["a", 1]`, 0, "at $[1]: no value is allowed"},
		{"TupleItemsDraft7", `{"items": [{"type": "string"}], "additionalItems": {"type": "integer"}}`, `["a", 2, 3]`, 1, "matches"},
		{"ErrFalseSchema", `false`, `{}`, 0, "false schema"},
		{"TrueSchema", `true`, `{"anything": [1]}`, 1, "matches"},
		{"HugeExponent", `{"type": "integer"}`, `1e999999999`, 1, "matches"},
		{"EnumNumbersByValue", `{"enum": [1, 2]}`, `2.0`, 1, "matches"},
		{"Annotations", `{"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "T", "description": "d", "format": "email", "type": "string"}`, `"x"`, 1, "matches"},
	}
	e := quality.NewEvaluator(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := quality.Spec{Type: quality.TypeJSONSchema, Schema: json.RawMessage(tt.schema)}
			if err := e.Validate([]quality.Spec{spec}); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := scoreOne(t, e, spec, request("q"), answer(tt.doc))
			if got.Value != tt.want {
				t.Errorf("value = %v (%s), want %v", got.Value, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to mention %q", got.Reason, tt.reason)
			}
		})
	}
}

// nested returns {"a": {"a": … 1 …}} n levels deep.
func nested(n int) string {
	return strings.Repeat(`{"a": `, n) + "1" + strings.Repeat("}", n)
}

func TestJSONSchemaAbandoned(t *testing.T) {
	e := quality.NewEvaluator(nil)
	tests := []struct{ name, schema, doc, msg string }{
		{"ErrSelfRefLoop", `{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}`, `1`, "levels deep"},
		// Each level of the value tries both branches and the leaf fails
		// them all: 2^40 checks without a budget.
		{"ErrExponential", `{"type": "object", "anyOf": [{"properties": {"a": {"$ref": "#"}}}, {"properties": {"a": {"$ref": "#"}}}]}`, nested(40), "too complex"},
		{"ErrExponentialNot", `{"not": {"$ref": "#/$defs/s"}, "$defs": {"s": {"type": "object", "oneOf": [{"properties": {"a": {"$ref": "#/$defs/s"}}}, {"properties": {"a": {"$ref": "#/$defs/s"}}}]}}}`, nested(40), "too complex"},
		{"ErrUniqueHuge", `{"uniqueItems": true}`, "[" + strings.Repeat("0,", 1000) + "1]", "too complex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := quality.Spec{Type: quality.TypeJSONSchema, Schema: json.RawMessage(tt.schema)}
			start := time.Now()
			res, err := e.Evaluate(t.Context(), []quality.Spec{spec}, request("q"), answer(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.msg) || len(res.Scores) != 0 {
				t.Errorf("got %+v, %v; want a scorer error mentioning %q and no score", res, err, tt.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestJSONSchemaFromRequest(t *testing.T) {
	e := quality.NewEvaluator(nil)
	req := request("q")
	req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n",
		Schema: json.RawMessage(`{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}`)}
	specs := quality.AutoSpecs(req)
	if got := scoreOne(t, e, specs[0], req, answer(`{"ok": true}`)); got.Value != 1 {
		t.Errorf("valid answer: %+v", got)
	}
	if got := scoreOne(t, e, specs[0], req, answer(`{"ok": "yes"}`)); got.Value != 0 || !strings.Contains(got.Reason, "$.ok") {
		t.Errorf("invalid answer: %+v", got)
	}

	t.Run("StandardKeywordInRequestSchema", func(t *testing.T) {
		req := request("q")
		req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(`{"if": {"type": "string"}}`)}
		res, err := e.Evaluate(t.Context(), quality.AutoSpecs(req), req, answer(`"x"`))
		if err != nil || len(res.Scores) != 1 || res.Scores[0].Value != 1 {
			t.Errorf("got %+v, %v; want the schema checked and matched", res, err)
		}
	})
}

func TestValidate(t *testing.T) {
	withJudge := quality.NewEvaluator(fakeJudge{reply: "8"}.call)
	noJudge := quality.NewEvaluator(nil)
	tests := []struct {
		name  string
		e     *quality.Evaluator
		specs []quality.Spec
		param string // "" means valid
		msg   string
	}{
		{"OK", withJudge, []quality.Spec{
			{Type: quality.TypeJSONValid}, {Type: quality.TypeRegex, Pattern: "a+"}, {Type: quality.TypeContains, Value: "x"},
			{Type: quality.TypeNotContains, Value: "y"}, {Type: quality.TypeLength, Min: 1, Max: 10}, {Type: quality.TypeRefusal},
			{Type: quality.TypeJudge, Model: "judge", Rubric: "is it right?", Weight: 2}, {Type: quality.TypeJSONSchema},
			{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"type": "object"}`), Name: "shape"},
		}, "", ""},
		{"ErrUnknownType", noJudge, []quality.Spec{{Type: quality.TypeRefusal}, {Type: "vibes"}}, "scorers[1].type", `unknown scorer type "vibes"`},
		{"ErrBadRegex", noJudge, []quality.Spec{{Type: quality.TypeRegex, Pattern: "a("}}, "scorers[0].pattern", "not a valid regular expression"},
		{"ErrLookahead", noJudge, []quality.Spec{{Type: quality.TypeRegex, Pattern: "(?=a)"}}, "scorers[0].pattern", "RE2"},
		{"ErrRegexEmpty", noJudge, []quality.Spec{{Type: quality.TypeRegex}}, "scorers[0].pattern", "required"},
		{"ErrMinGreaterThanMax", noJudge, []quality.Spec{{Type: quality.TypeLength, Min: 10, Max: 5}}, "scorers[0].min", "greater than max"},
		{"ErrLengthNoBounds", noJudge, []quality.Spec{{Type: quality.TypeLength}}, "scorers[0].max", "min, max or both"},
		{"ErrLengthNegative", noJudge, []quality.Spec{{Type: quality.TypeLength, Min: -1, Max: 3}}, "scorers[0].min", "between 0"},
		{"ErrContainsEmpty", noJudge, []quality.Spec{{Type: quality.TypeContains}}, "scorers[0].value", "required"},
		{"ErrJudgeNoModel", withJudge, []quality.Spec{{Type: quality.TypeJudge, Rubric: "r"}}, "scorers[0].model", "needs model"},
		{"ErrJudgeNoRubric", withJudge, []quality.Spec{{Type: quality.TypeJudge, Model: "m"}}, "scorers[0].rubric", "needs a rubric"},
		{"ErrJudgeUnavailable", noJudge, []quality.Spec{{Type: quality.TypeJudge, Model: "m", Rubric: "r"}}, "scorers[0].type", "not available"},
		{"ErrFieldNotApplicable", noJudge, []quality.Spec{{Type: quality.TypeContains, Value: "x", Pattern: "y"}}, "scorers[0].pattern", "does not apply to a contains scorer"},
		{"ErrNegativeWeight", noJudge, []quality.Spec{{Type: quality.TypeRefusal, Weight: -1}}, "scorers[0].weight", "between 0"},
		{"ErrName", noJudge, []quality.Spec{{Type: quality.TypeRefusal, Name: "has space"}}, "scorers[0].name", "1-64 characters"},
		{"StandardSchemaKeyword", noJudge, []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"properties": {"a": {"dependentRequired": {}}}}`)}},
			"", ""},
		{"ErrSchemaKeywordValue", noJudge, []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"properties": {"a": {"dependentRequired": 5}}}`)}},
			"scorers[0].schema", "#/properties/a/dependentRequired: expected object, got integer"},
		{"ErrSchemaRemoteRef", noJudge, []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"$ref": "https://example.com/s.json"}`)}},
			"scorers[0].schema", "only references into the same schema"},
		{"ErrSchemaDanglingRef", noJudge, []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"$ref": "#/$defs/nope"}`)}},
			"scorers[0].schema", "points at nothing"},
		{"ErrSchemaNotJSON", noJudge, []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{`)}}, "scorers[0].schema", "not valid JSON"},
		{"ErrSchemaPattern", noJudge, []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(`{"pattern": "(?<=a)b"}`)}}, "scorers[0].schema", "RE2"},
		{"ErrTooMany", noJudge, make([]quality.Spec, quality.MaxSpecs+1), "scorers", "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate(tt.specs)
			if tt.param == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ce, ok := err.(*chorus.Error)
			if !ok || ce.Code != chorus.EINVALID {
				t.Fatalf("got %v, want an EINVALID *chorus.Error", err)
			}
			if ce.Param != tt.param || !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("got param %q message %q; want param %q and a message mentioning %q", ce.Param, ce.Message, tt.param, tt.msg)
			}
		})
	}
}
