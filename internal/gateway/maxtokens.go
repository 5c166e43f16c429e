package gateway

import (
	"fmt"
	"strconv"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// clampedHeader tells a client whose max_tokens was lowered to the model's
// ceiling (max_tokens_policy "clamp") what it asked and what was sent:
// "32000->8192".
const clampedHeader = "X-Chorus-Max-Tokens-Clamped"

// maxTokensFields are the members of a raw body, by its format, that carry
// the output limit. OpenAI's chat takes either name.
var maxTokensFields = map[provider.Format][]string{
	provider.FormatOpenAI:          {"max_tokens", "max_completion_tokens"},
	provider.FormatAnthropic:       {"max_tokens"},
	provider.FormatOpenAIResponses: {"max_output_tokens"},
}

// checkMaxTokens refuses, or clamps to ceiling, a request asking for more
// output tokens than ceiling, as the route's model says
// (chorus.Model.MaxTokensPolicy). A clamp lowers the canonical MaxTokens and
// the raw body forwarded to same-format upstreams, and is reported in
// clampedHeader.
func (x *exchange) checkMaxTokens(req *provider.ChatRequest, ceiling int) error {
	if req.MaxTokens == nil || *req.MaxTokens <= ceiling {
		return nil
	}
	asked := *req.MaxTokens
	if x.route.Model.MaxTokensPolicy != chorus.MaxTokensClamp {
		return chorus.Invalid("max_tokens", "max_tokens is too large: %d. This model supports at most %d completion tokens.", asked, ceiling)
	}
	if req.Raw != nil {
		raw, err := clampRaw(req.Raw, maxTokensFields[req.RawFormat], ceiling)
		if err != nil {
			return chorus.Invalid("", "could not rewrite max_tokens in the request body: %v", err)
		}
		req.Raw = raw
	}
	req.MaxTokens = &ceiling
	x.clamped = fmt.Sprintf("%d->%d", asked, ceiling)
	return nil
}

// clampRaw sets every member of fields present in body to ceiling, in
// place, leaving every other byte as it was. Of a member given more than
// once only the last copy (the one a last-wins decoder upstream reads) is
// kept, rewritten.
func clampRaw(body []byte, fields []string, ceiling int) ([]byte, error) {
	v := strconv.AppendInt(nil, int64(ceiling), 10)
	for _, f := range fields {
		n, err := countMembers(body, f)
		if err != nil {
			return nil, err
		}
		for ; n > 1; n-- {
			if body, err = jsonscan.DeleteField(body, f); err != nil {
				return nil, err
			}
		}
		if n == 1 {
			if body, err = jsonscan.SetField(body, f, v); err != nil {
				return nil, err
			}
		}
	}
	return body, nil
}

// countMembers returns how many top-level members of obj are named key.
func countMembers(obj []byte, key string) (int, error) {
	n := 0
	err := jsonscan.EachMember(obj, func(k []byte, _ bool, _ []byte) error {
		if string(k) == key {
			n++
		}
		return nil
	})
	return n, err
}
