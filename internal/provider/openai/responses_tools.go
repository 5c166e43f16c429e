package openai

import (
	"encoding/json"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// The Responses tools Chorus can offer a translated upstream: functions,
// custom (freeform) tools, and namespaces grouping them. Every other type
// is hosted: it runs at OpenAI, so only a Responses upstream can serve it.
const (
	toolFunction  = "function"
	toolCustom    = "custom"
	toolNamespace = "namespace"
)

// decodeTools reads "tools": function and custom tools (flattened out of
// namespaces) become canonical tools; hosted ones are listed by type.
func (d *responsesDecoder) decodeTools(v []byte) error {
	if isNull(v) {
		return nil
	}
	root := at("tools")
	if v[0] != '[' {
		return errType(root, "an array", v)
	}
	return jsonscan.EachElement(v, func(i int, e []byte) error {
		return d.decodeTool(root.elem(i), e, "")
	})
}

func (d *responsesDecoder) decodeTool(p path, v []byte, namespace string) error {
	if v[0] != '{' {
		return errType(p, "an object", v)
	}
	var typ, name, desc, params, strict, nested []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			typ = mv
		case "name":
			name = mv
		case "description":
			desc = mv
		case "parameters":
			params = mv
		case "strict":
			strict = mv
		case "tools":
			nested = mv
		}
		return nil
	})
	t, err := requiredString(p.key("type"), typ)
	if err != nil {
		return err
	}
	r := d.r
	switch {
	case t == toolNamespace && namespace == "":
		return d.decodeNamespace(p, name, nested)
	case t == toolFunction || t == toolCustom:
	case namespace != "":
		param := p.key("type").String()
		return chorus.Invalid(param, "Invalid value: '%s'. Supported values are: 'function' and 'custom'.", t)
	default:
		r.HostedTools = append(r.HostedTools, t)
		return nil
	}
	tool, err := functionTool(p, name, desc, params, strict)
	if err != nil {
		return err
	}
	ref := toolRef{canonical: tool.Name, name: tool.Name, namespace: namespace, custom: t == toolCustom}
	if namespace != "" {
		ref.canonical = namespace + namespaceSep + tool.Name
		tool.Name = ref.canonical
	}
	if ref.custom {
		tool.Parameters, tool.Strict = customParameters, nil
	}
	for i := range r.tools {
		if r.tools[i].canonical == ref.canonical {
			param := p.key("name").String()
			return chorus.Invalid(param, "Duplicate tool name: '%s'.", tool.Name)
		}
	}
	r.tools = append(r.tools, ref)
	r.Chat.Tools = append(r.Chat.Tools, tool)
	return nil
}

// functionTool reads the members function and custom tools share.
func functionTool(p path, name, desc, params, strict []byte) (provider.Tool, error) {
	var t provider.Tool
	var err error
	if t.Name, err = requiredString(p.key("name"), name); err != nil {
		return t, err
	}
	if !validFunctionName(t.Name) {
		param := p.key("name").String()
		return t, chorus.Invalid(param, "Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param)
	}
	if desc != nil && !isNull(desc) {
		if t.Description, err = decodeString(p.key("description"), desc); err != nil {
			return t, err
		}
	}
	if params != nil && !isNull(params) {
		if params[0] != '{' {
			return t, errType(p.key("parameters"), "an object", params)
		}
		t.Parameters = json.RawMessage(params)
	}
	if strict != nil {
		t.Strict, err = decodeOptBool(p.key("strict"), strict)
	}
	return t, err
}

func (d *responsesDecoder) decodeNamespace(p path, name, tools []byte) error {
	ns, err := requiredString(p.key("name"), name)
	if err != nil {
		return err
	}
	if !validFunctionName(ns) {
		param := p.key("name").String()
		return chorus.Invalid(param, "Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param)
	}
	tp := p.key("tools")
	if tools == nil {
		return errMissing(tp)
	}
	if tools[0] != '[' {
		return errType(tp, "an array", tools)
	}
	return jsonscan.EachElement(tools, func(i int, e []byte) error {
		return d.decodeTool(tp.elem(i), e, ns)
	})
}

// decodeToolChoice reads "tool_choice": a mode, a function or custom tool by
// name, or allowed_tools (its mode; the restriction to a subset is not
// carried). A hosted tool type cannot be forced on a translated upstream, so
// it leaves the choice to the model.
func (r *ResponsesRequest) decodeToolChoice(v []byte) (*provider.ToolChoice, error) {
	p := at("tool_choice")
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		mode := jsonscan.Unquote(v)
		switch mode {
		case "none", "auto", "required":
			return &provider.ToolChoice{Mode: mode}, nil
		}
		return nil, chorus.Invalid("tool_choice", "Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", mode)
	case v[0] != '{':
		return nil, errType(p, "one of a string or object", v)
	}
	var typ, name, mode, namespace []byte
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "type":
			typ = mv
		case "name":
			name = mv
		case "mode":
			mode = mv
		case "namespace":
			namespace = mv
		}
		return nil
	})
	t, err := requiredString(p.key("type"), typ)
	if err != nil {
		return nil, err
	}
	switch t {
	case toolFunction, toolCustom:
		n, err := requiredString(p.key("name"), name)
		if ns := str(namespace); ns != "" {
			n = ns + namespaceSep + n
		}
		return &provider.ToolChoice{Mode: "function", Name: n}, err
	case "allowed_tools":
		m, err := requiredString(p.key("mode"), mode)
		if err == nil && m != "auto" && m != "required" {
			err = chorus.Invalid("tool_choice.mode", "Invalid value: '%s'. Supported values are: 'auto' and 'required'.", m)
		}
		return &provider.ToolChoice{Mode: m}, err
	}
	return &provider.ToolChoice{Mode: "auto"}, nil
}

// tool returns the Responses tool a canonical tool name stands for; a name
// the request did not declare maps to a plain function of that name.
func (r *ResponsesRequest) tool(canonical string) toolRef {
	for i := range r.tools {
		if r.tools[i].canonical == canonical {
			return r.tools[i]
		}
	}
	return toolRef{canonical: canonical, name: canonical}
}

// canonicalName is the canonical tool name of a call to name in namespace.
func canonicalName(name, namespace string) string {
	if namespace == "" {
		return name
	}
	return namespace + namespaceSep + name
}

// customArguments wraps a custom tool's input as canonical arguments.
func customArguments(input string) string {
	b := make([]byte, 0, len(input)+16)
	b = append(b, `{"input":`...)
	b = jsonscan.AppendString(b, input)
	return string(append(b, '}'))
}

// customInput is the input of a custom tool call from canonical arguments:
// the "input" member when they are {"input": "…"}, else the arguments.
func customInput(args string) string {
	b := []byte(args)
	if !jsonscan.Valid(b) || b[jsonscan.SkipSpace(b, 0)] != '{' {
		return args
	}
	v, ok, _ := jsonscan.GetField(b, "input")
	if !ok || len(v) == 0 || v[0] != '"' {
		return args
	}
	return jsonscan.Unquote(v)
}
