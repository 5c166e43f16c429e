package openai

import (
	"encoding/json"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// ResponsesRequest is a decoded POST /v1/responses body: the canonical chat
// request a translating upstream receives, plus what only the Responses API
// knows (conversation state, hosted tools, the parameters a response object
// echoes).
type ResponsesRequest struct {
	// Chat is the canonical request. Chat.Raw is the body and Chat.RawFormat
	// is provider.FormatOpenAIResponses, so a Responses upstream receives the
	// body as sent; Chat.Stream is the body's "stream".
	Chat               *provider.ChatRequest
	PreviousResponseID string
	Store              bool // default true, as OpenAI's
	Background         bool
	Instructions       string
	// Input holds the input items, normalized: a string input becomes one
	// user message item, and every item has an "id" (synthesized when the
	// client sent none).
	Input []json.RawMessage
	// HostedTools lists the types of tools in "tools" that run at OpenAI
	// (web_search, file_search, code_interpreter, mcp, …). Chorus cannot run
	// them, so they are not in Chat.Tools.
	HostedTools []string
	Include     []string

	hasInstructions bool
	tools           []toolRef      // function, custom and namespaced tools, in Chat.Tools order
	echo            [echoCount]raw // request members a response object echoes
}

// raw is a JSON value as the client sent it (nil when absent).
type raw = []byte

// toolRef maps a canonical tool name back to the Responses tool it stands for.
type toolRef struct {
	canonical string
	name      string
	namespace string
	custom    bool
}

// namespaceSep joins a namespace and a tool name into a canonical name.
const namespaceSep = "__"

// customParameters is the canonical schema of a custom (freeform) tool: its
// one string argument is the tool's input.
var customParameters = json.RawMessage(`{"type":"object","properties":{"input":{"type":"string"}},"required":["input"],"additionalProperties":false}`)

// Members a response object echoes, by index into ResponsesRequest.echo.
const (
	echoInstructions = iota
	echoTools
	echoToolChoice
	echoText
	echoReasoning
	echoTemperature
	echoTopP
	echoMaxOutputTokens
	echoParallelToolCalls
	echoPreviousResponseID
	echoStore
	echoMetadata
	echoUser
	echoTruncation
	echoBackground
	echoServiceTier
	echoTopLogprobs
	echoMaxToolCalls
	echoPromptCacheKey
	echoSafetyIdentifier
	echoCount
)

var echoNames = [echoCount]string{
	"instructions", "tools", "tool_choice", "text", "reasoning", "temperature", "top_p",
	"max_output_tokens", "parallel_tool_calls", "previous_response_id", "store", "metadata",
	"user", "truncation", "background", "service_tier", "top_logprobs", "max_tool_calls",
	"prompt_cache_key", "safety_identifier",
}

func echoIndex(key string) int {
	for i, k := range echoNames {
		if k == key {
			return i
		}
	}
	return -1
}

// DecodeResponsesRequest parses and validates an OpenAI Responses request
// body. Errors are *chorus.Error with code EINVALID and an OpenAI-style param
// (e.g. "input[3].content[0].type").
func DecodeResponsesRequest(body []byte) (*ResponsesRequest, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	r := &ResponsesRequest{
		Chat:  &provider.ChatRequest{Raw: body, RawFormat: provider.FormatOpenAIResponses},
		Store: true,
	}
	d := responsesDecoder{r: r}
	if err := jsonscan.EachMember(body, d.member); err != nil {
		return nil, err
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// responsesDecoder holds what DecodeResponsesRequest learns member by
// member, for the checks that span members.
type responsesDecoder struct {
	r          *ResponsesRequest
	seen       map[string]bool
	input      []byte
	toolChoice []byte
}

func (d *responsesDecoder) member(k []byte, escaped bool, v []byte) error {
	if escaped {
		return chorus.Invalid("", "Invalid request body: escaped characters in member names are not supported.")
	}
	key := string(k)
	if d.seen[key] {
		return chorus.Invalid(key, "Duplicate parameter: '%s' appears more than once.", key)
	}
	if d.seen == nil {
		d.seen = make(map[string]bool, 16)
	}
	d.seen[key] = true
	if i := echoIndex(key); i >= 0 && !isNull(v) {
		d.r.echo[i] = v
	}
	if handled, err := d.known(key, v); handled {
		return err
	}
	if err := caseVariant(k, responsesMembers); err != nil {
		return err
	}
	c := d.r.Chat
	if c.Extra == nil {
		c.Extra = make(map[string]json.RawMessage, 4)
	}
	c.Extra[key] = json.RawMessage(v)
	return nil
}

// known decodes a member the canonical schema or ResponsesRequest holds. It
// reports whether key was one; others go to Chat.Extra.
func (d *responsesDecoder) known(key string, v []byte) (bool, error) {
	r, c := d.r, d.r.Chat
	var err error
	switch key {
	case "model":
		c.Model, err = decodeString(at(key), v)
	case "input":
		d.input = v
	case "instructions":
		if !isNull(v) {
			r.Instructions, err = decodeString(at(key), v)
			r.hasInstructions = true
		}
	case "tools":
		err = d.decodeTools(v)
	case "tool_choice":
		d.toolChoice = v
	case "parallel_tool_calls":
		c.ParallelToolCalls, err = decodeOptBool(at(key), v)
	case "text":
		err = d.decodeText(v)
	case "max_output_tokens":
		c.MaxTokens, err = decodeOptInt(key, v, 1, -1)
	case "temperature":
		c.Temperature, err = decodeOptFloat(key, v, 0, 2)
	case "top_p":
		c.TopP, err = decodeOptFloat(key, v, 0, 1)
	case "reasoning":
		c.Reasoning, err = decodeReasoning(v)
	case "stream":
		var b *bool
		b, err = decodeOptBool(at(key), v)
		c.Stream = b != nil && *b
		c.IncludeUsage = c.Stream
	case "store":
		err = decodeFlag(at(key), v, &r.Store)
	case "background":
		err = decodeFlag(at(key), v, &r.Background)
	case "previous_response_id":
		if !isNull(v) {
			r.PreviousResponseID, err = decodeString(at(key), v)
		}
	case "include":
		r.Include, err = decodeStringList(at(key), v)
	case "user":
		if !isNull(v) {
			c.User, err = decodeString(at(key), v)
		}
	case "metadata":
		if !isNull(v) && v[0] != '{' {
			err = errType(at(key), "an object", v)
		}
	default:
		return false, nil
	}
	return true, err
}

// finish decodes what needs every member first: the input (tool names map
// through the tools) and tool_choice.
func (d *responsesDecoder) finish() error {
	r := d.r
	if r.Chat.Model == "" {
		return chorus.Invalid("model", "you must provide a model parameter")
	}
	if d.input == nil || isNull(d.input) {
		return errMissing(at("input"))
	}
	items, err := normalizeInput(d.input)
	if err != nil {
		return err
	}
	r.Input = items
	if err := r.rebuild(nil); err != nil {
		return err
	}
	if d.toolChoice != nil {
		tc, err := r.decodeToolChoice(d.toolChoice)
		if err != nil {
			return err
		}
		r.Chat.ToolChoice = tc
	}
	if tc := r.Chat.ToolChoice; tc != nil && tc.Mode == "function" && !hasTool(r.Chat.Tools, tc.Name) {
		return chorus.Invalid("tool_choice", "Invalid value for 'tool_choice': no function named '%s' was specified in the tools.", tc.Name)
	}
	return nil
}

// rebuild sets Chat.Messages from the instructions, history and Input.
func (r *ResponsesRequest) rebuild(history []json.RawMessage) error {
	b := messageBuilder{req: r}
	if r.hasInstructions {
		b.msgs = append(b.msgs, provider.TextMessage(provider.RoleSystem, r.Instructions))
	}
	hp := at("history")
	for i, it := range history {
		if err := b.item(hp.elem(i), it); err != nil {
			return err
		}
	}
	ip := at("input")
	for i, it := range r.Input {
		if err := b.item(ip.elem(i), it); err != nil {
			return err
		}
	}
	r.Chat.Messages = b.msgs
	return nil
}

func decodeFlag(p path, v []byte, dst *bool) error {
	b, err := decodeOptBool(p, v)
	if b != nil {
		*dst = *b
	}
	return err
}

func decodeStringList(p path, v []byte) ([]string, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, errType(p, "an array", v)
	}
	out := make([]string, 0, jsonscan.CountElements(v))
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		s, err := decodeString(p.elem(i), e)
		out = append(out, s)
		return err
	})
	return out, err
}

