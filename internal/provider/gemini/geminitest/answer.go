package geminitest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// answer builds the GenerateContentResponse objects of one scripted answer.
type answer struct {
	sc         conformance.Scenario
	opts       Options
	model      string
	candidates int
}

func newAnswer(sc conformance.Scenario, opts Options, model string, candidates int) *answer {
	return &answer{sc: sc, opts: opts, model: model, candidates: candidates}
}

// obj is a JSON object under construction.
type obj = map[string]any

// writeJSON answers a generateContent call with the whole answer.
func (a *answer) writeJSON(w http.ResponseWriter) {
	if a.opts.Body != "" {
		writeRaw(w, http.StatusOK, "application/json", a.opts.Body)
		return
	}
	var parts []obj
	if a.opts.Thought != "" {
		parts = append(parts, obj{"text": a.opts.Thought, "thought": true})
	}
	if a.sc.Text != "" {
		parts = append(parts, obj{"text": a.sc.Text})
	}
	writeJSON(w, http.StatusOK, a.event(append(parts, a.callParts()...), true))
}

// events returns the events of a streamed answer, and how many of them to
// send before the scripted mid-stream error (-1 for no error).
func (a *answer) events() (events []obj, errorAfter int) {
	if a.opts.Body != "" {
		return []obj{{"raw": a.opts.Body}}, -1
	}
	if a.opts.BlockReason != "" {
		return []obj{a.event(nil, true)}, -1
	}
	pieces := splitText(a.sc.Text)
	if a.sc.StreamErrorAfter > 0 {
		n := min(a.sc.StreamErrorAfter, len(pieces))
		for _, p := range pieces[:n] {
			events = append(events, a.event([]obj{{"text": p}}, false))
		}
		return events, n
	}
	var first []obj
	if a.opts.Thought != "" {
		first = append(first, obj{"text": a.opts.Thought, "thought": true})
	}
	if len(pieces) == 0 {
		return []obj{a.event(append(first, a.callParts()...), true)}, -1
	}
	// Like Gemini, the last text piece rides on the event that carries the
	// function calls, the finish reason and the final usage.
	for i, p := range pieces {
		parts := append(first, obj{"text": p})
		first = nil
		if i == len(pieces)-1 {
			events = append(events, a.event(append(parts, a.callParts()...), true))
			break
		}
		events = append(events, a.event(parts, false))
	}
	return events, -1
}

// event returns one GenerateContentResponse holding parts in every
// candidate; the final one carries the finish reason and the full usage,
// the others the prompt's usage only, as Gemini's streams do.
func (a *answer) event(parts []obj, final bool) obj {
	u := a.sc.Usage
	if a.opts.BlockReason != "" {
		return obj{
			"promptFeedback": obj{"blockReason": a.opts.BlockReason},
			"usageMetadata":  obj{"promptTokenCount": u.InputTokens, "totalTokenCount": u.InputTokens},
			"modelVersion":   a.model,
		}
	}
	cands := make([]obj, a.candidates)
	for i := range cands {
		c := obj{"content": obj{"role": "model", "parts": parts}}
		if i > 0 {
			c["index"] = i // proto3 JSON leaves out the default 0
		}
		if final {
			c["finishReason"] = a.finishReason()
		}
		cands[i] = c
	}
	usage := obj{"promptTokenCount": u.InputTokens, "totalTokenCount": u.InputTokens}
	if final {
		usage = obj{
			"promptTokenCount":     u.InputTokens,
			"candidatesTokenCount": u.OutputTokens - u.ReasoningTokens,
			"totalTokenCount":      u.InputTokens + u.OutputTokens,
		}
		if u.ReasoningTokens > 0 {
			usage["thoughtsTokenCount"] = u.ReasoningTokens
		}
		if u.CachedInputTokens > 0 {
			usage["cachedContentTokenCount"] = u.CachedInputTokens
		}
	}
	return obj{"candidates": cands, "usageMetadata": usage, "modelVersion": a.model, "responseId": "fake-response-1"}
}

// callParts are the scripted tool calls as functionCall parts, without IDs
// as Gemini sends them.
func (a *answer) callParts() []obj {
	parts := make([]obj, 0, len(a.sc.ToolCalls))
	for i, tc := range a.sc.ToolCalls {
		p := obj{"functionCall": obj{"name": tc.Name, "args": json.RawMessage(cmp.Or(tc.Arguments, "{}"))}}
		if i == 0 && a.opts.ThoughtSignature != "" {
			p["thoughtSignature"] = a.opts.ThoughtSignature
		}
		parts = append(parts, p)
	}
	return parts
}

// finishReason is Gemini's name for the scripted reason. Gemini has no
// reason for tool calls: it says STOP.
func (a *answer) finishReason() string {
	if a.opts.FinishReason != "" {
		return a.opts.FinishReason
	}
	switch a.sc.FinishReason {
	case provider.FinishLength:
		return "MAX_TOKENS"
	case provider.FinishContentFilter:
		return "SAFETY"
	default:
		return "STOP"
	}
}

