package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"path"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

var errNotObject = errors.New("not a JSON object")

// Gemini roles.
const (
	roleUser  = "user"
	roleModel = "model"
)

// requestBody returns the JSON body for req. A body the client wrote in
// Gemini's own format is forwarded as received (the model travels in the
// URL, so nothing needs rewriting); anything else is translated.
func requestBody(req *provider.ChatRequest) ([]byte, error) {
	if req.RawFormat == provider.FormatGemini && len(req.Raw) > 0 {
		return req.Raw, nil
	}
	g, err := toGemini(req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(g)
}

// toGemini translates a canonical chat request to a generateContent body.
// System and developer messages, wherever they stand (an Anthropic client's
// mid-conversation system message included), join systemInstruction in
// order: Gemini has no system turn, and an instruction kept as system text
// keeps its authority, where one moved into a user turn would read as the
// user's words. Thinking parts of earlier turns are dropped.
func toGemini(req *provider.ChatRequest) (*generateRequest, error) {
	g := &generateRequest{Contents: make([]content, 0, len(req.Messages))}
	var system []part
	// callNames maps tool call IDs to function names: Gemini's
	// functionResponse names the function, OpenAI's tool message only the ID.
	callNames := make(map[string]string)
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case provider.RoleSystem, provider.RoleDeveloper:
			for _, p := range m.Content {
				if p.Type == provider.PartText && p.Text != "" {
					system = append(system, part{Text: p.Text})
				}
			}
		case provider.RoleUser:
			parts, err := contentParts(nil, m.Content)
			if err != nil {
				return nil, err
			}
			g.Contents = appendTurn(g.Contents, roleUser, parts)
		case provider.RoleAssistant:
			parts, err := assistantParts(m, callNames)
			if err != nil {
				return nil, err
			}
			g.Contents = appendTurn(g.Contents, roleModel, parts)
		case provider.RoleTool:
			parts, err := toolResultParts(m, callNames)
			if err != nil {
				return nil, err
			}
			g.Contents = appendTurn(g.Contents, roleUser, parts)
		default:
			return nil, chorus.Invalid("messages", "message %d has unknown role %q", i, m.Role)
		}
	}
	if len(system) > 0 {
		g.SystemInstruction = &content{Parts: system}
	}
	if len(req.Tools) > 0 {
		decls := make([]functionDeclaration, len(req.Tools))
		for i, t := range req.Tools {
			decls[i] = functionDeclaration{Name: t.Name, Description: t.Description, ParametersJSONSchema: t.Parameters}
		}
		g.Tools = []tool{{FunctionDeclarations: decls}}
	}
	tc, err := toolConfigFor(req.ToolChoice)
	if err != nil {
		return nil, err
	}
	g.ToolConfig = tc
	gc, err := generationConfigFor(req)
	if err != nil {
		return nil, err
	}
	g.GenerationConfig = gc
	return g, nil
}

// appendTurn adds parts as a turn of role, merging them into the previous
// turn when it has the same role: Gemini wants user and model turns to
// alternate, and a tool result followed by a user message are both "user".
func appendTurn(turns []content, role string, parts []part) []content {
	if len(parts) == 0 {
		return turns // Gemini rejects a turn without parts
	}
	if n := len(turns); n > 0 && turns[n-1].Role == role {
		turns[n-1].Parts = append(turns[n-1].Parts, parts...)
		return turns
	}
	return append(turns, content{Role: role, Parts: parts})
}

// contentParts appends the text and image parts of a message to dst.
func contentParts(dst []part, ps []provider.Part) ([]part, error) {
	for _, p := range ps {
		switch p.Type {
		case provider.PartText, "":
			if p.Text != "" {
				dst = append(dst, part{Text: p.Text})
			}
		case provider.PartImage:
			ip, err := imagePart(p.ImageURL)
			if err != nil {
				return nil, err
			}
			dst = append(dst, ip)
		case provider.PartThinking, provider.PartRedactedThinking:
			// Reasoning of earlier turns cannot go back to Gemini.
		default:
			return nil, chorus.Invalid("messages", "content part type %q is not supported", p.Type)
		}
	}
	return dst, nil
}

// imagePart maps an image URL to inlineData (data: URIs) or fileData
// (http and https URLs, which Gemini fetches itself).
func imagePart(u string) (part, error) {
	if strings.HasPrefix(u, "data:") {
		mimeType, data, err := parseDataURI(u)
		if err != nil {
			return part{}, err
		}
		return part{InlineData: &blob{MimeType: mimeType, Data: data}}, nil
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return part{}, chorus.Invalid("messages", "image_url must be an http(s) URL or a data: URI")
	}
	mimeType := mime.TypeByExtension(strings.ToLower(path.Ext(pu.Path)))
	if !strings.HasPrefix(mimeType, "image/") {
		mimeType = "image/jpeg" // Gemini needs a type; it sniffs the bytes anyway
	}
	return part{FileData: &fileData{MimeType: mimeType, FileURI: u}}, nil
}

// parseDataURI splits a data: URI into its media type and base64 payload,
// re-encoding a percent-encoded payload as base64.
func parseDataURI(u string) (mimeType, data string, err error) {
	meta, payload, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok {
		return "", "", chorus.Invalid("messages", "malformed data: URI in image_url")
	}
	params := strings.Split(meta, ";")
	mimeType = strings.TrimSpace(params[0])
	if mimeType == "" {
		mimeType = "text/plain"
	}
	isBase64 := false
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			isBase64 = true
		}
	}
	if isBase64 {
		if _, err := base64.StdEncoding.DecodeString(payload); err != nil {
			return "", "", chorus.Invalid("messages", "data: URI in image_url is not valid base64")
		}
		return mimeType, payload, nil
	}
	raw, err := url.PathUnescape(payload)
	if err != nil {
		return "", "", chorus.Invalid("messages", "malformed data: URI in image_url")
	}
	return mimeType, base64.StdEncoding.EncodeToString([]byte(raw)), nil
}

