package quality_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

// validScore fails unless res holds n scores, each 0 or 1 for the
// deterministic scorers, within [0, 1] otherwise.
func validScore(t *testing.T, res quality.Result, binary bool) {
	t.Helper()
	for _, s := range res.Scores {
		if !(s.Value >= 0 && s.Value <= 1) || binary && s.Value != 0 && s.Value != 1 || s.Reason == "" {
			t.Fatalf("score %+v", s)
		}
	}
	if !(res.Score >= 0 && res.Score <= 1) {
		t.Fatalf("combined %v", res.Score)
	}
}

// FuzzJSONSchema checks that any schema a client sends with any answer ends
// in a verdict (explained in one line) or a scorer error, quickly: never a
// panic or a hang. Seeds beyond these are in testdata/fuzz/FuzzJSONSchema.
func FuzzJSONSchema(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}`, `{"a": 1}`},
		{`{"$defs": {"n": {"anyOf": [{"type": "null"}, {"$ref": "#"}]}}, "items": {"$ref": "#/$defs/n"}}`, `[null, [null]]`},
		{`{"oneOf": [{"multipleOf": 0.1}, {"exclusiveMinimum": true, "minimum": 3}]}`, `3.3`},
		{`{"prefixItems": [true, false], "uniqueItems": true, "not": {"const": [1, 2]}}`, `[1, {"x": []}]`},
		{`{"patternProperties": {"^\\d+$": {"enum": [1, "1"]}}, "additionalProperties": false}`, "```json\n{\"12\": 1}\n```"},
		{`{"items": [{"type": ["string", "null"]}], "additionalItems": {"maxLength": 2}}`, `["x", "abc"]`},
		{`{"if": {"required": ["a"]}, "then": {"dependentRequired": {"a": ["b"]}}, "else": {"unevaluatedProperties": false}}`, `{"a": 1}`},
		{`{"$dynamicAnchor": "n", "items": {"$dynamicRef": "#n"}, "contains": {"const": []}, "maxContains": 1}`, `[[], [[]]]`},
		{`{"$ref": "https://example.com/s.json"}`, `{}`},
	} {
		f.Add(seed[0], seed[1])
	}
	e := quality.NewEvaluator(nil)
	f.Fuzz(func(t *testing.T, schema, doc string) {
		req := request("q")
		req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(schema)}
		start := time.Now()
		res, err := e.Evaluate(context.Background(), quality.AutoSpecs(req), req, answer(doc))
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		if err == nil && len(res.Scores) != 1 {
			t.Fatalf("no error and %d scores", len(res.Scores))
		}
		validScore(t, res, true)
		for _, s := range res.Scores {
			if strings.Contains(s.Reason, "\n") {
				t.Fatalf("reason on more than one line: %q", s.Reason)
			}
		}
	})
}

// FuzzScorers runs every deterministic scorer on any text.
func FuzzScorers(f *testing.F) {
	for _, s := range []string{"I'm sorry, but I can't help with that.", "```json\n{}\n```", "", "As an AI, ", "\u2019\u201c"} {
		f.Add(s)
	}
	e := quality.NewEvaluator(nil)
	specs := []quality.Spec{
		{Type: quality.TypeJSONValid}, {Type: quality.TypeRefusal}, {Type: quality.TypeRegex, Pattern: `(?i)\bok\b`},
		{Type: quality.TypeContains, Value: "é"}, {Type: quality.TypeLength, Min: 1, Max: 50},
	}
	f.Fuzz(func(t *testing.T, text string) {
		res, err := e.Evaluate(context.Background(), specs, request("q"), answer(text))
		if err != nil || len(res.Scores) != len(specs) {
			t.Fatalf("got %+v, %v", res, err)
		}
		validScore(t, res, false)
	})
}

// FuzzJudgeReply checks that any judge reply is a score in [0, 1] or an
// error.
func FuzzJudgeReply(f *testing.F) {
	for _, s := range []string{"8", `{"score": 7, "reason": "ok"}`, "Score: 3/10", `{"score": "9/10"}`, "{{{", `{"score": 1e400}`} {
		f.Add(s)
	}
	spec := quality.Spec{Type: quality.TypeJudge, Model: "g", Rubric: "r"}
	f.Fuzz(func(t *testing.T, reply string) {
		e := quality.NewEvaluator(fakeJudge{reply: reply}.call)
		res, err := e.Evaluate(context.Background(), []quality.Spec{spec}, request("q"), answer("a"))
		if err == nil && len(res.Scores) != 1 {
			t.Fatalf("no error and %d scores", len(res.Scores))
		}
		validScore(t, res, false)
	})
}
