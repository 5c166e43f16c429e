package cache

import (
	"bytes"

	"github.com/chorusgw/chorus/internal/provider"
)

// CacheableRequest reports whether a chat request's answer may be cached.
// It may not when the canonical request leaves out something that changes
// the answer or its shape, since a hit is served from the canonical
// response, which cannot carry it either: OpenAI audio and file parts,
// audio output, log probabilities, web search; Anthropic thinking,
// documents, search results, server tools, MCP, tool results marked as
// errors, files. Key still tells such requests apart (it hashes their
// body), so a caller that caches them anyway gets no wrong answer, only an
// answer without what the canonical form drops.
func CacheableRequest(req *provider.ChatRequest) bool { return !lossy(req) }

// lossy reports whether the canonical form of req leaves out something
// that changes the answer.
func lossy(req *provider.ChatRequest) bool {
	for i := range req.Messages {
		for j := range req.Messages[i].Content {
			switch req.Messages[i].Content[j].Type {
			case provider.PartText, provider.PartImage:
			default:
				return true // OpenAI input_audio and file parts are only markers
			}
		}
	}
	for k, v := range req.Extra {
		switch k {
		case "logprobs":
			if string(bytes.TrimSpace(v)) == "true" {
				return true
			}
		case "top_logprobs", "audio", "web_search_options", "thinking", "mcp_servers", "container", "context_management":
			return true
		}
	}
	switch req.RawFormat {
	case provider.FormatOpenAI:
		return bytes.Contains(req.Raw, markerAudio)
	case provider.FormatAnthropic:
		return anthropicLossy(req.Raw)
	}
	return false
}

// markerAudio finds audio output asked for through modalities, and
// assistant turns that refer to earlier audio answers.
var markerAudio = []byte(`"audio"`)

// anthropicMarkers are JSON strings whose presence in an Anthropic body
// means the canonical request left something out: content blocks it drops,
// file sources, the is_error flag of tool results. Inside JSON text a quote
// is always escaped, so a marker only matches a real string token; a rare
// false match only costs a cache miss.
var anthropicMarkers = [][]byte{
	[]byte(`"thinking"`), []byte(`"redacted_thinking"`), []byte(`"document"`),
	[]byte(`"search_result"`), []byte(`"server_tool_use"`), []byte(`_tool_result"`),
	[]byte(`"container_upload"`), []byte(`"mcp_tool_use"`), []byte(`"mcp_tool_result"`),
	[]byte(`"file"`), []byte(`"is_error"`),
}

func anthropicLossy(raw []byte) bool {
	for _, m := range anthropicMarkers {
		if bytes.Contains(raw, m) {
			return true
		}
	}
	return hasServerToolType(raw)
}

// hasServerToolType finds a versioned tool type such as
// "web_search_20250305": server tools, which the canonical request drops.
// It looks for _20 followed by six digits and a closing quote.
func hasServerToolType(raw []byte) bool {
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte("_20"))
		if j < 0 {
			return false
		}
		k := i + j + 3
		if k+7 <= len(raw) && raw[k+6] == '"' && allDigits(raw[k:k+6]) {
			return true
		}
		i = k
	}
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
