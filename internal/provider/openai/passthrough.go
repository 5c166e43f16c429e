package openai

import (
	"fmt"
	"slices"

	"github.com/chorusgw/chorus/internal/jsonscan"
)

// member locates one top-level member of a JSON object.
type member struct {
	keyStart, valStart, valEnd int
	found                      bool
}

// edit sets one member: it replaces obj[start:end], or appends the member
// before the closing brace when start is -1. The value is quoted (the
// model), a literal, or bytes; nothing is built before the output itself.
type edit struct {
	start, end int
	key        string
	quoted     string
	lit        string
	raw        []byte
}

// edits is a small fixed set, so a rewrite allocates only its output.
type edits struct {
	list [3]edit
	n    int
}

func (es *edits) set(mb member, e edit) {
	e.start, e.end = -1, -1
	if mb.found {
		e.start, e.end = mb.valStart, mb.valEnd
	}
	es.list[es.n] = e
	es.n++
}

func (e *edit) size() int {
	n := len(e.quoted)*6/5 + 2 + len(e.lit) + len(e.raw)
	if e.start < 0 {
		n += len(e.key) + 4
	}
	return n
}

func (e *edit) appendValue(out []byte) []byte {
	switch {
	case e.raw != nil:
		return append(out, e.raw...)
	case e.lit != "":
		return append(out, e.lit...)
	}
	return jsonscan.AppendString(out, e.quoted)
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
	var es edits
	es.set(m, edit{key: "model", quoted: model})
	if stream {
		if !s.found || string(raw[s.valStart:s.valEnd]) != "true" {
			es.set(s, edit{key: "stream", lit: "true"})
		}
		opts := raw[so.valStart:so.valEnd]
		switch {
		case !so.found || isNull(opts) || opts[0] != '{':
			es.set(so, edit{key: "stream_options", lit: `{"include_usage":true}`})
		default:
			if v, ok, _ := jsonscan.GetField(opts, "include_usage"); !ok || string(v) != "true" {
				withUsage, err := jsonscan.SetField(opts, "include_usage", []byte("true"))
				if err != nil {
					return nil, fmt.Errorf("openai: passthrough stream_options: %w", err)
				}
				es.set(so, edit{key: "stream_options", raw: withUsage})
			}
		}
	} else {
		if s.found && string(raw[s.valStart:s.valEnd]) != "false" {
			es.set(s, edit{lit: "false"})
		}
		if so.found && !isNull(raw[so.valStart:so.valEnd]) {
			// stream_options is refused without stream.
			es.set(so, edit{lit: "null"})
		}
	}
	return es.apply(raw), nil
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
	var es edits
	es.set(m, edit{key: "model", quoted: model})
	return es.apply(raw), nil
}

// apply builds the edited copy of obj in one allocation. Replacements go in
// place, in order; appended members go before the closing brace.
func (es *edits) apply(obj []byte) []byte {
	list := es.list[:es.n]
	slices.SortFunc(list, func(a, b edit) int { return a.start - b.start })
	n := len(obj)
	for i := range list {
		n += list[i].size()
	}
	out := make([]byte, 0, n)
	closing := len(obj) - 1
	for closing > 0 && obj[closing] != '}' {
		closing--
	}
	pos := 0
	for i := range list {
		if e := &list[i]; e.start >= 0 {
			out = append(out, obj[pos:e.start]...)
			out = e.appendValue(out)
			pos = e.end
		}
	}
	out = append(out, obj[pos:closing]...)
	empty := lastNonSpace(obj[:closing]) == '{'
	for i := range list {
		if e := &list[i]; e.start < 0 {
			if !empty {
				out = append(out, ',')
			}
			out = jsonscan.AppendString(out, e.key)
			out = append(out, ':')
			out = e.appendValue(out)
			empty = false
		}
	}
	return append(out, obj[closing:]...)
}

func lastNonSpace(b []byte) byte {
	for i := len(b) - 1; i >= 0; i-- {
		if !jsonscan.IsSpace(b[i]) {
			return b[i]
		}
	}
	return 0
}

// findMembers calls fn with the location of every top-level member of obj.
// It checks the object's own structure but skips values without validating
// them: passthrough bodies were validated when the client's request was
// decoded, and this runs on every request.
func findMembers(obj []byte, fn func(key []byte, m member)) error {
	ms := jsonscan.ScanMembers(obj)
	for ms.Next() {
		fn(ms.Key(), member{keyStart: ms.KeyStart, valStart: ms.ValueStart, valEnd: ms.ValueEnd, found: true})
	}
	return ms.Err()
}
