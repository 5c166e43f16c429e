package openai

import (
	"encoding/json"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// roleFunction is the deprecated role of a function result. The decoder maps
// it to a tool message whose ToolCallID is the function name.
const roleFunction = "function"

func decodeMessages(v []byte) ([]provider.Message, error) {
	if v[0] != '[' {
		return nil, errType(at("messages"), "an array", v)
	}
	msgs := make([]provider.Message, 0, jsonscan.CountElements(v))
	root := at("messages")
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		m, err := decodeMessage(root.elem(i), e)
		msgs = append(msgs, m)
		return err
	})
	return msgs, err
}

// messageFields are the raw members of one message, before role-specific
// checks.
type messageFields struct {
	role, content, name, toolCalls, toolCallID, functionCall, refusal []byte
}

func decodeMessage(p path, v []byte) (provider.Message, error) {
	var m provider.Message
	if v[0] != '{' {
		return m, errType(p, "an object", v)
	}
	var f messageFields
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "role":
			f.role = mv
		case "content":
			f.content = mv
		case "name":
			f.name = mv
		case "tool_calls":
			f.toolCalls = mv
		case "tool_call_id":
			f.toolCallID = mv
		case "function_call":
			f.functionCall = mv
		case "refusal":
			f.refusal = mv
		}
		return nil
	})
	if f.role == nil {
		return m, errMissing(p.key("role"))
	}
	if f.role[0] != '"' {
		return m, errType(p.key("role"), "a string", f.role)
	}
	switch string(f.role[1 : len(f.role)-1]) {
	case "system":
		m.Role = provider.RoleSystem
	case "developer":
		m.Role = provider.RoleDeveloper
	case "user":
		m.Role = provider.RoleUser
	case "assistant":
		m.Role = provider.RoleAssistant
	case "tool":
		m.Role = provider.RoleTool
	case "function":
		m.Role = roleFunction
	default:
		return m, chorus.Invalid(p.key("role").String(), "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", jsonscan.Unquote(f.role))
	}
	if f.name != nil && !isNull(f.name) {
		var err error
		if m.Name, err = decodeString(p.key("name"), f.name); err != nil {
			return m, err
		}
	}
	var err error
	switch m.Role {
	case provider.RoleAssistant:
		err = decodeAssistant(&p, &m, &f)
	case provider.RoleTool:
		if m.ToolCallID, err = requiredString(p.key("tool_call_id"), f.toolCallID); err == nil {
			err = decodeContent(&p, &m, f.content, textParts)
		}
	case roleFunction:
		if m.Name == "" {
			return m, errMissing(p.key("name"))
		}
		m.Role, m.ToolCallID = provider.RoleTool, m.Name
		if f.content != nil && !isNull(f.content) {
			err = decodeContent(&p, &m, f.content, textParts)
		}
	case provider.RoleUser:
		err = decodeContent(&p, &m, f.content, userParts)
	default: // system, developer
		err = decodeContent(&p, &m, f.content, textParts)
	}
	return m, err
}

func requiredString(p path, v []byte) (string, error) {
	if v == nil || isNull(v) {
		return "", errMissing(p)
	}
	return decodeString(p, v)
}

func decodeAssistant(p *path, m *provider.Message, f *messageFields) error {
	if f.toolCalls != nil && !isNull(f.toolCalls) {
		calls, err := decodeToolCalls(p.key("tool_calls"), f.toolCalls)
		if err != nil {
			return err
		}
		m.ToolCalls = calls
	}
	if f.functionCall != nil && !isNull(f.functionCall) {
		fc, err := decodeFunctionCall(p.key("function_call"), f.functionCall)
		if err != nil {
			return err
		}
		m.ToolCalls = append(m.ToolCalls, fc)
	}
	if f.content == nil || isNull(f.content) {
		if f.refusal != nil && !isNull(f.refusal) {
			text, err := decodeString(p.key("refusal"), f.refusal)
			m.Content, m.TextOnly = []provider.Part{{Type: provider.PartText, Text: text}}, true
			return err
		}
		if len(m.ToolCalls) == 0 {
			param := p.key("content").String()
			return chorus.Invalid(param, "Missing required parameter: '%s' (required when 'tool_calls' is not given).", param)
		}
		return nil
	}
	return decodeContent(p, m, f.content, assistantParts)
}

// partSet says which content part types a role accepts.
type partSet int

const (
	textParts partSet = iota
	userParts
	assistantParts
)

func (s partSet) supported() string {
	switch s {
	case userParts:
		return "'text', 'image_url', 'input_audio', and 'file'"
	case assistantParts:
		return "'text' and 'refusal'"
	}
	return "'text'"
}

