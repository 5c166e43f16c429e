package openai

import (
	"strconv"
	"time"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// ResponseMeta is what a response object says about itself rather than the
// answer: its ID ("resp_…", see NewItemID), creation time (unix seconds)
// and the model as the client named it. CompletedAt (unix seconds) defaults
// to the time the object is written.
type ResponseMeta struct {
	ID          string
	CreatedAt   int64
	Model       string
	CompletedAt int64
}

// Response statuses.
const (
	statusInProgress = "in_progress"
	statusCompleted  = "completed"
	statusIncomplete = "incomplete"
	statusFailed     = "failed"
)

// outItem is one output item of a response being written.
type outItem struct {
	kind      string // itemMessage, itemFunctionCall, itemCustomCall or itemReasoning
	id        string
	status    string
	text      []byte // message text, reasoning summary, or arguments / custom input
	callID    string
	name      string
	namespace string
}

// responseState is a response object's answer-dependent part.
type responseState struct {
	status      string
	incomplete  string // incomplete_details.reason
	errCode     string
	errMessage  string
	items       []outItem
	usage       *provider.Usage
	completedAt int64
}

// AppendResponseObject appends the Responses "response" object for a
// complete canonical answer (its first choice): status completed, or
// incomplete with incomplete_details.reason max_output_tokens or
// content_filter when the finish reason says so. The request's parameters
// are echoed as OpenAI does; req may be nil.
func AppendResponseObject(dst []byte, resp *provider.ChatResponse, req *ResponsesRequest, meta ResponseMeta) []byte {
	st := responseState{status: statusCompleted, usage: &resp.Usage, completedAt: meta.CompletedAt}
	var finish provider.FinishReason
	if len(resp.Choices) > 0 {
		ch := &resp.Choices[0]
		finish = ch.FinishReason
		st.items = answerItems(&ch.Message, req)
	}
	st.setFinish(finish)
	for i := range st.items {
		st.items[i].status = st.itemStatus()
	}
	return appendResponse(dst, req, meta, &st)
}

// setFinish sets the status a finish reason implies.
func (st *responseState) setFinish(f provider.FinishReason) {
	switch f {
	case provider.FinishLength:
		st.status, st.incomplete = statusIncomplete, "max_output_tokens"
	case provider.FinishContentFilter:
		st.status, st.incomplete = statusIncomplete, "content_filter"
	default:
		st.status = statusCompleted
	}
}

// itemStatus is the status of a finished item in a response of st's status.
func (st *responseState) itemStatus() string {
	if st.status == statusIncomplete {
		return statusIncomplete
	}
	return statusCompleted
}

// answerItems makes output items of an answer: its reasoning, its text, then
// its tool calls.
func answerItems(m *provider.Message, req *ResponsesRequest) []outItem {
	var reasoning, text []byte
	for i := range m.Content {
		switch p := &m.Content[i]; p.Type {
		case provider.PartThinking:
			reasoning = append(reasoning, p.Text...)
		case provider.PartText:
			text = append(text, p.Text...)
		}
	}
	items := make([]outItem, 0, 2+len(m.ToolCalls))
	if len(reasoning) > 0 {
		items = append(items, outItem{kind: itemReasoning, id: NewItemID(itemReasoning), text: reasoning})
	}
	if len(text) > 0 || len(m.ToolCalls) == 0 {
		items = append(items, outItem{kind: itemMessage, id: NewItemID(itemMessage), text: text})
	}
	for _, tc := range m.ToolCalls {
		items = append(items, callItem(req, tc.ID, tc.Name, tc.Arguments))
	}
	return items
}

// callItem makes the output item of a canonical tool call, mapping the
// canonical name back to a custom or namespaced tool.
func callItem(req *ResponsesRequest, callID, name, args string) outItem {
	ref := toolRef{canonical: name, name: name}
	if req != nil {
		ref = req.tool(name)
	}
	it := outItem{kind: itemFunctionCall, callID: callID, name: ref.name, namespace: ref.namespace, text: []byte(args)}
	if ref.custom {
		it.kind = itemCustomCall
		it.text = []byte(customInput(args))
	}
	it.id = NewItemID(it.kind)
	return it
}

// appendItem appends an output item. A skeleton item (as
// response.output_item.added carries it) has no content yet.
func appendItem(dst []byte, it *outItem, skeleton bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendString(dst, it.id)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, it.kind...)
	dst = append(dst, '"')
	switch it.kind {
	case itemMessage:
		dst = appendStatus(dst, it.status)
		dst = append(dst, `,"content":[`...)
		if !skeleton {
			dst = appendTextPart(dst, it.text)
		}
		dst = append(dst, `],"role":"assistant"`...)
	case itemReasoning:
		dst = append(dst, `,"summary":[`...)
		if !skeleton {
			dst = appendSummaryPart(dst, it.text)
		}
		dst = append(dst, ']')
	case itemFunctionCall:
		dst = appendStatus(dst, it.status)
		dst = append(dst, `,"arguments":`...)
		dst = appendText(dst, it.text, skeleton)
		dst = appendCallHead(dst, it)
	case itemCustomCall:
		dst = append(dst, `,"input":`...)
		dst = appendText(dst, it.text, skeleton)
		dst = appendCallHead(dst, it)
	}
	return append(dst, '}')
}

func appendStatus(dst []byte, status string) []byte {
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	return append(dst, '"')
}

