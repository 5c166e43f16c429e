package openai

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Input item types.
const (
	itemMessage            = "message"
	itemFunctionCall       = "function_call"
	itemFunctionCallOutput = "function_call_output"
	itemCustomCall         = "custom_tool_call"
	itemCustomCallOutput   = "custom_tool_call_output"
	itemReasoning          = "reasoning"
	itemReference          = "item_reference"
)

// hostedItems are the item types of hosted tools' calls and results. Only a
// Responses upstream understands them; translated requests leave them out.
var hostedItems = []string{
	"web_search_call", "file_search_call", "computer_call", "computer_call_output",
	"code_interpreter_call", "image_generation_call", "local_shell_call",
	"local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
	"apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
	"mcp_approval_response", "mcp_call", "tool_search_call", "tool_search_output", "compaction",
}

func isHostedItem(t string) bool {
	for _, h := range hostedItems {
		if h == t {
			return true
		}
	}
	return false
}

// NewItemID returns a random item ID with the prefix OpenAI uses for items
// of type typ (msg_, fc_, rs_, …), or a response ID for typ "response".
func NewItemID(typ string) string {
	prefix := "item_"
	switch typ {
	case "response":
		prefix = "resp_"
	case itemMessage:
		prefix = "msg_"
	case itemFunctionCall:
		prefix = "fc_"
	case itemFunctionCallOutput:
		prefix = "fco_"
	case itemCustomCall:
		prefix = "ctc_"
	case itemCustomCallOutput:
		prefix = "ctco_"
	case itemReasoning:
		prefix = "rs_"
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, len(prefix), len(prefix)+48)
	copy(out, prefix)
	return string(hex.AppendEncode(out, b[:]))
}

// normalizeInput returns the input's items: a string becomes one user
// message; items without an id get one, messages without a type get
// "type":"message".
func normalizeInput(v []byte) ([]json.RawMessage, error) {
	p := at("input")
	switch v[0] {
	case '"':
		b := make([]byte, 0, len(v)+96)
		b = append(b, `{"id":`...)
		b = jsonscan.AppendString(b, NewItemID(itemMessage))
		b = append(b, `,"type":"message","role":"user","content":[{"type":"input_text","text":`...)
		b = append(b, v...)
		return []json.RawMessage{append(b, "}]}"...)}, nil
	case '[':
	default:
		return nil, errType(p, "one of a string or array of objects", v)
	}
	items := make([]json.RawMessage, 0, jsonscan.CountElements(v))
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		ep := p.elem(i)
		if e[0] != '{' {
			return errType(ep, "an object", e)
		}
		typ, hasID := itemHeader(e)
		item := json.RawMessage(e)
		var err error
		if typ == "" {
			typ = itemMessage
			if item, err = jsonscan.SetField(item, "type", []byte(`"message"`)); err != nil {
				return errType(ep, "an object", e)
			}
		}
		if !hasID && typ != itemReference {
			if item, err = jsonscan.SetField(item, "id", jsonscan.AppendString(nil, NewItemID(typ))); err != nil {
				return errType(ep, "an object", e)
			}
		}
		items = append(items, item)
		return nil
	})
	return items, err
}

// itemHeader returns an item's type ("" when absent) and whether it has a
// non-null id.
func itemHeader(v []byte) (typ string, hasID bool) {
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			typ = str(mv)
		case "id":
			hasID = !isNull(mv)
		}
		return nil
	})
	return typ, hasID
}

// itemFields are the raw members of one input item.
type itemFields struct {
	typ, role, content, callID, name, namespace, arguments, output, input, id []byte
}

func readItem(v []byte) itemFields {
	var f itemFields
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			f.typ = mv
		case "role":
			f.role = mv
		case "content":
			f.content = mv
		case "call_id":
			f.callID = mv
		case "name":
			f.name = mv
		case "namespace":
			f.namespace = mv
		case "arguments":
			f.arguments = mv
		case "output":
			f.output = mv
		case "input":
			f.input = mv
		case "id":
			f.id = mv
		}
		return nil
	})
	return f
}

// messageBuilder turns Responses items into canonical messages: function
// calls join the assistant message before them, outputs become tool
// messages, reasoning and hosted items are left to Responses upstreams.
type messageBuilder struct {
	req  *ResponsesRequest
	msgs []provider.Message
}

func (b *messageBuilder) item(p path, v []byte) error {
	if len(v) == 0 || v[0] != '{' {
		return errType(p, "an object", v)
	}
	f := readItem(v)
	typ := itemMessage
	if f.typ != nil && !isNull(f.typ) {
		var err error
		if typ, err = decodeString(p.key("type"), f.typ); err != nil {
			return err
		}
	}
	switch {
	case typ == itemMessage:
		return b.message(p, &f)
	case typ == itemFunctionCall:
		return b.call(p, &f, false)
	case typ == itemCustomCall:
		return b.call(p, &f, true)
	case typ == itemFunctionCallOutput || typ == itemCustomCallOutput:
		return b.output(p, &f)
	case typ == itemReasoning || isHostedItem(typ):
		return nil
	case typ == itemReference:
		param := p.String()
		return chorus.Invalid(param, "Invalid '%s': item references cannot be resolved by this gateway; send the referenced item itself, or continue a stored response with 'previous_response_id'.", param)
	}
	param := p.key("type").String()
	return chorus.Invalid(param, "Invalid value: '%s'. Supported values are: 'message', 'function_call', 'function_call_output', 'custom_tool_call', 'custom_tool_call_output', 'reasoning', and the hosted tools' item types.", typ)
}