func decodeContent(p *path, m *provider.Message, v []byte, set partSet) error {
	param := p.key("content")
	switch {
	case v == nil:
		return errMissing(param)
	case v[0] == '"':
		m.Content = []provider.Part{{Type: provider.PartText, Text: jsonscan.Unquote(v)}}
		m.TextOnly = true
		return nil
	case v[0] != '[':
		return errType(param, "one of a string or array of objects", v)
	}
	m.Content = make([]provider.Part, 0, jsonscan.CountElements(v))
	return jsonscan.EachElement(v, func(i int, e []byte) error {
		part, err := decodePart(param.elem(i), e, set)
		m.Content = append(m.Content, part)
		return err
	})
}

func decodePart(p path, v []byte, set partSet) (provider.Part, error) {
	var part provider.Part
	if v[0] != '{' {
		return part, errType(p, "an object", v)
	}
	var typ, text, image, refusal, audio, file []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			typ = mv
		case "text":
			text = mv
		case "image_url":
			image = mv
		case "refusal":
			refusal = mv
		case "input_audio":
			audio = mv
		case "file":
			file = mv
		}
		return nil
	})
	if typ == nil || isNull(typ) || typ[0] != '"' {
		_, err := requiredString(p.key("type"), typ)
		return part, err
	}
	var err error
	switch t := typ[1 : len(typ)-1]; {
	case string(t) == "text":
		part.Type = provider.PartText
		part.Text, err = requiredString(p.key("text"), text)
	case string(t) == "image_url" && set == userParts:
		part.Type = provider.PartImage
		err = decodeImageURL(p.key("image_url"), image, &part)
	case string(t) == "refusal" && set == assistantParts:
		part.Type = provider.PartText
		part.Text, err = requiredString(p.key("refusal"), refusal)
	case string(t) == "input_audio" && set == userParts:
		part.Type = PartInputAudio
		err = requireObject(p.key("input_audio"), audio)
	case string(t) == "file" && set == userParts:
		part.Type = PartFile
		err = requireObject(p.key("file"), file)
	default:
		err = chorus.Invalid(p.key("type").String(), "Invalid value: '%s'. Supported values are: %s.", jsonscan.Unquote(typ), set.supported())
	}
	return part, err
}

func requireObject(p path, v []byte) error {
	if v == nil {
		return errMissing(p)
	}
	if v[0] != '{' {
		return errType(p, "an object", v)
	}
	return nil
}

func decodeImageURL(p path, v []byte, part *provider.Part) error {
	if err := requireObject(p, v); err != nil {
		return err
	}
	var url, detail []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "url":
			url = mv
		case "detail":
			detail = mv
		}
		return nil
	})
	var err error
	if part.ImageURL, err = requiredString(p.key("url"), url); err != nil {
		return err
	}
	if part.ImageURL == "" {
		param := p.key("url").String()
		return chorus.Invalid(param, "Invalid '%s': empty string.", param)
	}
	if detail != nil && !isNull(detail) {
		if detail[0] != '"' {
			return errType(p.key("detail"), "a string", detail)
		}
		switch string(detail[1 : len(detail)-1]) {
		case "auto":
			part.ImageDetail = "auto"
		case "low":
			part.ImageDetail = "low"
		case "high":
			part.ImageDetail = "high"
		default:
			return chorus.Invalid(p.key("detail").String(), "Invalid value: '%s'. Supported values are: 'auto', 'low', and 'high'.", jsonscan.Unquote(detail))
		}
	}
	return nil
}

func decodeToolCalls(p path, v []byte) ([]provider.ToolCall, error) {
	if v[0] != '[' {
		return nil, errType(p, "an array", v)
	}
	calls := make([]provider.ToolCall, 0, jsonscan.CountElements(v))
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		ep := p.elem(i)
		if e[0] != '{' {
			return errType(ep, "an object", e)
		}
		var id, typ, fn []byte
		_ = jsonscan.EachMember(e, func(k []byte, _ bool, mv []byte) error {
			switch string(k) {
			case "id":
				id = mv
			case "type":
				typ = mv
			case "function":
				fn = mv
			}
			return nil
		})
		var tc provider.ToolCall
		var err error
		if tc.ID, err = requiredString(ep.key("id"), id); err != nil {
			return err
		}
		if typ != nil && string(typ) != `"function"` {
			if typ[0] != '"' {
				return errType(ep.key("type"), "a string", typ)
			}
			return chorus.Invalid(ep.key("type").String(), "Invalid value: '%s'. Supported values are: 'function'.", jsonscan.Unquote(typ))
		}
		if fn == nil {
			return errMissing(ep.key("function"))
		}
		fc, err := decodeFunctionCall(ep.key("function"), fn)
		tc.Name, tc.Arguments = fc.Name, fc.Arguments
		calls = append(calls, tc)
		return err
	})
	return calls, err
}