// writeSSE streams the answer as alt=sse does: one "data: {json}" event per
// response, ChunkDelay before every event after the first.
func (a *answer) writeSSE(w http.ResponseWriter, r *http.Request) {
	nl := "\n"
	if a.opts.CRLF {
		nl = "\r\n"
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(data string) {
		_, _ = w.Write([]byte("data: " + data + nl + nl)) // #nosec G705 -- test fake: writes its scripted JSON/SSE answer, not HTML
		if flusher != nil {
			flusher.Flush()
		}
	}
	events, errorAfter := a.events()
	for i, e := range events {
		if i > 0 && !wait(r, a.sc.ChunkDelay) {
			return
		}
		send(encodeEvent(e))
	}
	if errorAfter >= 0 {
		send(mustJSON(obj{"error": errorStatus(http.StatusInternalServerError, cmp.Or(a.sc.ErrType, "INTERNAL"), a.sc.ErrMessage, nil)}))
	}
}

// writeArray answers streamGenerateContent without alt=sse: the events as
// one JSON array.
func (a *answer) writeArray(w http.ResponseWriter) {
	events, _ := a.events()
	enc := make([]string, len(events))
	for i, e := range events {
		enc[i] = encodeEvent(e)
	}
	writeRaw(w, http.StatusOK, "application/json", "["+strings.Join(enc, ",\r\n")+"]")
}

func encodeEvent(e obj) string {
	if raw, ok := e["raw"].(string); ok && len(e) == 1 {
		return raw
	}
	return mustJSON(e)
}

// splitText cuts text into pieces of two words each.
func splitText(text string) []string {
	if text == "" {
		return nil
	}
	words := strings.SplitAfter(text, " ")
	var out []string
	for i := 0; i < len(words); i += 2 {
		out = append(out, strings.Join(words[i:min(i+2, len(words))], ""))
	}
	return out
}

// writeEmbeddings answers batchEmbedContents: the scripted vectors in
// order, a made-up one for any input beyond them, and usageMetadata when
// the scenario has input tokens (newer embedding models report it).
func writeEmbeddings(w http.ResponseWriter, sc conformance.Scenario, req *batchEmbedRequest) {
	embs := make([]obj, len(req.Requests))
	for i, e := range req.Requests {
		var v []float32
		if i < len(sc.Embeddings) {
			v = sc.Embeddings[i]
		} else {
			v = make([]float32, max(1, valueOr(e.OutputDimensionality, 4)))
			for j := range v {
				v[j] = float32(i+1) / float32(j+1)
			}
		}
		embs[i] = obj{"values": v}
	}
	body := obj{"embeddings": embs}
	if n := sc.Usage.InputTokens; n > 0 {
		body["usageMetadata"] = obj{"promptTokenCount": n, "totalTokenCount": n}
	}
	writeJSON(w, http.StatusOK, body)
}

// writeScenarioError answers with the scripted error: Status, a
// google.rpc.Status body whose status is ErrType, a Retry-After header when
// scripted, and for a 429 the RetryInfo detail Gemini sends.
func writeScenarioError(w http.ResponseWriter, sc conformance.Scenario, opts Options) {
	var details []obj
	delay := opts.RetryDelay
	if _, err := strconv.Atoi(sc.RetryAfter); delay == "" && err == nil && sc.Status == http.StatusTooManyRequests {
		delay = sc.RetryAfter + "s"
	}
	if sc.Status == http.StatusTooManyRequests {
		details = append(details, obj{
			"@type": "type.googleapis.com/google.rpc.QuotaFailure",
			"violations": []obj{{
				"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
				"quotaId":     "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
			}},
		})
	}
	if delay != "" {
		details = append(details, obj{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
	}
	if sc.RetryAfter != "" {
		w.Header().Set("Retry-After", sc.RetryAfter)
	}
	status := cmp.Or(sc.ErrType, statusName(sc.Status))
	msg := cmp.Or(sc.ErrMessage, http.StatusText(sc.Status))
	writeJSON(w, sc.Status, obj{"error": errorStatus(sc.Status, status, msg, details)})
}

// writeError answers with a google.rpc.Status error body.
func writeError(w http.ResponseWriter, code int, status, msg string) {
	writeJSON(w, code, obj{"error": errorStatus(code, status, msg, nil)})
}

func errorStatus(code int, status, msg string, details []obj) obj {
	e := obj{"code": code, "message": msg, "status": status}
	if len(details) > 0 {
		e["details"] = details
	}
	return e
}

// statusName is the canonical google.rpc.Code name Gemini pairs with an
// HTTP status.
func statusName(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	writeRaw(w, code, "application/json; charset=UTF-8", mustJSON(v))
}

func writeRaw(w http.ResponseWriter, code int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body)) // #nosec G705 -- test fake: writes its scripted JSON/SSE answer, not HTML
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("geminitest: " + err.Error()) // only the fake's own values are encoded
	}
	return string(b)
}

// wait sleeps for d unless the request is cancelled first; it reports
// whether the answer should go on.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func valueOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
