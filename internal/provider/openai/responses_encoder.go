package openai

import (
	"strconv"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// ResponsesStreamEncoder turns canonical stream chunks into the Responses
// API's semantic SSE events ("event: <type>\ndata: <json>\n\n", with
// sequence_number counting from 0), in OpenAI's order: response.created and
// response.in_progress, then for each output item response.output_item.added,
// its content events and response.output_item.done, and finally
// response.completed (or response.incomplete) with the whole response
// object. Only the first choice is encoded. It is not safe for concurrent
// use.
type ResponsesStreamEncoder struct {
	req      *ResponsesRequest
	meta     ResponseMeta
	seq      int
	started  bool
	done     bool
	st       responseState
	cur      int         // index of the open item in st.items; -1 when none
	calls    map[int]int // canonical tool call index → item index
	finish   provider.FinishReason
	usage    provider.Usage
	hasUsage bool
	final    []byte
}

// NewResponsesStreamEncoder returns an encoder for the answer to req (which
// may be nil) described by meta.
func NewResponsesStreamEncoder(req *ResponsesRequest, meta ResponseMeta) *ResponsesStreamEncoder {
	return &ResponsesStreamEncoder{req: req, meta: meta, cur: -1, st: responseState{status: statusInProgress}}
}

// Start appends response.created and response.in_progress. Encode, Finish
// and Fail call it when it has not been called.
func (e *ResponsesStreamEncoder) Start(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	dst = e.responseEvent(dst, "response.created")
	return e.responseEvent(dst, "response.in_progress")
}

// Encode appends the events of one chunk: deltas of the open item, and the
// closing and opening of items when the chunk moves on to another kind of
// output (reasoning, text, another tool call).
func (e *ResponsesStreamEncoder) Encode(dst []byte, c *provider.StreamChunk) []byte {
	if e.done {
		return dst
	}
	dst = e.Start(dst)
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		if ch.Reasoning != "" {
			dst = e.open(dst, itemReasoning)
			dst = e.textDelta(dst, "response.reasoning_summary_text.delta", `,"summary_index":0`, ch.Reasoning)
		}
		if ch.Content != "" {
			dst = e.open(dst, itemMessage)
			dst = e.textDelta(dst, "response.output_text.delta", `,"content_index":0`, ch.Content)
		}
		for j := range ch.ToolCalls {
			dst = e.toolDelta(dst, &ch.ToolCalls[j])
		}
		if ch.FinishReason != "" {
			e.finish = ch.FinishReason
		}
	}
	if c.Usage != nil {
		e.usage, e.hasUsage = *c.Usage, true
	}
	return dst
}

// Finish closes the open item and appends response.completed, or
// response.incomplete when the answer was cut short. usage, when not nil,
// overrides what the chunks reported.
func (e *ResponsesStreamEncoder) Finish(dst []byte, usage *provider.Usage) []byte {
	if e.done {
		return dst
	}
	dst = e.Start(dst)
	e.st.setFinish(e.finish)
	dst = e.close(dst)
	if usage != nil {
		e.usage, e.hasUsage = *usage, true
	}
	if e.hasUsage {
		e.st.usage = &e.usage
	}
	e.st.completedAt = e.meta.CompletedAt
	e.done = true
	if e.st.status == statusIncomplete {
		return e.responseEvent(dst, "response.incomplete")
	}
	return e.responseEvent(dst, "response.completed")
}

// Fail appends response.failed with error {code, message}; before Start it
// appends an "error" event instead, as OpenAI does for a request that fails
// before its response exists.
func (e *ResponsesStreamEncoder) Fail(dst []byte, code, message string) []byte {
	if e.done {
		return dst
	}
	e.done = true
	if !e.started {
		dst = e.begin(dst, "error")
		dst = append(dst, `,"code":`...)
		dst = appendOptString(dst, code)
		dst = append(dst, `,"message":`...)
		dst = jsonscan.AppendString(dst, message)
		dst = append(dst, `,"param":null`...)
		return e.end(dst)
	}
	e.st.status, e.st.errCode, e.st.errMessage = statusFailed, code, message
	if e.hasUsage {
		e.st.usage = &e.usage
	}
	return e.responseEvent(dst, "response.failed")
}

// Response returns the final response object after Finish or Fail (nil
// before), for storage.
func (e *ResponsesStreamEncoder) Response() []byte { return e.final }

// begin starts an event of type typ: its SSE lines and the data's first
// members.
func (e *ResponsesStreamEncoder) begin(dst []byte, typ string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, int64(e.seq), 10)
	e.seq++
	return dst
}

func (e *ResponsesStreamEncoder) end(dst []byte) []byte { return append(dst, "}\n\n"...) }

// responseEvent appends an event carrying the response object as it stands.
func (e *ResponsesStreamEncoder) responseEvent(dst []byte, typ string) []byte {
	dst = e.begin(dst, typ)
	dst = append(dst, `,"response":`...)
	start := len(dst)
	dst = appendResponse(dst, e.req, e.meta, &e.st)
	if e.done {
		e.final = append([]byte(nil), dst[start:]...)
	}
	return e.end(dst)
}

// itemEvent begins an event about item i: its item_id and output_index.
func (e *ResponsesStreamEncoder) itemEvent(dst []byte, typ string, i int) []byte {
	dst = e.begin(dst, typ)
	dst = append(dst, `,"item_id":`...)
	dst = jsonscan.AppendString(dst, e.st.items[i].id)
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(i), 10)
}