func (b *messageBuilder) message(p path, f *itemFields) error {
	role, err := requiredString(p.key("role"), f.role)
	if err != nil {
		return err
	}
	m := provider.Message{Role: role}
	switch role {
	case provider.RoleUser, provider.RoleSystem, provider.RoleDeveloper, provider.RoleAssistant:
	default:
		param := p.key("role").String()
		return chorus.Invalid(param, "Invalid value: '%s'. Supported values are: 'user', 'system', 'developer', and 'assistant'.", role)
	}
	if err := decodeItemContent(p.key("content"), &m, f.content); err != nil {
		return err
	}
	b.msgs = append(b.msgs, m)
	return nil
}

// call adds a function (or custom tool) call to the assistant message it
// follows, or to a new one.
func (b *messageBuilder) call(p path, f *itemFields, custom bool) error {
	var tc provider.ToolCall
	var err error
	if tc.ID, err = requiredString(p.key("call_id"), f.callID); err != nil {
		return err
	}
	if tc.Name, err = requiredString(p.key("name"), f.name); err != nil {
		return err
	}
	if f.namespace != nil && !isNull(f.namespace) {
		ns, err := decodeString(p.key("namespace"), f.namespace)
		if err != nil {
			return err
		}
		tc.Name = canonicalName(tc.Name, ns)
	}
	if custom {
		input, err := requiredString(p.key("input"), f.input)
		if err != nil {
			return err
		}
		tc.Arguments = customArguments(input)
	} else if tc.Arguments, err = requiredString(p.key("arguments"), f.arguments); err != nil {
		return err
	}
	if n := len(b.msgs); n > 0 && b.msgs[n-1].Role == provider.RoleAssistant {
		b.msgs[n-1].ToolCalls = append(b.msgs[n-1].ToolCalls, tc)
		return nil
	}
	b.msgs = append(b.msgs, provider.Message{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{tc}})
	return nil
}

// output adds a tool result.
func (b *messageBuilder) output(p path, f *itemFields) error {
	m := provider.Message{Role: provider.RoleTool}
	var err error
	if m.ToolCallID, err = requiredString(p.key("call_id"), f.callID); err != nil {
		return err
	}
	if err := decodeItemContent(p.key("output"), &m, f.output); err != nil {
		return err
	}
	b.msgs = append(b.msgs, m)
	return nil
}

// decodeItemContent reads a message's content or a tool output: a string,
// or an array of input_text, output_text, refusal, input_image and
// input_file parts.
func decodeItemContent(p path, m *provider.Message, v []byte) error {
	switch {
	case v == nil || isNull(v):
		return errMissing(p)
	case v[0] == '"':
		m.Content = []provider.Part{{Type: provider.PartText, Text: jsonscan.Unquote(v)}}
		m.TextOnly = true
		return nil
	case v[0] != '[':
		return errType(p, "one of a string or array of objects", v)
	}
	m.Content = make([]provider.Part, 0, jsonscan.CountElements(v))
	return jsonscan.EachElement(v, func(i int, e []byte) error {
		part, err := decodeItemPart(p.elem(i), e, m.Role)
		m.Content = append(m.Content, part)
		return err
	})
}

func decodeItemPart(p path, v []byte, role string) (provider.Part, error) {
	var part provider.Part
	if v[0] != '{' {
		return part, errType(p, "an object", v)
	}
	var typ, text, refusal, imageURL, fileID, detail []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			typ = mv
		case "text":
			text = mv
		case "refusal":
			refusal = mv
		case "image_url":
			imageURL = mv
		case "file_id":
			fileID = mv
		case "detail":
			detail = mv
		}
		return nil
	})
	t, err := requiredString(p.key("type"), typ)
	if err != nil {
		return part, err
	}
	switch {
	case t == "input_text" || t == "output_text":
		part.Type = provider.PartText
		part.Text, err = requiredString(p.key("text"), text)
	case t == "refusal" && role == provider.RoleAssistant:
		part.Type = provider.PartText
		part.Text, err = requiredString(p.key("refusal"), refusal)
	case t == "input_image" && role != provider.RoleAssistant:
		part.Type = provider.PartImage
		err = decodeInputImage(p, &part, imageURL, fileID, detail)
	case t == "input_file" && role != provider.RoleAssistant:
		part.Type = PartFile
	default:
		param := p.key("type").String()
		err = chorus.Invalid(param, "Invalid value: '%s'. Supported values are: 'input_text', 'input_image', 'input_file', 'output_text', and 'refusal'.", t)
	}
	return part, err
}

func decodeInputImage(p path, part *provider.Part, url, fileID, detail []byte) error {
	if fileID != nil && !isNull(fileID) {
		param := p.key("file_id").String()
		return chorus.Invalid(param, "Invalid '%s': images by OpenAI file ID are not supported by this gateway; send 'image_url' with an https URL or a data: URI.", param)
	}
	var err error
	if part.ImageURL, err = requiredString(p.key("image_url"), url); err != nil {
		return err
	}
	if part.ImageURL == "" {
		param := p.key("image_url").String()
		return chorus.Invalid(param, "Invalid '%s': empty string.", param)
	}
	if detail != nil && !isNull(detail) {
		part.ImageDetail, err = decodeString(p.key("detail"), detail)
	}
	return err
}
