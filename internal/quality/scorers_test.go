package quality_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
)

// answer returns a response with one text choice.
func answer(text string) *provider.ChatResponse {
	return &provider.ChatResponse{ID: "chatcmpl-1", Choices: []provider.Choice{{
		Message: provider.TextMessage(provider.RoleAssistant, text), FinishReason: provider.FinishStop,
	}}}
}

// request returns a one-message chat request.
func request(text string) *provider.ChatRequest {
	return &provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, text)}}
}

// scoreOne evaluates one spec on one answer and returns its only score.
func scoreOne(t *testing.T, e *quality.Evaluator, spec quality.Spec, req *provider.ChatRequest, resp *provider.ChatResponse) quality.Score {
	t.Helper()
	res, err := e.Evaluate(context.Background(), []quality.Spec{spec}, req, resp)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if len(res.Scores) != 1 {
		t.Fatalf("got %d scores, want 1", len(res.Scores))
	}
	if res.Score != res.Scores[0].Value {
		t.Errorf("combined score %v, want the only score %v", res.Score, res.Scores[0].Value)
	}
	return res.Scores[0]
}

type scorerCase struct {
	name   string
	spec   quality.Spec
	text   string
	want   float64
	reason string // a substring the reason must contain
}

func runScorerCases(t *testing.T, tests []scorerCase) {
	t.Helper()
	e := quality.NewEvaluator(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.Validate([]quality.Spec{tt.spec}); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := scoreOne(t, e, tt.spec, request("q"), answer(tt.text))
			if got.Value != tt.want {
				t.Errorf("value = %v (%s), want %v", got.Value, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to mention %q", got.Reason, tt.reason)
			}
			if want := tt.spec.Type; tt.spec.Name == "" && got.Scorer != want {
				t.Errorf("scorer = %q, want %q", got.Scorer, want)
			}
		})
	}
}

func TestJSONValid(t *testing.T) {
	s := quality.Spec{Type: quality.TypeJSONValid}
	runScorerCases(t, []scorerCase{
		{"Object", s, `{"a": 1, "b": [true, null]}`, 1, "valid JSON"},
		{"SurroundingSpace", s, "\n  [1, 2]  \n", 1, "valid JSON"},
		{"Scalar", s, `"just a string"`, 1, "valid JSON"},
		{"Fenced", s, "```json\n{\"a\": 1}\n```", 1, "fenced"},
		{"FencedNoLabel", s, "```\n{\"a\": 1}\n```", 1, "fenced"},
		{"FencedOneLine", s, "```json {\"a\": 1}```", 1, "fenced"},
		{"ErrFenceInProse", s, "Here you go:\n```json\n{\"a\": 1}\n```\nEnjoy!", 0, "prose"},
		{"ErrTrailingComma", s, `{"a": 1,}`, 0, "not valid JSON"},
		{"ErrTrailingText", s, `{"a": 1} and more`, 0, "text after"},
		{"ErrProse", s, "Sure! The answer is 42.", 0, "not valid JSON"},
		{"ErrEmpty", s, "", 0, "empty"},
		{"ErrFencedInvalid", s, "```json\n{a: 1}\n```", 0, "not valid JSON"},
	})
}