// outputItemEvent appends response.output_item.added or .done for item i.
func (e *ResponsesStreamEncoder) outputItemEvent(dst []byte, typ string, i int, skeleton bool) []byte {
	dst = e.begin(dst, typ)
	dst = append(dst, `,"output_index":`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `,"item":`...)
	dst = appendItem(dst, &e.st.items[i], skeleton)
	return e.end(dst)
}

// open makes an item of kind the open one, closing another.
func (e *ResponsesStreamEncoder) open(dst []byte, kind string) []byte {
	if e.cur >= 0 && e.st.items[e.cur].kind == kind {
		return dst
	}
	dst = e.close(dst)
	return e.add(dst, outItem{kind: kind, id: NewItemID(kind)})
}

// add appends a new open item and its opening events.
func (e *ResponsesStreamEncoder) add(dst []byte, it outItem) []byte {
	it.status = statusInProgress
	e.st.items = append(e.st.items, it)
	i := len(e.st.items) - 1
	e.cur = i
	dst = e.outputItemEvent(dst, "response.output_item.added", i, true)
	switch it.kind {
	case itemMessage:
		dst = e.itemEvent(dst, "response.content_part.added", i)
		dst = append(dst, `,"content_index":0,"part":`...)
		dst = appendTextPart(dst, nil)
		dst = e.end(dst)
	case itemReasoning:
		dst = e.itemEvent(dst, "response.reasoning_summary_part.added", i)
		dst = append(dst, `,"summary_index":0,"part":`...)
		dst = appendSummaryPart(dst, nil)
		dst = e.end(dst)
	}
	return dst
}

// textDelta appends delta to the open item and its delta event.
func (e *ResponsesStreamEncoder) textDelta(dst []byte, typ, index, delta string) []byte {
	it := &e.st.items[e.cur]
	it.text = append(it.text, delta...)
	dst = e.itemEvent(dst, typ, e.cur)
	dst = append(dst, index...)
	dst = append(dst, `,"delta":`...)
	dst = jsonscan.AppendString(dst, delta)
	if it.kind == itemMessage {
		dst = append(dst, `,"logprobs":[]`...)
	}
	return e.end(dst)
}

// toolDelta opens a call item for a new call and streams its arguments.
// Custom tools' input is sent whole when the item closes, since the
// canonical arguments wrap it in JSON.
func (e *ResponsesStreamEncoder) toolDelta(dst []byte, d *provider.ToolCallDelta) []byte {
	i, ok := e.calls[d.Index]
	if !ok || d.ID != "" && d.ID != e.st.items[i].callID {
		dst = e.close(dst)
		callID := d.ID
		if callID == "" {
			callID = "call_" + NewItemID("")[len("item_"):]
		}
		it := callItem(e.req, callID, d.Name, "")
		it.text = nil
		dst = e.add(dst, it)
		i = e.cur
		if e.calls == nil {
			e.calls = make(map[int]int, 2)
		}
		e.calls[d.Index] = i
	}
	if d.Arguments == "" {
		return dst
	}
	it := &e.st.items[i]
	it.text = append(it.text, d.Arguments...)
	if i != e.cur || it.kind != itemFunctionCall {
		return dst
	}
	dst = e.itemEvent(dst, "response.function_call_arguments.delta", i)
	dst = append(dst, `,"delta":`...)
	dst = jsonscan.AppendString(dst, d.Arguments)
	return e.end(dst)
}

// close appends the closing events of the open item, if any.
func (e *ResponsesStreamEncoder) close(dst []byte) []byte {
	i := e.cur
	if i < 0 {
		return dst
	}
	e.cur = -1
	it := &e.st.items[i]
	it.status = e.st.itemStatus()
	switch it.kind {
	case itemMessage:
		dst = e.itemEvent(dst, "response.output_text.done", i)
		dst = append(dst, `,"content_index":0,"text":`...)
		dst = jsonscan.AppendString(dst, string(it.text))
		dst = append(dst, `,"logprobs":[]`...)
		dst = e.end(dst)
		dst = e.itemEvent(dst, "response.content_part.done", i)
		dst = append(dst, `,"content_index":0,"part":`...)
		dst = appendTextPart(dst, it.text)
		dst = e.end(dst)
	case itemReasoning:
		dst = e.itemEvent(dst, "response.reasoning_summary_text.done", i)
		dst = append(dst, `,"summary_index":0,"text":`...)
		dst = jsonscan.AppendString(dst, string(it.text))
		dst = e.end(dst)
		dst = e.itemEvent(dst, "response.reasoning_summary_part.done", i)
		dst = append(dst, `,"summary_index":0,"part":`...)
		dst = appendSummaryPart(dst, it.text)
		dst = e.end(dst)
	case itemFunctionCall:
		dst = e.itemEvent(dst, "response.function_call_arguments.done", i)
		dst = append(dst, `,"arguments":`...)
		dst = jsonscan.AppendString(dst, string(it.text))
		dst = e.end(dst)
	case itemCustomCall:
		it.text = []byte(customInput(string(it.text)))
		dst = e.itemEvent(dst, "response.custom_tool_call_input.delta", i)
		dst = append(dst, `,"delta":`...)
		dst = jsonscan.AppendString(dst, string(it.text))
		dst = e.end(dst)
		dst = e.itemEvent(dst, "response.custom_tool_call_input.done", i)
		dst = append(dst, `,"input":`...)
		dst = jsonscan.AppendString(dst, string(it.text))
		dst = e.end(dst)
	}
	return e.outputItemEvent(dst, "response.output_item.done", i, false)
}