// decodeFunctionCall reads {"name", "arguments"}; the legacy assistant
// function_call has no ID, so the name stands in for one.
func decodeFunctionCall(p path, v []byte) (provider.ToolCall, error) {
	var tc provider.ToolCall
	if v[0] != '{' {
		return tc, errType(p, "an object", v)
	}
	var name, args []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "name":
			name = mv
		case "arguments":
			args = mv
		}
		return nil
	})
	var err error
	if tc.Name, err = requiredString(p.key("name"), name); err != nil {
		return tc, err
	}
	if tc.Arguments, err = requiredString(p.key("arguments"), args); err != nil {
		return tc, err
	}
	tc.ID = tc.Name
	return tc, nil
}

func decodeTools(v []byte) ([]provider.Tool, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, errType(at("tools"), "an array", v)
	}
	n := jsonscan.CountElements(v)
	if n > maxTools {
		return nil, chorus.Invalid("tools", "Invalid 'tools': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxTools, n)
	}
	tools := make([]provider.Tool, 0, n)
	root := at("tools")
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		p := root.elem(i)
		if e[0] != '{' {
			return errType(p, "an object", e)
		}
		var typ, fn []byte
		_ = jsonscan.EachMember(e, func(k []byte, _ bool, mv []byte) error {
			switch string(k) {
			case "type":
				typ = mv
			case "function":
				fn = mv
			}
			return nil
		})
		if typ == nil || isNull(typ) {
			return errMissing(p.key("type"))
		}
		if string(typ) != `"function"` {
			if typ[0] != '"' {
				return errType(p.key("type"), "a string", typ)
			}
			return chorus.Invalid(p.key("type").String(), "Invalid value: '%s'. Supported values are: 'function'.", jsonscan.Unquote(typ))
		}
		if fn == nil {
			return errMissing(p.key("function"))
		}
		tool, err := decodeFunctionDef(p.key("function"), fn)
		tools = append(tools, tool)
		return err
	})
	return tools, err
}

// decodeFunctions reads the deprecated top-level "functions" list.
func decodeFunctions(v []byte) ([]provider.Tool, error) {
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, errType(at("functions"), "an array", v)
	}
	tools := make([]provider.Tool, 0, jsonscan.CountElements(v))
	root := at("functions")
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		tool, err := decodeFunctionDef(root.elem(i), e)
		tools = append(tools, tool)
		return err
	})
	return tools, err
}

func decodeFunctionDef(p path, v []byte) (provider.Tool, error) {
	var t provider.Tool
	if v[0] != '{' {
		return t, errType(p, "an object", v)
	}
	var name []byte
	err := jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		var err error
		switch string(k) {
		case "name":
			name = mv
		case "description":
			if !isNull(mv) {
				t.Description, err = decodeString(p.key("description"), mv)
			}
		case "parameters":
			if !isNull(mv) {
				if mv[0] != '{' {
					return errType(p.key("parameters"), "an object", mv)
				}
				t.Parameters = json.RawMessage(mv)
			}
		case "strict":
			t.Strict, err = decodeOptBool(p.key("strict"), mv)
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if t.Name, err = requiredString(p.key("name"), name); err != nil {
		return t, err
	}
	if !validFunctionName(t.Name) {
		param := p.key("name").String()
		return t, chorus.Invalid(param, "Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.", param)
	}
	return t, nil
}

func validFunctionName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// decodeToolChoice reads tool_choice, or the deprecated function_call, whose
// object form is {"name": ...} instead of {"type":"function","function":{...}}.
func decodeToolChoice(param string, v []byte) (*provider.ToolChoice, error) {
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		mode := jsonscan.Unquote(v)
		switch mode {
		case "none", "auto":
		case "required":
			if param == "tool_choice" {
				break
			}
			fallthrough
		default:
			return nil, chorus.Invalid(param, "Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", mode)
		}
		return &provider.ToolChoice{Mode: mode}, nil
	case v[0] != '{':
		return nil, errType(at(param), "one of a string or object", v)
	}
	var typ, fn, name []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			typ = mv
		case "function":
			fn = mv
		case "name":
			name = mv
		}
		return nil
	})
	root := at(param)
	if param == "function_call" {
		n, err := requiredString(root.key("name"), name)
		return &provider.ToolChoice{Mode: "function", Name: n}, err
	}
	t, err := requiredString(root.key("type"), typ)
	if err != nil {
		return nil, err
	}
	if t != "function" {
		return nil, chorus.Invalid(param+".type", "Invalid value: '%s'. Supported values are: 'function'.", t)
	}
	fp := root.key("function")
	if err := requireObject(fp, fn); err != nil {
		return nil, err
	}
	_ = jsonscan.EachMember(fn, func(k []byte, _ bool, mv []byte) error {
		if string(k) == "name" {
			name = mv
		}
		return nil
	})
	n, err := requiredString(fp.key("name"), name)
	return &provider.ToolChoice{Mode: "function", Name: n}, err
}