func TestRegexContainsLength(t *testing.T) {
	runScorerCases(t, []scorerCase{
		{"RegexMatch", quality.Spec{Type: quality.TypeRegex, Pattern: `^\d{3}-\d{4}$`}, "555-1234", 1, "matches"},
		{"RegexNoMatch", quality.Spec{Type: quality.TypeRegex, Pattern: `^\d{3}-\d{4}$`}, "call 555-1234", 0, "does not match"},
		{"RegexCaseFlag", quality.Spec{Type: quality.TypeRegex, Pattern: `(?i)paris`}, "PARIS.", 1, "matches"},
		{"Contains", quality.Spec{Type: quality.TypeContains, Value: "Paris"}, "The capital is paris.", 1, "contains"},
		{"ContainsMissing", quality.Spec{Type: quality.TypeContains, Value: "Paris"}, "The capital is Lyon.", 0, "does not contain"},
		{"ContainsUnicodeCase", quality.Spec{Type: quality.TypeContains, Value: "ÉTÉ"}, "un bel été", 1, "contains"},
		{"NotContainsAbsent", quality.Spec{Type: quality.TypeNotContains, Value: "lorem"}, "Real text.", 1, "does not contain"},
		{"NotContainsPresent", quality.Spec{Type: quality.TypeNotContains, Value: "lorem"}, "LOREM ipsum", 0, "must not"},
		{"LengthWithin", quality.Spec{Type: quality.TypeLength, Min: 2, Max: 5}, "héllo", 1, "5 characters"},
		{"LengthRunesNotBytes", quality.Spec{Type: quality.TypeLength, Max: 3}, "日本語", 1, "3 characters"},
		{"LengthShort", quality.Spec{Type: quality.TypeLength, Min: 10}, "short", 0, "fewer than the minimum 10"},
		{"LengthLong", quality.Spec{Type: quality.TypeLength, Max: 3}, "toolong", 0, "more than the maximum 3"},
		{"NamedScorer", quality.Spec{Type: quality.TypeContains, Name: "mentions-paris", Value: "paris"}, "Paris", 1, "contains"},
	})
}

func TestRefusal(t *testing.T) {
	s := quality.Spec{Type: quality.TypeRefusal}
	long := strings.Repeat("Here is a detailed explanation of the topic with many words. ", 10)
	runScorerCases(t, []scorerCase{
		{"CantHelp", s, "I can't help with that.", 0, "refusal"},
		{"CurlyApostrophe", s, "I can\u2019t help with that request.", 0, "refusal"},
		{"CannotAssist", s, "I cannot assist with this request.", 0, "refusal"},
		{"SorryBut", s, "I'm sorry, but I can't provide instructions for that.", 0, "refusal"},
		{"SorryComma", s, "Sorry, I won't be able to help with this one.", 0, "refusal"},
		{"Apologize", s, "I apologize, but I am unable to fulfill this request.", 0, "refusal"},
		{"AsAnAI", s, "As an AI language model, I don't have personal opinions.", 0, "opens with"},
		{"AsAnAIUpper", s, "AS AN AI, I cannot do that.", 0, "refusal"},
		{"MustDecline", s, "I must respectfully decline this request.", 0, "refusal"},
		{"NotComfortable", s, "I'm not comfortable writing that.", 0, "refusal"},
		{"Unfortunately", s, "Unfortunately, I cannot comply with that.", 0, "refusal"},
		{"Markdown", s, "**I can't assist with that.**", 0, "refusal"},
		{"ShortMainContent", s, "Thanks for asking. Unfortunately that is outside what I can do here, so I can't help with that.", 0, "short answer"},
		{"PartialThenAnswers", s, "I can't help with the legal part, but here is the code you asked for. " + long, 0.5, "partial"},
		{"NotSorryToHear", s, "I'm sorry to hear that. Here are some tips: rest, drink water and see a doctor if it persists.", 1, "no refusal"},
		{"NotSorryConfusion", s, "Sorry for the confusion: the answer is 42.", 1, "no refusal"},
		{"NotSorryButAnswer", s, "I'm sorry, but the function returns 4 because the loop runs twice.", 1, "no refusal"},
		{"NotCantBelieve", s, "I can't believe how simple this is: use a map.", 1, "no refusal"},
		{"NotCannotStress", s, "I cannot stress enough how important tests are. Write them first.", 1, "no refusal"},
		{"NotYouCant", s, "You can't help with that alone; ask a plumber to check the valve.", 1, "no refusal"},
		{"NotLongWithRefusalLater", s, long + " I can't help with taxes, though.", 1, "no refusal"},
		{"Ordinary", s, "The capital of France is Paris.", 1, "no refusal"},
	})

	e := quality.NewEvaluator(nil)
	t.Run("ContentFilterEmpty", func(t *testing.T) {
		resp := &provider.ChatResponse{Choices: []provider.Choice{{Message: provider.Message{Role: provider.RoleAssistant}, FinishReason: provider.FinishContentFilter}}}
		got := scoreOne(t, e, s, request("q"), resp)
		if got.Value != 0 || !strings.Contains(got.Reason, "content filter") {
			t.Errorf("got %+v, want 0 for an empty content-filtered answer", got)
		}
	})
	t.Run("ToolCallNotRefusal", func(t *testing.T) {
		resp := &provider.ChatResponse{Choices: []provider.Choice{{Message: provider.Message{Role: provider.RoleAssistant,
			ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}, FinishReason: provider.FinishContentFilter}}}
		if got := scoreOne(t, e, s, request("q"), resp); got.Value != 1 {
			t.Errorf("got %+v, want 1: a tool call is not a refusal", got)
		}
	})
}

