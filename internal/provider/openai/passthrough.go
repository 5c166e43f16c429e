package openai

import (
	"fmt"
	"slices"

	"github.com/chorusgw/chorus/internal/provider"
)

// member locates one top-level member of a JSON object.
type member struct {
	keyStart, valStart, valEnd int
	found                      bool
}

// edit replaces obj[start:end] with text.
type edit struct {
	start, end int
	text       []byte
}

// rewriteChatBody returns a copy of a client's OpenAI body with the model
// replaced and the stream members made to agree with how it is sent; all
// other bytes stay as the client sent them. Streamed requests always ask for
// usage (stream_options.include_usage) so every stream can be metered.
func rewriteChatBody(raw []byte, model string, stream bool) ([]byte, error) {
	var m, s, so member
	if err := findMembers(raw, func(key []byte, mb member) {
		switch string(key) {
		case "model":
			m = mb
		case "stream":
			s = mb
		case "stream_options":
			so = mb
		}
	}); err != nil {
		return nil, fmt.Errorf("openai: passthrough body: %w", err)
	}
	edits := make([]edit, 0, 3)
	edits = setMember(edits, m, "model", appendString(nil, model))
	if stream {
		if !s.found || string(raw[s.valStart:s.valEnd]) != "true" {
			edits = setMember(edits, s, "stream", []byte("true"))
		}
		opts := raw[so.valStart:so.valEnd]
		switch {
		case !so.found || isNull(opts) || opts[0] != '{':
			edits = setMember(edits, so, "stream_options", []byte(`{"include_usage":true}`))
		default:
			if v, ok, _ := provider.GetField(opts, "include_usage"); !ok || string(v) != "true" {
				withUsage, err := provider.SetField(opts, "include_usage", []byte("true"))
				if err != nil {
					return nil, fmt.Errorf("openai: passthrough stream_options: %w", err)
				}
				edits = setMember(edits, so, "stream_options", withUsage)
			}
		}
	} else {
		if s.found && string(raw[s.valStart:s.valEnd]) != "false" {
			edits = append(edits, edit{s.valStart, s.valEnd, []byte("false")})
		}
		if so.found && !isNull(raw[so.valStart:so.valEnd]) {
			// stream_options is refused without stream.
			edits = append(edits, edit{so.valStart, so.valEnd, []byte("null")})
		}
	}
	return applyEdits(raw, edits), nil
}

// rewriteModel returns a copy of raw with the top-level model replaced.
func rewriteModel(raw []byte, model string) ([]byte, error) {
	var m member
	if err := findMembers(raw, func(key []byte, mb member) {
		if string(key) == "model" {
			m = mb
		}
	}); err != nil {
		return nil, fmt.Errorf("openai: passthrough body: %w", err)
	}
	return applyEdits(raw, setMember(nil, m, "model", appendString(nil, model))), nil
}

// setMember adds the edit that sets a member's value: in place when it is
// present, as a new last member (start == -1) when it is not.
func setMember(edits []edit, mb member, key string, value []byte) []edit {
	if mb.found {
		return append(edits, edit{mb.valStart, mb.valEnd, value})
	}
	text := appendString(nil, key)
	text = append(text, ':')
	return append(edits, edit{-1, -1, append(text, value...)})
}

// applyEdits builds the edited copy of obj in one allocation. Appended
// members go before the closing brace.
func applyEdits(obj []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	n := len(obj)
	for _, e := range edits {
		n += len(e.text) - (e.end - e.start) + 1
	}
	out := make([]byte, 0, n)
	closing := len(obj) - 1
	for closing > 0 && obj[closing] != '}' {
		closing--
	}
	pos := 0
	var appends []edit
	for _, e := range edits {
		if e.start < 0 {
			appends = append(appends, e)
			continue
		}
		out = append(out, obj[pos:e.start]...)
		out = append(out, e.text...)
		pos = e.end
	}
	out = append(out, obj[pos:closing]...)
	empty := lastNonSpace(obj[:closing]) == '{'
	for _, e := range appends {
		if !empty {
			out = append(out, ',')
		}
		out = append(out, e.text...)
		empty = false
	}
	return append(out, obj[closing:]...)
}

func lastNonSpace(b []byte) byte {
	for i := len(b) - 1; i >= 0; i-- {
		if !isWS(b[i]) {
			return b[i]
		}
	}
	return 0
}

// findMembers calls fn with the location of every top-level member of obj,
// checking the object's structure as it goes (values are skipped by the
// validating scanner).
func findMembers(obj []byte, fn func(key []byte, m member)) error {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errSyntax
	}
	i = skipWS(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return checkEnd(obj, i+1)
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errSyntax
		}
		ks := i
		ke, _, err := scanString(obj, i)
		if err != nil {
			return err
		}
		i = skipWS(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return errSyntax
		}
		vs := skipWS(obj, i+1)
		ve, err := scanValue(obj, vs, 0)
		if err != nil {
			return err
		}
		fn(obj[ks+1:ke-1], member{keyStart: ks, valStart: vs, valEnd: ve, found: true})
		i = skipWS(obj, ve)
		if i >= len(obj) {
			return errSyntax
		}
		switch obj[i] {
		case ',':
			i = skipWS(obj, i+1)
		case '}':
			return checkEnd(obj, i+1)
		default:
			return errSyntax
		}
	}
}

func checkEnd(obj []byte, i int) error {
	if skipWS(obj, i) != len(obj) {
		return errSyntax
	}
	return nil
}
