package geminitest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// The fake declares the request schema on its own rather than sharing the
// adapter's types, so that a misspelt field in the adapter shows up as a
// field the fake never sees.

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction"`
	Tools             []tool            `json:"tools"`
	ToolConfig        *toolConfig       `json:"toolConfig"`
	GenerationConfig  *generationConfig `json:"generationConfig"`
	SafetySettings    json.RawMessage   `json:"safetySettings"`
	CachedContent     string            `json:"cachedContent"`
}

type content struct {
	Role  string `json:"role"`
	Parts []part `json:"parts"`
}

type part struct {
	Text             *string `json:"text"`
	Thought          bool    `json:"thought"`
	ThoughtSignature string  `json:"thoughtSignature"`
	InlineData       *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		MimeType string `json:"mimeType"`
		FileURI  string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
}

type tool struct {
	FunctionDeclarations []struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description"`
		Parameters           json.RawMessage `json:"parameters"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
	} `json:"functionDeclarations"`
}

type toolConfig struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

type generationConfig struct {
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *int            `json:"topK"`
	CandidateCount     *int            `json:"candidateCount"`
	StopSequences      []string        `json:"stopSequences"`
	Seed               *int64          `json:"seed"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
}

type batchEmbedRequest struct {
	Requests []struct {
		Model                string  `json:"model"`
		Content              content `json:"content"`
		OutputDimensionality *int    `json:"outputDimensionality"`
	} `json:"requests"`
}

// maxCandidates is the largest candidateCount the fake honours.
const maxCandidates = 8

func candidateCount(req *generateRequest) int {
	if gc := req.GenerationConfig; gc != nil && gc.CandidateCount != nil {
		return min(max(*gc.CandidateCount, 1), maxCandidates)
	}
	return 1
}

// decodeGenerate decodes and validates a generateContent body the way the
// API does. It returns the API's complaint, or "" when the body is valid.
func decodeGenerate(body []byte, req *generateRequest) string {
	if err := json.Unmarshal(body, req); err != nil {
		return "Invalid JSON payload received. " + err.Error()
	}
	if len(req.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	for i, c := range req.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].role: Please use a valid role: user, model.", i)
		}
		if msg := checkParts(fmt.Sprintf("contents[%d]", i), c.Parts); msg != "" {
			return msg
		}
	}
	if si := req.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			if p.Text == nil {
				return "* GenerateContentRequest.system_instruction: only text parts are supported"
			}
		}
	}
	for _, t := range req.Tools {
		for j, d := range t.FunctionDeclarations {
			if d.Name == "" {
				return fmt.Sprintf("* GenerateContentRequest.tools[0].function_declarations[%d].name: Name cannot be empty.", j)
			}
			if len(d.Parameters) > 0 && len(d.ParametersJSONSchema) > 0 {
				return "parameters and parameters_json_schema are mutually exclusive"
			}
		}
	}
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		switch tc.FunctionCallingConfig.Mode {
		case "AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED", "":
		default:
			return "Invalid value at 'tool_config.function_calling_config.mode': " + tc.FunctionCallingConfig.Mode
		}
	}
	if gc := req.GenerationConfig; gc != nil {
		if len(gc.ResponseSchema) > 0 && len(gc.ResponseJSONSchema) > 0 {
			return "response_schema and response_json_schema are mutually exclusive"
		}
		if (len(gc.ResponseSchema) > 0 || len(gc.ResponseJSONSchema) > 0) && gc.ResponseMimeType != "application/json" {
			return "* GenerateContentRequest.generation_config.response_mime_type: must be application/json when a response schema is set"
		}
	}
	return ""
}

// checkParts validates the parts of one turn: not empty, one kind of data
// per part, inline data in base64, function calls and responses named with
// object payloads.
func checkParts(where string, ps []part) string {
	if len(ps) == 0 {
		return "* GenerateContentRequest." + where + ".parts: contents.parts must not be empty."
	}
	for j, p := range ps {
		at := fmt.Sprintf("* GenerateContentRequest.%s.parts[%d]", where, j)
		n := 0
		for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil, p.FunctionResponse != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return at + ".data: required oneof field 'data' must have one initialized field"
		}
		switch {
		case p.InlineData != nil:
			if p.InlineData.MimeType == "" {
				return at + ".inline_data.mime_type: required"
			}
			if _, err := base64.StdEncoding.DecodeString(p.InlineData.Data); err != nil {
				return at + ".inline_data.data: Base64 decoding failed"
			}
		case p.FileData != nil:
			if p.FileData.FileURI == "" {
				return at + ".file_data.file_uri: required"
			}
		case p.FunctionCall != nil:
			if p.FunctionCall.Name == "" {
				return at + ".function_call.name: Name cannot be empty."
			}
			if len(p.FunctionCall.Args) > 0 && !isObject(p.FunctionCall.Args) {
				return at + ".function_call.args: Proto field is not repeating, cannot start list."
			}
		case p.FunctionResponse != nil:
			if p.FunctionResponse.Name == "" {
				return at + ".function_response.name: Name cannot be empty."
			}
			if !isObject(p.FunctionResponse.Response) {
				return at + ".function_response.response: must be an object"
			}
		}
	}
	return ""
}

func isObject(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && b[0] == '{'
}

// decodeBatchEmbed decodes and validates a batchEmbedContents body: every
// entry names the model of the URL as "models/{model}".
func decodeBatchEmbed(body []byte, model string, req *batchEmbedRequest) string {
	if err := json.Unmarshal(body, req); err != nil {
		return "Invalid JSON payload received. " + err.Error()
	}
	if len(req.Requests) == 0 {
		return "* BatchEmbedContentsRequest.requests: requests is not specified"
	}
	for i, e := range req.Requests {
		if e.Model != "models/"+model {
			return fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: model %q does not match the URL's models/%s", i, e.Model, model)
		}
		if len(e.Content.Parts) == 0 || strings.TrimSpace(partsText(e.Content.Parts)) == "" {
			return fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].content: empty content", i)
		}
	}
	return ""
}
