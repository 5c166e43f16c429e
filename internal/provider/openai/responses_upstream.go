package openai

import (
	"context"
	"fmt"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// APIResponses is the value of the "api" setting that makes an OpenAI
// deployment send Responses requests to its /responses endpoint.
const APIResponses = "responses"

// usesResponses reports whether req goes to the Responses endpoint: the
// deployment speaks it and the client did too. Every other request goes to
// chat completions, so a Responses deployment serves chat clients as well.
func (c *Client) usesResponses(req *provider.ChatRequest) bool {
	return c.responsesURL != "" && req.RawFormat == provider.FormatOpenAIResponses && req.Raw != nil
}

// responsesChat forwards a Responses body (model rewritten) and reads the
// response object.
func (c *Client) responsesChat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	body, err := rewriteResponsesBody(req.Raw, req.Model, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.responsesURL, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, provider.TransportError(c.kind, ctx, err)
	}
	out, perr, err := parseResponseObject(raw)
	if err != nil {
		return nil, c.badAnswer(err)
	}
	if perr != nil {
		perr.Provider, perr.Status = c.kind, resp.StatusCode
		return nil, perr
	}
	out.Raw, out.RawFormat = raw, provider.FormatOpenAIResponses
	return out, nil
}

// rewriteResponsesBody returns a copy of a client's Responses body with the
// model replaced and "stream" made to agree with how it is sent (and
// stream_options, which OpenAI refuses without stream, nulled otherwise).
func rewriteResponsesBody(raw []byte, model string, stream bool) ([]byte, error) {
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
		return nil, fmt.Errorf("openai: responses passthrough body: %w", err)
	}
	var es edits
	es.set(m, edit{key: "model", quoted: model})
	sv := raw[s.valStart:s.valEnd]
	switch {
	case stream && (!s.found || string(sv) != "true"):
		es.set(s, edit{key: "stream", lit: "true"})
	case !stream && s.found && string(sv) != "false":
		es.set(s, edit{lit: "false"})
	}
	if !stream && so.found && !isNull(raw[so.valStart:so.valEnd]) {
		es.set(so, edit{lit: "null"})
	}
	return es.apply(raw), nil
}

// parseResponseObject reads a Responses response object into a canonical
// answer. A failed response is returned as a *provider.Error.
func parseResponseObject(raw []byte) (*provider.ChatResponse, *provider.Error, error) {
	if !jsonscan.Valid(raw) || raw[jsonscan.SkipSpace(raw, 0)] != '{' {
		return nil, nil, jsonscan.ErrSyntax
	}
	r := &provider.ChatResponse{}
	var status, incomplete, errObj []byte
	m := provider.Message{Role: provider.RoleAssistant}
	_ = jsonscan.EachMember(raw, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "id":
			r.ID = str(v)
		case "model":
			r.Model = str(v)
		case "created_at":
			r.Created = int64(num(v))
		case "status":
			status = v
		case "incomplete_details":
			incomplete = v
		case "error":
			if !isNull(v) {
				errObj = v
			}
		case "usage":
			r.Usage = parseResponsesUsage(v)
		case "output":
			parseOutput(&m, v)
		}
		return nil
	})
	if str(status) == statusFailed || errObj != nil {
		return nil, responseError(errObj), nil
	}
	finish := provider.FinishStop
	switch {
	case str(status) == statusIncomplete:
		finish = provider.FinishLength
		if str(memberOf(incomplete, "reason")) == "content_filter" {
			finish = provider.FinishContentFilter
		}
	case len(m.ToolCalls) > 0:
		finish = provider.FinishToolCalls
	}
	r.Choices = []provider.Choice{{Message: m, FinishReason: finish}}
	return r, nil, nil
}

// responseError is the error of a failed response: {"code","message"}.
func responseError(v []byte) *provider.Error {
	e := &provider.Error{Type: "server_error", Message: "the upstream response failed"}
	if len(v) > 0 && v[0] == '{' {
		if c := memberOf(v, "code"); c != nil {
			if code := scalarText(c); code != "" {
				e.Type, e.Code = code, code
			}
		}
		if msg := str(memberOf(v, "message")); msg != "" {
			e.Message = msg
		}
	}
	return e
}

// memberOf returns member key of object v (nil if absent or v is not one).
func memberOf(v []byte, key string) []byte {
	if len(v) == 0 || v[0] != '{' {
		return nil
	}
	out, _, _ := jsonscan.GetField(v, key)
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseOutput reads output items into m: message text (refusals too),
// function and custom tool calls. Reasoning and hosted tools' items stay
// in the raw answer only.
func parseOutput(m *provider.Message, v []byte) {
	if v[0] != '[' {
		return
	}
	var text []byte
	_ = jsonscan.EachElement(v, func(_ int, e []byte) error {
		if e[0] != '{' {
			return nil
		}
		f := readItem(e)
		switch str(f.typ) {
		case itemMessage:
			text = appendOutputText(text, f.content)
		case itemFunctionCall:
			m.ToolCalls = append(m.ToolCalls, provider.ToolCall{
				ID: str(f.callID), Name: canonicalName(str(f.name), str(f.namespace)), Arguments: str(f.arguments)})
		case itemCustomCall:
			m.ToolCalls = append(m.ToolCalls, provider.ToolCall{
				ID: str(f.callID), Name: canonicalName(str(f.name), str(f.namespace)), Arguments: customArguments(str(f.input))})
		}
		return nil
	})
	if len(text) > 0 || len(m.ToolCalls) == 0 {
		m.Content = []provider.Part{{Type: provider.PartText, Text: string(text)}}
		m.TextOnly = true
	}
}

func appendOutputText(dst, content []byte) []byte {
	if len(content) == 0 || content[0] != '[' {
		return dst
	}
	_ = jsonscan.EachElement(content, func(_ int, p []byte) error {
		switch str(memberOf(p, "type")) {
		case "output_text":
			dst = append(dst, str(memberOf(p, "text"))...)
		case "refusal":
			dst = append(dst, str(memberOf(p, "refusal"))...)
		}
		return nil
	})
	return dst
}

// parseResponsesUsage reads a Responses usage object.
func parseResponsesUsage(v []byte) provider.Usage {
	var u provider.Usage
	if len(v) == 0 || v[0] != '{' {
		return u
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "input_tokens":
			u.InputTokens = num(mv)
		case "output_tokens":
			u.OutputTokens = num(mv)
		case "input_tokens_details":
			u.CachedInputTokens = numMember(mv, "cached_tokens")
			u.CacheWriteTokens = numMember(mv, "cache_write_tokens")
		case "output_tokens_details":
			u.ReasoningTokens = numMember(mv, "reasoning_tokens")
		}
		return nil
	})
	return u
}
