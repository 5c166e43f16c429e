package quality_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
)

var _ orchestrate.Evaluator = quality.RouteEvaluator{}

func TestParseSpecs(t *testing.T) {
	e := quality.NewEvaluator(fakeJudge{reply: "5"}.call)
	t.Run("OK", func(t *testing.T) {
		specs, err := e.ParseSpecs(json.RawMessage(`[{"type": "json_valid"}, {"type": "judge", "model": "g", "rubric": "r", "weight": 2}]`), "config.scorers")
		if err != nil || len(specs) != 2 || specs[1].Model != "g" || specs[1].Weight != 2 {
			t.Fatalf("got %+v, %v", specs, err)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		for _, raw := range []string{"", "null", "  ", "[]"} {
			if specs, err := e.ParseSpecs(json.RawMessage(raw), "scorers"); err != nil || len(specs) != 0 {
				t.Errorf("%q: got %+v, %v", raw, specs, err)
			}
		}
	})
	tests := []struct {
		name, raw, param, msg string
	}{
		{"ErrNotArray", `{"type": "json_valid"}`, "config.scorers", "JSON array"},
		{"ErrUnknownField", `[{"type": "regex", "pattern": "a", "patern": "b"}]`, "config.scorers[0]", `unknown field "patern"`},
		{"ErrFieldType", `[{"type": "length", "max": "ten"}]`, "config.scorers[0]", "max must be of type int"},
		{"ErrItemNotObject", `["json_valid"]`, "config.scorers[0]", "must be a JSON object"},
		{"ErrValidation", `[{"type": "json_valid"}, {"type": "length", "min": 5, "max": 1}]`, "config.scorers[1].min", "greater than max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.ParseSpecs(json.RawMessage(tt.raw), "config.scorers")
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Code != chorus.EINVALID || ce.Param != tt.param || !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("got %v; want EINVALID with param %q mentioning %q", err, tt.param, tt.msg)
			}
		})
	}
}

func TestSpecsFor(t *testing.T) {
	e := quality.NewEvaluator(nil)
	route := json.RawMessage(`[{"type": "refusal"}, {"type": "json_valid", "weight": 2}]`)
	jsonReq := request("q")
	jsonReq.ResponseFormat = &provider.ResponseFormat{Type: "json_object"}
	schemaReq := request("q")
	schemaReq.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(`{}`)}
	tests := []struct {
		name    string
		scorers json.RawMessage
		req     *provider.ChatRequest
		want    []string
	}{
		{"PlainModelPlainRequest", nil, request("q"), nil},
		{"PlainModelJSONSchema", nil, schemaReq, []string{"json_schema"}},
		{"RouteOnly", route, request("q"), []string{"refusal", "json_valid"}},
		{"AutoAlreadyListed", route, jsonReq, []string{"refusal", "json_valid"}},
		{"RouteAndAuto", route, schemaReq, []string{"refusal", "json_valid", "json_schema"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := e.SpecsFor(tt.scorers, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range specs {
				got = append(got, s.Type)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The cached route list is not changed by requests that add scorers.
	if specs, _ := e.SpecsFor(route, request("q")); len(specs) != 2 {
		t.Errorf("route specs grew to %d after auto scorers were added", len(specs))
	}
	if _, err := e.SpecsFor(json.RawMessage(`[{"type": "nope"}]`), request("q")); chorus.ErrorCode(err) != chorus.EINVALID {
		t.Errorf("bad route scorers: got %v", err)
	}
}

func TestRouteEvaluator(t *testing.T) {
	route := func(scorers string) *registry.Route {
		return &registry.Route{Config: chorus.RouteConfig{Scorers: json.RawMessage(scorers)}}
	}
	tests := []struct {
		name    string
		judge   quality.Judge
		rt      *registry.Route
		text    string
		want    float64
		wantErr bool
	}{
		{"NoScorers", nil, route(""), "anything", 1, false},
		{"NilRoute", nil, nil, "anything", 1, false},
		{"Scored", nil, route(`[{"type": "contains", "value": "paris"}, {"type": "length", "max": 3}]`), "Paris", 0.5, false},
		{"PartialFailure", fakeJudge{err: errors.New("down")}.call,
			route(`[{"type": "contains", "value": "paris"}, {"type": "judge", "model": "g", "rubric": "r"}]`), "Paris", 1, false},
		{"ErrAllFail", fakeJudge{err: errors.New("down")}.call, route(`[{"type": "judge", "model": "g", "rubric": "r"}]`), "Paris", 0, true},
		{"Judge", fakeJudge{reply: `{"score": 9}`}.call, route(`[{"type": "judge", "model": "g", "rubric": "r"}]`), "Paris", 0.9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := quality.RouteEvaluator{E: quality.NewEvaluator(tt.judge)}
			got, _, err := ev.Evaluate(context.Background(), tt.rt, request("q"), answer(tt.text))
			if (err != nil) != tt.wantErr || !near(got, tt.want) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
