package openai

import (
	"slices"
	"strconv"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// The parsers in this file read upstream answers. They are lenient where
// compatible servers differ (missing members, nulls, numeric codes) and
// strict only about the JSON itself.

// parseChatResponse reads a chat.completion body.
func parseChatResponse(raw []byte) (*provider.ChatResponse, error) {
	if !jsonscan.Valid(raw) || raw[jsonscan.SkipSpace(raw, 0)] != '{' {
		return nil, jsonscan.ErrSyntax
	}
	r := &provider.ChatResponse{}
	_ = jsonscan.EachMember(raw, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "id":
			r.ID = str(v)
		case "model":
			r.Model = str(v)
		case "created":
			r.Created = int64(num(v))
		case "system_fingerprint":
			r.SystemFingerprint = str(v)
		case "usage":
			r.Usage = parseUsage(v)
		case "choices":
			if v[0] == '[' {
				r.Choices = make([]provider.Choice, 0, jsonscan.CountElements(v))
				_ = jsonscan.EachElement(v, func(i int, e []byte) error {
					r.Choices = append(r.Choices, parseChoice(i, e))
					return nil
				})
			}
		}
		return nil
	})
	return r, nil
}

func parseChoice(i int, v []byte) provider.Choice {
	ch := provider.Choice{Index: i, Message: provider.Message{Role: provider.RoleAssistant}}
	if v[0] != '{' {
		return ch
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "index":
			ch.Index = num(mv)
		case "finish_reason":
			ch.FinishReason = finishReason(mv)
		case "message":
			parseAnswerMessage(&ch.Message, mv)
		}
		return nil
	})
	return ch
}

// parseAnswerMessage reads an assistant message. A refusal becomes the text
// when there is no content, so translated answers do not come out empty.
func parseAnswerMessage(m *provider.Message, v []byte) {
	if v[0] != '{' {
		return
	}
	var refusal string
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "role":
			if s := str(mv); s != "" {
				m.Role = s
			}
		case "content":
			if mv[0] == '"' {
				m.Content = append(m.Content, provider.Part{Type: provider.PartText, Text: jsonscan.Unquote(mv)})
				m.TextOnly = true
			}
		case "refusal":
			refusal = str(mv)
		case "reasoning_content", "reasoning":
			// DeepSeek's and vLLM's visible reasoning (vLLM's newer name
			// and OpenRouter's is "reasoning"); a non-string (OpenRouter's
			// reasoning details) is not text.
			if r := str(mv); r != "" {
				m.Content = append(m.Content, provider.Part{Type: provider.PartThinking, Text: r})
			}
		case "tool_calls":
			if mv[0] == '[' {
				m.ToolCalls = make([]provider.ToolCall, 0, jsonscan.CountElements(mv))
				_ = jsonscan.EachElement(mv, func(_ int, e []byte) error {
					d := parseToolCallDelta(e)
					m.ToolCalls = append(m.ToolCalls, provider.ToolCall{ID: d.ID, Name: d.Name, Arguments: d.Arguments})
					return nil
				})
			}
		case "function_call":
			if mv[0] == '{' {
				d := parseFunction(mv)
				m.ToolCalls = append(m.ToolCalls, provider.ToolCall{ID: d.Name, Name: d.Name, Arguments: d.Arguments})
			}
		}
		return nil
	})
	if m.Text() == "" && refusal != "" {
		m.Content = append(m.Content, provider.Part{Type: provider.PartText, Text: refusal})
		m.TextOnly = len(m.Content) == 1
	}
	orderReasoning(m)
}

// orderReasoning puts a message's reasoning before its text, the order the
// model produced them in (members come in any order), and marks a message
// with reasoning as not text only.
func orderReasoning(m *provider.Message) {
	if len(m.Content) < 2 {
		return
	}
	slices.SortStableFunc(m.Content, func(a, b provider.Part) int {
		if a.IsReasoning() == b.IsReasoning() {
			return 0
		}
		if a.IsReasoning() {
			return -1
		}
		return 1
	})
	m.TextOnly = false
}

// parseToolCallDelta reads a tool call, whole or as a stream delta.
func parseToolCallDelta(v []byte) provider.ToolCallDelta {
	var d provider.ToolCallDelta
	if v[0] != '{' {
		return d
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "index":
			d.Index = num(mv)
		case "id":
			d.ID = str(mv)
		case "function":
			f := parseFunction(mv)
			d.Name, d.Arguments = f.Name, f.Arguments
		}
		return nil
	})
	return d
}

func parseFunction(v []byte) provider.ToolCallDelta {
	var d provider.ToolCallDelta
	if v[0] != '{' {
		return d
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "name":
			d.Name = str(mv)
		case "arguments":
			d.Arguments = str(mv)
		}
		return nil
	})
	return d
}

// parseUsage reads a usage object, including the prompt-cache and reasoning
// details.
func parseUsage(v []byte) provider.Usage {
	var u provider.Usage
	if v[0] != '{' {
		return u
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "prompt_tokens":
			u.InputTokens = num(mv)
		case "completion_tokens":
			u.OutputTokens = num(mv)
		case "prompt_tokens_details":
			u.CachedInputTokens = numMember(mv, "cached_tokens")
		case "completion_tokens_details":
			u.ReasoningTokens = numMember(mv, "reasoning_tokens")
		}
		return nil
	})
	return u
}

// numMember returns the integer member key of object v, 0 if absent.
func numMember(v []byte, key string) int {
	n := 0
	if v[0] == '{' {
		_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
			if string(k) == key {
				n = num(mv)
			}
			return nil
		})
	}
	return n
}

func finishReason(v []byte) provider.FinishReason {
	s := str(v)
	switch s {
	case "":
		return ""
	case "stop":
		return provider.FinishStop
	case "length":
		return provider.FinishLength
	case "tool_calls", "function_call":
		return provider.FinishToolCalls
	case "content_filter":
		return provider.FinishContentFilter
	}
	return provider.FinishReason(s)
}

// str returns the text of a JSON string and "" for anything else.
func str(v []byte) string {
	if len(v) == 0 || v[0] != '"' {
		return ""
	}
	return jsonscan.Unquote(v)
}

// num returns the value of a JSON integer and 0 for anything else.
func num(v []byte) int {
	n, err := strconv.Atoi(string(v))
	if err != nil {
		if f, ferr := strconv.ParseFloat(string(v), 64); ferr == nil {
			return int(f)
		}
	}
	return n
}
