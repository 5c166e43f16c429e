package cache_test

import (
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// A conversation with a system prompt, a tool call and its result, in both
// client formats.
const (
	openAIConversation = `{"model":"m","max_tokens":100,"temperature":0.2,"stop":["END"],
	 "messages":[{"role":"system","content":"Be brief."},
	  {"role":"user","content":"Weather in Paris?"},
	  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"unit\": \"C\"}"}}]},
	  {"role":"tool","tool_call_id":"call_1","content":"18C"},
	  {"role":"user","content":"Thanks"}],
	 "tools":[{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`

	anthropicConversation = `{"model":"m","max_tokens":100,"temperature":0.2,"stop_sequences":["END"],"system":"Be brief.",
	 "messages":[{"role":"user","content":"Weather in Paris?"},
	  {"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"unit":"C","city":"Paris"}}]},
	  {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"18C"},{"type":"text","text":"Thanks"}]}],
	 "tools":[{"name":"get_weather","description":"Get weather","input_schema":{"required":["city"],"properties":{"city":{"type":"string"}},"type":"object"}}]}`
)

func decodeOpenAI(tb testing.TB, body string) *provider.ChatRequest {
	tb.Helper()
	req, err := openai.DecodeChatRequest([]byte(body))
	if err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	return req
}

func decodeAnthropic(tb testing.TB, body string) *provider.ChatRequest {
	tb.Helper()
	req, err := anthropic.DecodeRequest([]byte(body))
	if err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	return req
}

func TestKey(t *testing.T) {
	oa := func(body string) func(testing.TB) *provider.ChatRequest {
		return func(tb testing.TB) *provider.ChatRequest { return decodeOpenAI(tb, body) }
	}
	an := func(body string) func(testing.TB) *provider.ChatRequest {
		return func(tb testing.TB) *provider.ChatRequest { return decodeAnthropic(tb, body) }
	}
	const hello = `{"model":"m","messages":[{"role":"user","content":"Hello"}]}`
	for _, tc := range []struct {
		name string
		a, b func(testing.TB) *provider.ChatRequest
		same bool
	}{
		{"KeyOrderAndWhitespace", oa(hello), oa("{ \"messages\" : [ { \"content\" : \"Hello\" ,\n\"role\":\"user\" } ],\n\t\"model\":\"m\" }"), true},
		{"StringOrParts", oa(hello), oa(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]}`), true},
		{"Escapes", oa(hello), oa(`{"model":"m","messages":[{"role":"user","content":"\u0048ello"}]}`), true},
		{"OpenAIvsAnthropic", oa(openAIConversation), an(anthropicConversation), true},
		{"OpenAIvsAnthropicSimple", oa(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hello"}]}`),
			an(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]}`), true},
		{"UserIgnored", oa(hello), oa(`{"model":"m","user":"alice","messages":[{"role":"user","content":"Hello"}]}`), true},
		{"StreamIgnored", oa(hello), oa(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello"}]}`), true},
		{"MetadataIgnored", oa(hello), oa(`{"model":"m","metadata":{"trace":"x"},"store":true,"messages":[{"role":"user","content":"Hello"}]}`), true},
		{"AnthropicMetadataIgnored", an(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`),
			an(`{"model":"m","max_tokens":5,"metadata":{"user_id":"u1"},"stream":true,"messages":[{"role":"user","content":"Hi"}]}`), true},
		{"NumberSpelling", oa(`{"model":"m","temperature":0.5,"messages":[{"role":"user","content":"Hello"}]}`),
			oa(`{"model":"m","temperature":5e-1,"messages":[{"role":"user","content":"Hello"}]}`), true},
		{"DefaultN", oa(hello), oa(`{"model":"m","n":1,"messages":[{"role":"user","content":"Hello"}]}`), true},
		{"DefaultPenalties", oa(hello), oa(`{"model":"m","presence_penalty":0,"frequency_penalty":0.0,"messages":[{"role":"user","content":"Hello"}]}`), true},
		{"MaxCompletionTokens", oa(`{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"Hello"}]}`),
			oa(`{"model":"m","max_completion_tokens":50,"messages":[{"role":"user","content":"Hello"}]}`), true},
		{"ExtraValueOrder", oa(`{"model":"m","logit_bias":{"1":2,"3":4},"messages":[{"role":"user","content":"Hello"}]}`),
			oa(`{"model":"m","logit_bias":{"3":4.0,"1":2},"messages":[{"role":"user","content":"Hello"}]}`), true},

		{"Model", oa(hello), oa(`{"model":"m2","messages":[{"role":"user","content":"Hello"}]}`), false},
		{"Text", oa(hello), oa(`{"model":"m","messages":[{"role":"user","content":"Hello!"}]}`), false},
		{"Role", oa(hello), oa(`{"model":"m","messages":[{"role":"system","content":"Hello"}]}`), false},
		{"ExtraTurn", oa(hello), oa(`{"model":"m","messages":[{"role":"system","content":"x"},{"role":"user","content":"Hello"}]}`), false},
		{"Temperature", oa(`{"model":"m","temperature":0.2,"messages":[{"role":"user","content":"Hello"}]}`),
			oa(`{"model":"m","temperature":0.3,"messages":[{"role":"user","content":"Hello"}]}`), false},
		{"TemperatureSetOrNot", oa(hello), oa(`{"model":"m","temperature":1,"messages":[{"role":"user","content":"Hello"}]}`), false},
		{"Seed", oa(`{"model":"m","seed":1,"messages":[{"role":"user","content":"Hello"}]}`),
			oa(`{"model":"m","seed":2,"messages":[{"role":"user","content":"Hello"}]}`), false},
		{"MaxTokens", oa(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Hello"}]}`), oa(hello), false},
		{"Stop", oa(`{"model":"m","stop":"x","messages":[{"role":"user","content":"Hello"}]}`), oa(hello), false},
		{"Tools", oa(openAIConversation), oa(replaceOnce(openAIConversation, `"Get weather"`, `"Get the weather"`)), false},
		{"ToolSchema", oa(openAIConversation), oa(replaceOnce(openAIConversation, `"required":["city"]`, `"required":[]`)), false},
		{"ToolCallID", oa(openAIConversation), oa(replaceAll(openAIConversation, "call_1", "call_2")), false},
		{"ToolArguments", oa(openAIConversation), oa(replaceOnce(openAIConversation, `\"Paris\"`, `\"Lyon\"`)), false},
		{"ToolChoice", oa(openAIConversation), oa(replaceOnce(openAIConversation, `"stop":`, `"tool_choice":"required","stop":`)), false},
		{"ResponseFormat", oa(hello), oa(`{"model":"m","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"Hello"}]}`), false},
		{"Image", oa(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}`),
			oa(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/b.png"}}]}]}`), false},
		{"UnknownExtra", oa(hello), oa(`{"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"Hello"}]}`), false},
		{"AudioPart", oa(`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`),
			oa(`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"BBBB","format":"wav"}}]}]}`), false},
		{"AnthropicDocument", an(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"A"}},{"type":"text","text":"Sum up"}]}]}`),
			an(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"B"}},{"type":"text","text":"Sum up"}]}]}`), false},
		{"AnthropicEffort", an(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`),
			an(`{"model":"m","max_tokens":5,"output_config":{"effort":"low"},"messages":[{"role":"user","content":"Hi"}]}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.a(t), tc.b(t)
			ka, kb := cache.Key("m", a), cache.Key("m", b)
			if a.Model != b.Model {
				ka, kb = cache.Key(a.Model, a), cache.Key(b.Model, b)
			}
			if got := ka == kb; got != tc.same {
				t.Fatalf("same key = %v, want %v", got, tc.same)
			}
		})
	}
	t.Run("Stable", func(t *testing.T) {
		// Extra is a map: its iteration order must not leak into the key.
		req := decodeOpenAI(t, `{"model":"m","a":1,"b":2,"c":3,"d":4,"e":5,"messages":[{"role":"user","content":"Hi"}]}`)
		first := cache.Key("m", req)
		for range 20 {
			if k := cache.Key("m", req); k != first {
				t.Fatal("two calls gave two keys")
			}
		}
	})
	t.Run("PublicNameNotBody", func(t *testing.T) {
		req := decodeOpenAI(t, hello)
		if cache.Key("route-a", req) == cache.Key("route-b", req) {
			t.Fatal("two public names share a key")
		}
	})
}

func TestCacheableRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  func(testing.TB) *provider.ChatRequest
		want bool
	}{
		{"Plain", func(tb testing.TB) *provider.ChatRequest { return decodeOpenAI(tb, openAIConversation) }, true},
		{"AnthropicPlain", func(tb testing.TB) *provider.ChatRequest { return decodeAnthropic(tb, anthropicConversation) }, true},
		{"AudioPart", func(tb testing.TB) *provider.ChatRequest {
			return decodeOpenAI(tb, `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`)
		}, false},
		{"AudioOutput", func(tb testing.TB) *provider.ChatRequest {
			return decodeOpenAI(tb, `{"model":"m","modalities":["text","audio"],"messages":[{"role":"user","content":"Hi"}]}`)
		}, false},
		{"Logprobs", func(tb testing.TB) *provider.ChatRequest {
			return decodeOpenAI(tb, `{"model":"m","logprobs":true,"messages":[{"role":"user","content":"Hi"}]}`)
		}, false},
		{"LogprobsOff", func(tb testing.TB) *provider.ChatRequest {
			return decodeOpenAI(tb, `{"model":"m","logprobs":false,"messages":[{"role":"user","content":"Hi"}]}`)
		}, true},
		{"Thinking", func(tb testing.TB) *provider.ChatRequest {
			return decodeAnthropic(tb, `{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"Hi"}]}`)
		}, false},
		{"ServerTool", func(tb testing.TB) *provider.ChatRequest {
			return decodeAnthropic(tb, `{"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"Hi"}]}`)
		}, false},
		{"ToolResultError", func(tb testing.TB) *provider.ChatRequest {
			return decodeAnthropic(tb, replaceOnce(anthropicConversation, `"content":"18C"`, `"content":"18C","is_error":true`))
		}, false},
		{"QuotedWordInText", func(tb testing.TB) *provider.ChatRequest {
			return decodeAnthropic(tb, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a \"document\" and a \"file\""}]}`)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cache.CacheableRequest(tc.req(t)); got != tc.want {
				t.Fatalf("CacheableRequest = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEmbeddingKey(t *testing.T) {
	dec := func(body string) *provider.EmbeddingRequest {
		t.Helper()
		req, err := openai.DecodeEmbeddingRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	base := dec(`{"model":"e","input":["a","b"]}`)
	for _, tc := range []struct {
		name string
		body string
		same bool
	}{
		{"Same", `{ "input" : ["a","b"], "model":"e" }`, true},
		{"EncodingFormatIgnored", `{"model":"e","input":["a","b"],"encoding_format":"base64"}`, true},
		{"UserIgnored", `{"model":"e","input":["a","b"],"user":"u"}`, true},
		{"Input", `{"model":"e","input":["a","c"]}`, false},
		{"InputOrder", `{"model":"e","input":["b","a"]}`, false},
		{"Dimensions", `{"model":"e","input":["a","b"],"dimensions":64}`, false},
		{"Tokens", `{"model":"e","input":[[1,2]]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cache.EmbeddingKey("e", dec(tc.body)) == cache.EmbeddingKey("e", base); got != tc.same {
				t.Fatalf("same key = %v, want %v", got, tc.same)
			}
		})
	}
	t.Run("NotAChatKey", func(t *testing.T) {
		chat := &provider.ChatRequest{}
		emb := &provider.EmbeddingRequest{}
		if cache.Key("m", chat) == cache.EmbeddingKey("m", emb) {
			t.Fatal("an empty chat and an empty embedding request share a key")
		}
	})
}

func TestScope(t *testing.T) {
	k := cache.Key("m", decodeOpenAI(t, `{"model":"m","messages":[{"role":"user","content":"Hello"}]}`))
	if cache.Scope(k, "user:1") == cache.Scope(k, "user:2") || cache.Scope(k, "user:1") == k {
		t.Fatal("scopes do not separate keys")
	}
	a, b := cache.Scope(k, "user:1"), cache.Scope(k, "user:1")
	if a != b {
		t.Fatal("scope is not stable")
	}
}

// replaceOnce replaces the first old in s, which must be there (a test
// whose edit did not apply would compare a request with itself).
func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replaceOnce: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

func replaceAll(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replaceAll: " + old + " not found")
	}
	return strings.ReplaceAll(s, old, new)
}