func TestAutoSpecs(t *testing.T) {
	tests := []struct {
		name string
		rf   *provider.ResponseFormat
		want []quality.Spec
	}{
		{"None", nil, nil},
		{"Text", &provider.ResponseFormat{Type: "text"}, nil},
		{"JSONObject", &provider.ResponseFormat{Type: "json_object"}, []quality.Spec{{Type: quality.TypeJSONValid}}},
		{"JSONSchema", &provider.ResponseFormat{Type: "json_schema", Name: "x", Schema: json.RawMessage(`{}`)}, []quality.Spec{{Type: quality.TypeJSONSchema}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("q")
			req.ResponseFormat = tt.rf
			got := quality.AutoSpecs(req)
			if len(got) != len(tt.want) || len(got) == 1 && (got[0].Type != tt.want[0].Type || got[0].Schema != nil) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := quality.AutoSpecs(nil); got != nil {
		t.Errorf("AutoSpecs(nil) = %+v", got)
	}
}

func TestEvaluateCombined(t *testing.T) {
	e := quality.NewEvaluator(nil)
	specs := []quality.Spec{
		{Type: quality.TypeJSONValid, Weight: 3},                    // 1
		{Type: quality.TypeContains, Value: "missing"},              // 0, weight 1
		{Type: quality.TypeJSONSchema},                              // fails: no schema anywhere
		{Type: quality.TypeLength, Max: 100, Weight: 0},             // 1, weight 1
		{Type: quality.TypeNotContains, Value: `"a"`, Name: "no-a"}, // 0, weight 1
	}
	res, err := e.Evaluate(context.Background(), specs, request("q"), answer(`{"a": 1}`))
	if err == nil || !strings.Contains(err.Error(), "json_schema: no schema") {
		t.Fatalf("err = %v, want the json_schema scorer's failure", err)
	}
	if len(res.Scores) != 4 {
		t.Fatalf("got %d scores, want the 4 that succeeded: %+v", len(res.Scores), res.Scores)
	}
	if want := (3*1 + 0 + 1 + 0) / 6.0; res.Score != want {
		t.Errorf("combined = %v, want %v (weighted mean of the scorers that succeeded)", res.Score, want)
	}
	if res.Scores[3].Scorer != "no-a" {
		t.Errorf("scores keep spec order and names: %+v", res.Scores)
	}

	t.Run("NoSpecs", func(t *testing.T) {
		res, err := e.Evaluate(context.Background(), nil, request("q"), answer("x"))
		if err != nil || res.Score != 0 || len(res.Scores) != 0 {
			t.Errorf("got %+v, %v", res, err)
		}
	})
	t.Run("NoChoices", func(t *testing.T) {
		res, err := e.Evaluate(context.Background(), []quality.Spec{{Type: quality.TypeJSONValid}}, request("q"), &provider.ChatResponse{})
		if err != nil || len(res.Scores) != 1 || res.Scores[0].Value != 0 {
			t.Errorf("got %+v, %v; want a 0 score", res, err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := e.Evaluate(ctx, []quality.Spec{{Type: quality.TypeJSONValid}}, request("q"), answer("{}"))
		if err == nil || len(res.Scores) != 0 {
			t.Errorf("got %+v, %v; want an error and no scores", res, err)
		}
	})
}