// decodeReasoning reads {"effort", "summary"} (and the deprecated
// generate_summary).
func decodeReasoning(v []byte) (*provider.Reasoning, error) {
	if isNull(v) {
		return nil, nil
	}
	p := at("reasoning")
	if v[0] != '{' {
		return nil, errType(p, "an object", v)
	}
	var rs provider.Reasoning
	err := jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		if isNull(mv) {
			return nil
		}
		var err error
		switch string(k) {
		case "effort":
			rs.Effort, err = decodeString(p.key("effort"), mv)
		case "summary", "generate_summary":
			rs.Summary, err = decodeString(p.key(string(k)), mv)
		}
		return err
	})
	if err != nil || rs.Effort == "" && rs.Summary == "" {
		return nil, err
	}
	switch rs.Effort {
	case "", "none", "minimal", "low", "medium", "high", "xhigh":
	default:
		return nil, chorus.Invalid("reasoning.effort", "Invalid value: '%s'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.", rs.Effort)
	}
	return &rs, nil
}

// decodeText reads text.format into the canonical response format and keeps
// text.verbosity in Extra.
func (d *responsesDecoder) decodeText(v []byte) error {
	if isNull(v) {
		return nil
	}
	p := at("text")
	if v[0] != '{' {
		return errType(p, "an object", v)
	}
	c := d.r.Chat
	return jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "format":
			rf, err := decodeTextFormat(p.key("format"), mv)
			c.ResponseFormat = rf
			return err
		case "verbosity":
			if !isNull(mv) {
				if c.Extra == nil {
					c.Extra = make(map[string]json.RawMessage, 4)
				}
				c.Extra["verbosity"] = json.RawMessage(mv)
			}
		}
		return nil
	})
}

