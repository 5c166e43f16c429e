package openai

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Part types the canonical schema carries only as markers: the OpenAI client
// sent them and passthrough forwards them, but no translation can. Encoders
// for other formats must reject parts whose Type they do not know.
const (
	PartInputAudio = "input_audio"
	PartFile       = "file"
)

// Limits of OpenAI's Chat Completions API that the decoder enforces.
const (
	maxStop  = 4
	maxN     = 128
	maxTools = 128
)

// parseErrorMessage is what OpenAI says about a body that is not JSON.
const parseErrorMessage = "We could not parse the JSON body of your request. " +
	"(HINT: This likely means you aren't using your HTTP library correctly. " +
	"The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"

// DecodeChatRequest parses and validates an OpenAI Chat Completions request
// body. Fields the canonical schema does not know are kept in Extra (their
// values alias body). Raw is body and RawFormat is FormatOpenAI, so an OpenAI
// upstream receives the body as sent. Errors are *chorus.Error with code
// EINVALID and an OpenAI-style param.
func DecodeChatRequest(body []byte) (*provider.ChatRequest, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	d := chatDecoder{req: &provider.ChatRequest{Raw: body, RawFormat: provider.FormatOpenAI}}
	if err := jsonscan.EachMember(body, d.member); err != nil {
		return nil, err
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return d.req, nil
}

// checkBody rejects a body that is not one valid JSON object.
func checkBody(body []byte) error {
	if !utf8.Valid(body) || !jsonscan.Valid(body) {
		return chorus.Invalid("", parseErrorMessage)
	}
	if body[jsonscan.SkipSpace(body, 0)] != '{' {
		return chorus.Invalid("", "Invalid request body: expected a JSON object, but got %s instead.", kind(body[jsonscan.SkipSpace(body, 0):]))
	}
	return nil
}

// chatDecoder holds what DecodeChatRequest learns member by member, for the
// checks that need several members.
type chatDecoder struct {
	req           *provider.ChatRequest
	known         uint64 // bit per known member, to reject duplicates
	hasMessages   bool
	streamOptions bool
	maxTokens     *int
	maxCompletion *int
	legacyTools   bool
}

// knownMembers lists the members the canonical schema understands; their
// position is their bit in chatDecoder.known.
var knownMembers = [...]string{
	"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
	"stop", "seed", "presence_penalty", "frequency_penalty", "tools", "tool_choice",
	"parallel_tool_calls", "response_format", "stream", "stream_options", "user",
	"functions", "function_call",
}

// caseVariant refuses a member named like one Chorus reads but for case
// ("Model", "STREAM"): Chorus reads names exactly, as OpenAI does, but an
// upstream parsing with encoding/json (Ollama, vLLM's Go proxies) would take
// it for the real one, and what Chorus routed, billed and forwarded would
// differ from what the upstream ran.
func caseVariant(key []byte, names []string) error {
	if n, ok := jsonscan.CaseVariant(key, names); ok {
		return chorus.Invalid(string(key), "Unrecognized request argument supplied: '%s'. Parameter names are case-sensitive; did you mean '%s'?", key, n)
	}
	return nil
}

func knownIndex(key string) int {
	for i, k := range knownMembers {
		if k == key {
			return i
		}
	}
	return -1
}

func (d *chatDecoder) member(k []byte, escaped bool, v []byte) error {
	if escaped {
		// Real clients never escape member names; refusing them keeps what
		// we decode and what passthrough forwards from disagreeing.
		return chorus.Invalid("", "Invalid request body: escaped characters in member names are not supported.")
	}
	key := string(k)
	if i := knownIndex(key); i >= 0 {
		if d.known&(1<<i) != 0 {
			return chorus.Invalid(key, "Duplicate parameter: '%s' appears more than once.", key)
		}
		d.known |= 1 << i
	} else if err := caseVariant(k, knownMembers[:]); err != nil {
		return err
	}
	r := d.req
	var err error
	switch key {
	case "model":
		r.Model, err = decodeString(at(key), v)
	case "messages":
		d.hasMessages = true
		r.Messages, err = decodeMessages(v)
	case "max_tokens":
		d.maxTokens, err = decodeOptInt(key, v, 1, -1)
	case "max_completion_tokens":
		d.maxCompletion, err = decodeOptInt(key, v, 1, -1)
	case "temperature":
		r.Temperature, err = decodeOptFloat(key, v, 0, 2)
	case "top_p":
		r.TopP, err = decodeOptFloat(key, v, 0, 1)
	case "presence_penalty":
		r.PresencePenalty, err = decodeOptFloat(key, v, -2, 2)
	case "frequency_penalty":
		r.FrequencyPenalty, err = decodeOptFloat(key, v, -2, 2)
	case "n":
		r.N, err = decodeOptInt(key, v, 1, maxN)
	case "seed":
		r.Seed, err = decodeSeed(v)
	case "stop":
		r.Stop, err = decodeStop(v)
	case "tools":
		if d.known&(1<<knownIndex("functions")) != 0 {
			return chorus.Invalid("tools", "'tools' and the deprecated 'functions' cannot both be given.")
		}
		r.Tools, err = decodeTools(v)
	case "functions":
		if d.known&(1<<knownIndex("tools")) != 0 {
			return chorus.Invalid("functions", "'tools' and the deprecated 'functions' cannot both be given.")
		}
		d.legacyTools = true
		r.Tools, err = decodeFunctions(v)
	case "tool_choice", "function_call":
		if r.ToolChoice != nil {
			return chorus.Invalid(key, "'tool_choice' and the deprecated 'function_call' cannot both be given.")
		}
		r.ToolChoice, err = decodeToolChoice(key, v)
	case "parallel_tool_calls":
		r.ParallelToolCalls, err = decodeOptBool(at(key), v)
	case "response_format":
		r.ResponseFormat, err = decodeResponseFormat(v)
	case "stream":
		var b *bool
		b, err = decodeOptBool(at(key), v)
		r.Stream = b != nil && *b
	case "stream_options":
		d.streamOptions = !isNull(v)
		r.IncludeUsage, err = decodeStreamOptions(v)
	case "user":
		if !isNull(v) {
			r.User, err = decodeString(at(key), v)
		}
	default:
		if _, dup := r.Extra[key]; dup {
			return chorus.Invalid(key, "Duplicate parameter: '%s' appears more than once.", key)
		}
		if r.Extra == nil {
			r.Extra = make(map[string]json.RawMessage, 4)
		}
		r.Extra[key] = json.RawMessage(v)
		if key == "reasoning_effort" {
			// Kept in Extra for OpenAI upstreams as sent; Reasoning
			// carries it to the others (Anthropic's thinking budget,
			// Gemini's thinkingConfig).
			r.Reasoning, err = decodeReasoningEffort(v)
		}
	}
	return err
}

// decodeReasoningEffort reads reasoning_effort: a string, or null.
func decodeReasoningEffort(v []byte) (*provider.Reasoning, error) {
	if isNull(v) {
		return nil, nil
	}
	effort, err := decodeString(at("reasoning_effort"), v)
	if err != nil || effort == "" {
		return nil, err
	}
	return &provider.Reasoning{Effort: effort}, nil
}

// finish runs the checks that span members.
func (d *chatDecoder) finish() error {
	r := d.req
	if r.Model == "" {
		return chorus.Invalid("model", "you must provide a model parameter")
	}
	if !d.hasMessages {
		return chorus.Invalid("messages", "Missing required parameter: 'messages'.")
	}
	if len(r.Messages) == 0 {
		return chorus.Invalid("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	r.MaxTokens = d.maxTokens
	if d.maxCompletion != nil {
		r.MaxTokens = d.maxCompletion
	}
	if d.streamOptions && !r.Stream {
		return chorus.Invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	if tc := r.ToolChoice; tc != nil {
		param := "tool_choice"
		if d.legacyTools || d.known&(1<<knownIndex("function_call")) != 0 {
			param = "function_call"
		}
		if tc.Mode != "none" && tc.Mode != "auto" && len(r.Tools) == 0 {
			return chorus.Invalid(param, "Invalid value for '%s': '%s' is only allowed when tools are specified.", param, param)
		}
		if tc.Mode == "function" && !hasTool(r.Tools, tc.Name) {
			return chorus.Invalid(param, "Invalid value for '%s': no function named '%s' was specified in the tools.", param, tc.Name)
		}
	}
	return nil
}

func hasTool(tools []provider.Tool, name string) bool {
	for i := range tools {
		if tools[i].Name == name {
			return true
		}
	}
	return false
}

// path names a request field ("messages[2].content[0].type") for error
// messages. Steps link to their parent on the caller's stack, and the string
// is built only when an error needs it, so decoding a valid request spends
// nothing on names.
type path struct {
	parent *path
	name   string // member name; "" for an index step
	index  int
}

// at returns the path of a top-level member.
func at(name string) path { return path{name: name} }

// key returns the path of member name of p.
func (p *path) key(name string) path { return path{parent: p, name: name} }

// elem returns the path of element i of p.
func (p *path) elem(i int) path { return path{parent: p, index: i} }

// String returns the OpenAI-style parameter name. It copies bytes rather
// than returning p.name so that no part of p flows into the (escaping)
// result, which keeps paths on the stack.
func (p path) String() string { return string(p.appendTo(nil)) }

func (p *path) appendTo(b []byte) []byte {
	if p.parent != nil {
		b = p.parent.appendTo(b)
	}
	switch {
	case p.name == "":
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(p.index), 10)
		return append(b, ']')
	case p.parent != nil:
		b = append(b, '.')
	}
	return append(b, p.name...)
}

func errType(p path, want string, v []byte) error {
	param := p.String()
	return chorus.Invalid(param, "Invalid type for '%s': expected %s, but got %s instead.", param, want, kind(v))
}

func errMissing(p path) error {
	param := p.String()
	return chorus.Invalid(param, "Missing required parameter: '%s'.", param)
}

func decodeString(p path, v []byte) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", errType(p, "a string", v)
	}
	return jsonscan.Unquote(v), nil
}

func decodeOptBool(p path, v []byte) (*bool, error) {
	switch string(v) {
	case "null":
		return nil, nil
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, errType(p, "a boolean", v)
}

// decodeOptFloat decodes a number or null within [lo, hi].
func decodeOptFloat(param string, v []byte, lo, hi float64) (*float64, error) {
	if isNull(v) {
		return nil, nil
	}
	if !isNumber(v) {
		return nil, errType(at(param), "a decimal", v)
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return nil, chorus.Invalid(param, "Invalid '%s': number out of range.", param)
	}
	if f < lo {
		return nil, chorus.Invalid(param, "Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %s instead.", param, lo, v)
	}
	if f > hi {
		return nil, chorus.Invalid(param, "Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %s instead.", param, hi, v)
	}
	return &f, nil
}

// decodeOptInt decodes an integer or null within [lo, hi]; hi < 0 means no
// upper bound.
func decodeOptInt(param string, v []byte, lo, hi int) (*int, error) {
	if isNull(v) {
		return nil, nil
	}
	if !isNumber(v) || strings.ContainsAny(string(v), ".eE") {
		return nil, errType(at(param), "an integer", v)
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return nil, chorus.Invalid(param, "Invalid '%s': integer out of range.", param)
	}
	if n < lo {
		return nil, chorus.Invalid(param, "Invalid '%s': integer below minimum value. Expected a value >= %d, but got %s instead.", param, lo, v)
	}
	if hi >= 0 && n > hi {
		return nil, chorus.Invalid(param, "Invalid '%s': integer above maximum value. Expected a value <= %d, but got %s instead.", param, hi, v)
	}
	return &n, nil
}

func decodeSeed(v []byte) (*int64, error) {
	if isNull(v) {
		return nil, nil
	}
	if !isNumber(v) || strings.ContainsAny(string(v), ".eE") {
		return nil, errType(at("seed"), "an integer", v)
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, chorus.Invalid("seed", "Invalid 'seed': integer out of range.")
	}
	return &n, nil
}

func isNumber(v []byte) bool { return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') }

func decodeStop(v []byte) ([]string, error) {
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		return []string{jsonscan.Unquote(v)}, nil
	case v[0] != '[':
		return nil, errType(at("stop"), "one of a string or array of strings", v)
	}
	n := jsonscan.CountElements(v)
	if n > maxStop {
		return nil, chorus.Invalid("stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxStop, n)
	}
	out := make([]string, 0, n)
	stop := at("stop")
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		s, err := decodeString(stop.elem(i), e)
		out = append(out, s)
		return err
	})
	return out, err
}

func decodeStreamOptions(v []byte) (includeUsage bool, err error) {
	if isNull(v) {
		return false, nil
	}
	if v[0] != '{' {
		return false, errType(at("stream_options"), "an object", v)
	}
	err = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		if string(k) != "include_usage" {
			return nil
		}
		so := at("stream_options")
		b, err := decodeOptBool(so.key("include_usage"), mv)
		includeUsage = b != nil && *b
		return err
	})
	return includeUsage, err
}

