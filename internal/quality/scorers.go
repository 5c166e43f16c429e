package quality

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/chorusgw/chorus/internal/provider"
)

// The deterministic scorers. Each returns a value in [0, 1] and a reason a
// person reading the admin console understands without the answer at hand.

// jsonText is the JSON an answer holds: the whole text, or the body of a
// fenced code block (```json … ```) when that block is the whole answer.
type jsonText struct {
	doc    []byte
	fenced bool
	// embedded is set when the answer is not JSON but holds a fenced block
	// amid prose: worth saying, since a client cannot parse it as is.
	embedded bool
}

// wholeFence matches an answer that is one fenced code block, optionally
// labelled json; fenceAnywhere finds one amid prose.
var (
	wholeFence    = regexp.MustCompile("(?s)^```[ \t]*(?:json5?|JSON)?[ \t]*\r?\n?(.*?)[ \t\r\n]*```$")
	fenceAnywhere = regexp.MustCompile("(?s)```.*?```")
)

// extractJSON finds the JSON in an answer.
func extractJSON(text string) jsonText {
	trimmed := strings.TrimSpace(text)
	if strings.HasPrefix(trimmed, "```") {
		if m := wholeFence.FindStringSubmatch(trimmed); m != nil {
			return jsonText{doc: []byte(strings.TrimSpace(m[1])), fenced: true}
		}
	}
	out := jsonText{doc: []byte(trimmed)}
	if !json.Valid(out.doc) && fenceAnywhere.MatchString(trimmed) {
		out.embedded = true
	}
	return out
}

func scoreJSONValid(a answer) (float64, string) {
	if r, ok := noText(a); ok {
		return 0, r
	}
	j := extractJSON(a.text)
	if err := checkJSON(j.doc); err != nil {
		if j.embedded {
			return 0, "not valid JSON: the answer wraps a fenced code block in prose"
		}
		return 0, "not valid JSON: " + err.Error()
	}
	if j.fenced {
		return 1, "valid JSON inside a ```json fenced block"
	}
	return 1, "valid JSON"
}

// checkJSON reports where a document stops being JSON.
func checkJSON(doc []byte) error {
	if len(doc) == 0 {
		return errors.New("empty")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // JSON has no number range: 1e999 is valid
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s at byte %d", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return fmt.Errorf("text after the JSON value at byte %d", dec.InputOffset())
	}
	return nil
}

// noText returns the reason an answer cannot be scored as text.
func noText(a answer) (string, bool) {
	switch {
	case a.missing:
		return "the response has no answer", true
	case a.text == "" && a.toolCalls > 0:
		return "the answer is a tool call, not text", true
	}
	return "", false
}

func (e *Evaluator) scoreJSONSchema(s *Spec, req *provider.ChatRequest, a answer) (float64, string, error) {
	raw, explicit := s.Schema, len(s.Schema) > 0
	if !explicit && req != nil && req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema" {
		raw = req.ResponseFormat.Schema
	}
	if len(raw) == 0 {
		return 0, "", errors.New("no schema: give the scorer a schema or use it on requests with response_format json_schema")
	}
	sch, err := e.schema(raw, explicit)
	if err != nil {
		return 0, "", fmt.Errorf("schema: %w", err)
	}
	if r, ok := noText(a); ok {
		return 0, r, nil
	}
	j := extractJSON(a.text)
	if err := checkJSON(j.doc); err != nil {
		if j.embedded {
			return 0, "not valid JSON: the answer wraps a fenced code block in prose", nil
		}
		return 0, "not valid JSON: " + err.Error(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(j.doc))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return 0, "not valid JSON: " + err.Error(), nil
	}
	if err := sch.validate(doc); err != nil {
		var v *violation
		if !errors.As(err, &v) { // the check could not be done: no verdict
			return 0, "", fmt.Errorf("schema: %w", err)
		}
		return 0, "does not match the schema: " + v.Error(), nil
	}
	if j.fenced {
		return 1, "matches the schema (inside a ```json fenced block)", nil
	}
	return 1, "matches the schema", nil
}

func (e *Evaluator) scoreRegex(s *Spec, a answer) (float64, string, error) {
	re, err := e.regexp(s.Pattern)
	if err != nil {
		return 0, "", fmt.Errorf("pattern: %w", err)
	}
	if re.MatchString(a.text) {
		return 1, fmt.Sprintf("matches /%s/", clip(s.Pattern, 80)), nil
	}
	return 0, fmt.Sprintf("does not match /%s/", clip(s.Pattern, 80)), nil
}

func scoreContains(s *Spec, a answer, want bool) (float64, string) {
	has := strings.Contains(strings.ToLower(a.text), strings.ToLower(s.Value))
	v := clip(s.Value, 80)
	switch {
	case has && want:
		return 1, fmt.Sprintf("contains %q", v)
	case !has && want:
		return 0, fmt.Sprintf("does not contain %q", v)
	case has:
		return 0, fmt.Sprintf("contains %q, which it must not", v)
	}
	return 1, fmt.Sprintf("does not contain %q", v)
}

func scoreLength(s *Spec, a answer) (float64, string) {
	n := utf8.RuneCountInString(a.text)
	switch {
	case n < s.Min:
		return 0, fmt.Sprintf("%d characters, fewer than the minimum %d", n, s.Min)
	case s.Max > 0 && n > s.Max:
		return 0, fmt.Sprintf("%d characters, more than the maximum %d", n, s.Max)
	}
	return 1, fmt.Sprintf("%d characters, within bounds", n)
}

// clip shortens s to at most n runes for a reason.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