// assistantParts maps an assistant turn: its text, then one functionCall
// per tool call. It records each call's name under its ID in callNames.
func assistantParts(m *provider.Message, callNames map[string]string) ([]part, error) {
	parts := make([]part, 0, len(m.Content)+len(m.ToolCalls))
	for _, p := range m.Content {
		if p.Type == provider.PartText && p.Text != "" {
			parts = append(parts, part{Text: p.Text})
		}
	}
	for _, tc := range m.ToolCalls {
		args, err := argsObject(tc.Arguments)
		if err != nil {
			return nil, chorus.Invalid("messages", "arguments of tool call %q must be a JSON object", tc.ID)
		}
		callNames[tc.ID] = tc.Name
		id, sig := splitCallID(tc.ID)
		parts = append(parts, part{
			FunctionCall:     &functionCall{ID: id, Name: tc.Name, Args: args},
			ThoughtSignature: sig,
		})
	}
	return parts, nil
}

// argsObject validates tool call arguments as a JSON object; empty
// arguments are an empty object.
func argsObject(s string) (json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage(`{}`), nil
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, errNotObject
	}
	return b, nil
}

// toolResultParts maps a tool message to a functionResponse part (and any
// images it carries, which Gemini takes as ordinary parts of the same turn).
func toolResultParts(m *provider.Message, callNames map[string]string) ([]part, error) {
	name := callNames[m.ToolCallID]
	if name == "" {
		name = m.Name
	}
	if name == "" {
		return nil, chorus.Invalid("messages", "tool message answers unknown tool_call_id %q", m.ToolCallID)
	}
	var text strings.Builder
	var images []provider.Part
	for _, p := range m.Content {
		if p.Type == provider.PartImage {
			images = append(images, p)
			continue
		}
		text.WriteString(p.Text)
	}
	resp, err := json.Marshal(map[string]json.RawMessage{"content": toolResultValue(text.String())})
	if err != nil {
		return nil, err
	}
	id, _ := splitCallID(m.ToolCallID)
	parts := []part{{FunctionResponse: &functionResponse{ID: id, Name: name, Response: resp}}}
	return contentParts(parts, images)
}

// toolResultValue is the tool's output as a JSON value: the output itself
// when it is JSON, else the output as a string.
func toolResultValue(s string) json.RawMessage {
	if b := bytes.TrimSpace([]byte(s)); len(b) > 0 && json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(s)
	return q
}

// toolConfigFor maps tool_choice to functionCallingConfig.
func toolConfigFor(tc *provider.ToolChoice) (*toolConfig, error) {
	if tc == nil {
		return nil, nil
	}
	var fc functionCallingConfig
	switch tc.Mode {
	case "auto", "":
		fc.Mode = "AUTO"
	case "none":
		fc.Mode = "NONE"
	case "required":
		fc.Mode = "ANY"
	case "function":
		if tc.Name == "" {
			return nil, chorus.Invalid("tool_choice", "tool_choice names no function")
		}
		fc.Mode = "ANY"
		fc.AllowedFunctionNames = []string{tc.Name}
	default:
		return nil, chorus.Invalid("tool_choice", "unknown tool_choice %q", tc.Mode)
	}
	return &toolConfig{FunctionCallingConfig: fc}, nil
}

// generationConfigFor maps sampling parameters and the response format. It
// returns nil when the request sets none of them.
func generationConfigFor(req *provider.ChatRequest) (*generationConfig, error) {
	gc := generationConfig{
		MaxOutputTokens:  req.MaxTokens,
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		TopK:             req.TopK,
		CandidateCount:   req.N,
		StopSequences:    req.Stop,
		Seed:             req.Seed,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "":
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			gc.ResponseJSONSchema = rf.Schema
		default:
			return nil, chorus.Invalid("response_format", "unknown response_format type %q", rf.Type)
		}
	}
	gc.ThinkingConfig = thinkingConfigFor(req.Reasoning)
	if isZeroConfig(&gc) {
		return nil, nil
	}
	return &gc, nil
}

// effortBudget are thinking budgets for OpenAI's reasoning efforts;
// "none" turns thinking off where the model allows it.
var effortBudget = map[string]int{
	"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768,
}

// thinkingConfigFor maps Reasoning to thinkingConfig: a thinking budget
// (Anthropic's budget_tokens as given, or one for the effort) with the
// thought summaries asked for, so the answer carries the reasoning.
func thinkingConfigFor(r *provider.Reasoning) *thinkingConfig {
	if r == nil {
		return nil
	}
	tc := &thinkingConfig{}
	if r.BudgetTokens > 0 {
		b := r.BudgetTokens
		tc.ThinkingBudget = &b
	} else if b, ok := effortBudget[r.Effort]; ok {
		tc.ThinkingBudget = &b
	}
	if tc.ThinkingBudget == nil {
		return nil
	}
	tc.IncludeThoughts = *tc.ThinkingBudget > 0
	return tc
}

func isZeroConfig(gc *generationConfig) bool {
	return gc.MaxOutputTokens == nil && gc.Temperature == nil && gc.TopP == nil && gc.TopK == nil &&
		gc.CandidateCount == nil && len(gc.StopSequences) == 0 && gc.Seed == nil &&
		gc.PresencePenalty == nil && gc.FrequencyPenalty == nil && gc.ResponseMimeType == "" && gc.ThinkingConfig == nil
}