func decodeResponseFormat(v []byte) (*provider.ResponseFormat, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '{' {
		return nil, errType(at("response_format"), "an object", v)
	}
	rf := &provider.ResponseFormat{}
	p := at("response_format")
	var schema []byte
	err := jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		var err error
		switch string(k) {
		case "type":
			rf.Type, err = decodeString(p.key("type"), mv)
		case "json_schema":
			if mv[0] != '{' {
				return errType(p.key("json_schema"), "an object", mv)
			}
			schema = mv
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch rf.Type {
	case "text", "json_object":
	case "json_schema":
		if schema == nil {
			return nil, chorus.Invalid("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
		}
		if err := decodeJSONSchema(rf, schema); err != nil {
			return nil, err
		}
	case "":
		return nil, chorus.Invalid("response_format.type", "Missing required parameter: 'response_format.type'.")
	default:
		return nil, chorus.Invalid("response_format.type", "Invalid value: '%s'. Supported values are: 'text', 'json_object', and 'json_schema'.", rf.Type)
	}
	return rf, nil
}

func decodeJSONSchema(rf *provider.ResponseFormat, v []byte) error {
	rfp := at("response_format")
	p := rfp.key("json_schema")
	err := jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		var err error
		switch string(k) {
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
	if err == nil && rf.Name == "" {
		err = chorus.Invalid("response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.")
	}
	return err
}
