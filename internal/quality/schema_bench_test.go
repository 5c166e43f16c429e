package quality_test

import (
	"encoding/json"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

// benchSchema is a typical response_format schema: what a client asking
// for structured output sends (OpenAI strict style, with a $defs reference).
const benchSchema = `{
	"type": "object",
	"properties": {
		"title": {"type": "string", "minLength": 1, "maxLength": 200},
		"sentiment": {"enum": ["positive", "neutral", "negative"]},
		"confidence": {"type": "number", "minimum": 0, "maximum": 1},
		"tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}, "maxItems": 10, "uniqueItems": true},
		"entities": {"type": "array", "items": {"$ref": "#/$defs/entity"}},
		"summary": {"type": ["string", "null"]}
	},
	"required": ["title", "sentiment", "confidence", "tags", "entities", "summary"],
	"additionalProperties": false,
	"$defs": {
		"entity": {
			"type": "object",
			"properties": {
				"name": {"type": "string"},
				"kind": {"enum": ["person", "organisation", "place"]},
				"mentions": {"type": "integer", "minimum": 1}
			},
			"required": ["name", "kind", "mentions"],
			"additionalProperties": false
		}
	}
}`

// benchAnswer is a typical answer that matches benchSchema.
const benchAnswer = `{
	"title": "Quarterly results beat expectations",
	"sentiment": "positive",
	"confidence": 0.87,
	"tags": ["earnings", "q3", "guidance"],
	"entities": [
		{"name": "Acme Corp", "kind": "organisation", "mentions": 4},
		{"name": "Jane Doe", "kind": "person", "mentions": 2},
		{"name": "Berlin", "kind": "place", "mentions": 1}
	],
	"summary": "Revenue rose 12% on strong demand; guidance was raised."
}`

// BenchmarkJSONSchema scores benchAnswer against benchSchema: as the
// request's response_format schema (compiled on every call, as request
// schemas are), and as an explicit scorer schema (compiled once, cached).
func BenchmarkJSONSchema(b *testing.B) {
	req := request("q")
	req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(benchSchema)}
	resp := answer(benchAnswer)
	cases := []struct {
		name  string
		specs []quality.Spec
	}{
		{"CompileAndValidate", quality.AutoSpecs(req)},
		{"ValidateCached", []quality.Spec{{Type: quality.TypeJSONSchema, Schema: json.RawMessage(benchSchema)}}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			e := quality.NewEvaluator(nil)
			b.ReportAllocs()
			for b.Loop() {
				res, err := e.Evaluate(b.Context(), bc.specs, req, resp)
				if err != nil || res.Score != 1 {
					b.Fatalf("got %+v, %v", res, err)
				}
			}
		})
	}
}