func appendText(dst, text []byte, empty bool) []byte {
	if empty {
		return append(dst, `""`...)
	}
	return jsonscan.AppendString(dst, string(text))
}

func appendCallHead(dst []byte, it *outItem) []byte {
	dst = append(dst, `,"call_id":`...)
	dst = jsonscan.AppendString(dst, it.callID)
	dst = append(dst, `,"name":`...)
	dst = jsonscan.AppendString(dst, it.name)
	if it.namespace != "" {
		dst = append(dst, `,"namespace":`...)
		dst = jsonscan.AppendString(dst, it.namespace)
	}
	return dst
}

func appendTextPart(dst, text []byte) []byte {
	dst = append(dst, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	dst = jsonscan.AppendString(dst, string(text))
	return append(dst, '}')
}

func appendSummaryPart(dst, text []byte) []byte {
	dst = append(dst, `{"type":"summary_text","text":`...)
	dst = jsonscan.AppendString(dst, string(text))
	return append(dst, '}')
}

// appendResponse appends a response object in the member order OpenAI
// writes, echoing the request's parameters (OpenAI's defaults when absent).
func appendResponse(dst []byte, req *ResponsesRequest, meta ResponseMeta, st *responseState) []byte {
	var echo [echoCount]raw
	if req != nil {
		echo = req.echo
	}
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendString(dst, meta.ID)
	dst = append(dst, `,"object":"response","created_at":`...)
	dst = strconv.AppendInt(dst, meta.CreatedAt, 10)
	dst = appendStatus(dst, st.status)
	dst = appendEcho(dst, "background", echo[echoBackground], "false")
	dst = append(dst, `,"completed_at":`...)
	if st.status == statusCompleted {
		at := st.completedAt
		if at == 0 {
			at = time.Now().Unix()
		}
		dst = strconv.AppendInt(dst, at, 10)
	} else {
		dst = append(dst, "null"...)
	}
	dst = appendResponseError(dst, st)
	dst = appendEcho(dst, "instructions", echo[echoInstructions], "null")
	dst = appendEcho(dst, "max_output_tokens", echo[echoMaxOutputTokens], "null")
	dst = appendEcho(dst, "max_tool_calls", echo[echoMaxToolCalls], "null")
	dst = append(dst, `,"model":`...)
	dst = jsonscan.AppendString(dst, meta.Model)
	dst = append(dst, `,"output":[`...)
	for i := range st.items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendItem(dst, &st.items[i], false)
	}
	dst = append(dst, ']')
	dst = appendEcho(dst, "parallel_tool_calls", echo[echoParallelToolCalls], "true")
	dst = appendEcho(dst, "previous_response_id", echo[echoPreviousResponseID], "null")
	dst = appendEcho(dst, "prompt_cache_key", echo[echoPromptCacheKey], "null")
	dst = appendEcho(dst, "reasoning", echo[echoReasoning], `{"effort":null,"summary":null}`)
	dst = appendEcho(dst, "safety_identifier", echo[echoSafetyIdentifier], "null")
	dst = appendEcho(dst, "service_tier", echo[echoServiceTier], `"default"`)
	dst = appendEcho(dst, "store", echo[echoStore], "true")
	dst = appendEcho(dst, "temperature", echo[echoTemperature], "1.0")
	dst = appendEcho(dst, "text", echo[echoText], `{"format":{"type":"text"},"verbosity":"medium"}`)
	dst = appendEcho(dst, "tool_choice", echo[echoToolChoice], `"auto"`)
	dst = appendEcho(dst, "tools", echo[echoTools], "[]")
	dst = appendEcho(dst, "top_logprobs", echo[echoTopLogprobs], "0")
	dst = appendEcho(dst, "top_p", echo[echoTopP], "1.0")
	dst = appendEcho(dst, "truncation", echo[echoTruncation], `"disabled"`)
	dst = append(dst, `,"usage":`...)
	dst = appendResponsesUsage(dst, st.usage)
	dst = appendEcho(dst, "user", echo[echoUser], "null")
	dst = appendEcho(dst, "metadata", echo[echoMetadata], "{}")
	return append(dst, '}')
}

// appendEcho appends ,"key": with the request's value, or def.
func appendEcho(dst []byte, key string, v raw, def string) []byte {
	dst = appendKey(dst, key, false)
	if v == nil {
		return append(dst, def...)
	}
	return append(dst, v...)
}

func appendResponseError(dst []byte, st *responseState) []byte {
	dst = append(dst, `,"error":`...)
	if st.status == statusFailed {
		dst = append(dst, `{"code":`...)
		dst = jsonscan.AppendString(dst, st.errCode)
		dst = append(dst, `,"message":`...)
		dst = jsonscan.AppendString(dst, st.errMessage)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"incomplete_details":`...)
	if st.incomplete == "" {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"reason":`...)
	dst = jsonscan.AppendString(dst, st.incomplete)
	return append(dst, '}')
}

// appendResponsesUsage appends a Responses usage object, or null.
func appendResponsesUsage(dst []byte, u *provider.Usage) []byte {
	if u == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.InputTokens), 10)
	dst = append(dst, `,"input_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedInputTokens), 10)
	dst = append(dst, `,"cache_write_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CacheWriteTokens), 10)
	dst = append(dst, `},"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.OutputTokens), 10)
	dst = append(dst, `,"output_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
	dst = append(dst, `},"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.Total()), 10)
	return append(dst, '}')
}