// decodeTextFormat reads {"type":"text"|"json_object"|"json_schema", …}; a
// json_schema format carries name, schema and strict at its own level.
func decodeTextFormat(p path, v []byte) (*provider.ResponseFormat, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '{' {
		return nil, errType(p, "an object", v)
	}
	rf := &provider.ResponseFormat{}
	err := jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		var err error
		switch string(k) {
		case "type":
			rf.Type, err = decodeString(p.key("type"), mv)
		case "name":
			rf.Name, err = decodeString(p.key("name"), mv)
		case "schema":
			if mv[0] != '{' {
				return errType(p.key("schema"), "an object", mv)
			}
			rf.Schema = json.RawMessage(mv)
		case "strict":
			rf.Strict, err = decodeOptBool(p.key("strict"), mv)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch rf.Type {
	case "text", "json_object":
	case "json_schema":
		if rf.Name == "" {
			return nil, errMissing(p.key("name"))
		}
		if rf.Schema == nil {
			return nil, errMissing(p.key("schema"))
		}
	case "":
		return nil, errMissing(p.key("type"))
	default:
		param := p.key("type").String()
		return nil, chorus.Invalid(param, "Invalid value: '%s'. Supported values are: 'text', 'json_object', and 'json_schema'.", rf.Type)
	}
	return rf, nil
}

// responsesMembers are the members responsesDecoder.known reads.
var responsesMembers = []string{
	"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
	"max_output_tokens", "temperature", "top_p", "reasoning", "stream", "store", "background",
	"previous_response_id", "include", "user", "metadata",
}
