package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// responsesSSE writes Responses semantic events with their sequence numbers.
type responsesSSE struct {
	w       http.ResponseWriter
	flusher http.Flusher
	delay   func() bool
	model   string
	id      string // the response's ID, on every response object sent
	seq     int
}

func (s *responsesSSE) send(typ string, fields map[string]any) bool {
	if s.seq > 0 && !s.delay() {
		return false
	}
	fields["type"], fields["sequence_number"] = typ, s.seq
	if o, ok := fields["response"].(map[string]any); ok && s.id != "" {
		o["id"] = s.id
	}
	s.seq++
	b, _ := json.Marshal(fields)
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
		return false
	}
	if s.flusher != nil {
		s.flusher.Flush()
	}
	return true
}

// writeResponsesStream streams the scripted answer as OpenAI's Responses
// API does: response.created and response.in_progress, the text as a
// message item a word at a time, each tool call as a function_call item with
// its arguments in two pieces, and response.completed (or .incomplete) with
// usage. StreamErrorAfter ends it with response.failed instead.
func writeResponsesStream(w http.ResponseWriter, r *http.Request, sc *conformance.Scenario, model, id string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	s := &responsesSSE{w: w, flusher: flusher, model: model, id: id, delay: func() bool { return wait(r, sc.ChunkDelay) }}
	if !s.send("response.created", map[string]any{"response": responseObject(sc, model, "in_progress", []any{})}) ||
		!s.send("response.in_progress", map[string]any{"response": responseObject(sc, model, "in_progress", []any{})}) {
		return
	}
	var output []any
	if sc.Text != "" || len(sc.ToolCalls) == 0 {
		if !streamMessage(s, sc) {
			return
		}
		output = append(output, messageItem(sc.Text, responseStatus(sc)))
	}
	for i, tc := range sc.ToolCalls {
		idx := len(output)
		item := callItem(i, tc, "", "in_progress")
		if !s.send("response.output_item.added", map[string]any{"output_index": idx, "item": item}) {
			return
		}
		half := len(tc.Arguments) / 2
		for _, args := range []string{tc.Arguments[:half], tc.Arguments[half:]} {
			if !s.send("response.function_call_arguments.delta", map[string]any{"output_index": idx, "item_id": item["id"], "delta": args}) {
				return
			}
		}
		done := callItem(i, tc, tc.Arguments, "completed")
		if !s.send("response.function_call_arguments.done", map[string]any{"output_index": idx, "item_id": item["id"], "arguments": tc.Arguments}) ||
			!s.send("response.output_item.done", map[string]any{"output_index": idx, "item": done}) {
			return
		}
		output = append(output, done)
	}
	status := responseStatus(sc)
	s.send("response."+status, map[string]any{"response": responseObject(sc, model, status, output)})
}

// streamMessage streams the text as output item 0.
func streamMessage(s *responsesSSE, sc *conformance.Scenario) bool {
	at := map[string]any{"output_index": 0, "item_id": "msg_fake", "content_index": 0}
	with := func(k string, v any) map[string]any {
		m := map[string]any{k: v}
		for key, val := range at {
			m[key] = val
		}
		return m
	}
	empty := messageItem("", "in_progress")
	empty["content"] = []any{}
	if !s.send("response.output_item.added", map[string]any{"output_index": 0, "item": empty}) ||
		!s.send("response.content_part.added", with("part", map[string]any{"type": "output_text", "text": "", "annotations": []any{}})) {
		return false
	}
	for i, piece := range splitWords(sc.Text) {
		if sc.StreamErrorAfter > 0 && i == sc.StreamErrorAfter {
			failed := responseObject(sc, s.model, "failed", []any{})
			failed["error"] = map[string]any{"code": sc.ErrType, "message": sc.ErrMessage}
			s.send("response.failed", map[string]any{"response": failed})
			return false
		}
		if !s.send("response.output_text.delta", with("delta", piece)) {
			return false
		}
	}
	item := messageItem(sc.Text, responseStatus(sc))
	return s.send("response.output_text.done", with("text", sc.Text)) &&
		s.send("response.content_part.done", with("part", item["content"].([]any)[0])) &&
		s.send("response.output_item.done", map[string]any{"output_index": 0, "item": item})
}
