package anthropic

import (
	"strconv"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// StreamEncoder turns canonical stream chunks from any provider into the
// event sequence of an Anthropic stream: message_start; for each run of
// reasoning (when the client asked for thinking), each run of text and each
// tool call a content block (content_block_start, deltas,
// content_block_stop), one block open at a time, indices consecutive;
// message_delta with the stop reason and usage; message_stop. Only choice 0
// is encoded: Anthropic answers have one. Chunks' Raw bytes are ignored; a
// same-format stream is relayed from Raw without an encoder.
//
// message_start reports the prompt's tokens as Anthropic's does: the first
// chunk's usage when it has one (Gemini reports usage on every chunk),
// otherwise the count given to WithInputTokens. message_delta then reports
// the upstream's final counts.
//
// A StreamEncoder is for one stream and is not safe for concurrent use.
type StreamEncoder struct {
	model    string
	id       string
	inputEst int  // the prompt's tokens when no chunk reports them
	thinking bool // encode reasoning as thinking blocks
	started  bool
	ended    bool // message_delta written
	stopped  bool // message_stop written

	open     blockKind   // the kind of the open content block, if any
	next     int         // index of the next content block
	tools    map[int]int // canonical tool call index → content block index
	finish   provider.FinishReason
	stopSeq  string
	usage    *provider.Usage
	startUse provider.Usage // what message_start reported
}

// blockKind is the kind of an open content block.
type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockTool
)

// NewStreamEncoder returns an encoder for one stream. model is the model
// name to report (the one the client asked for); when empty, the first
// chunk's model is used.
func NewStreamEncoder(model string) *StreamEncoder {
	return &StreamEncoder{model: model}
}

// WithInputTokens sets the prompt's token count that message_start reports
// when the first chunk carries no usage (OpenAI-style streams report usage
// only at the end), and that message_delta reports if the upstream never
// does. It returns e.
func (e *StreamEncoder) WithInputTokens(n int) *StreamEncoder {
	e.inputEst = n
	return e
}

// WithThinking makes the encoder write the upstream's reasoning as thinking
// blocks, for a client that asked for thinking (see ThinkingRequested);
// otherwise reasoning is left out, as Anthropic sends none then. It returns e.
func (e *StreamEncoder) WithThinking(on bool) *StreamEncoder {
	e.thinking = on
	return e
}

// Encode appends the events c calls for to dst. A finish reason closes the
// open block; message_delta is written once both the finish reason and the
// usage are known (OpenAI-style streams report usage in a later chunk), or
// by Finish.
func (e *StreamEncoder) Encode(dst []byte, c *provider.StreamChunk) []byte {
	if e.stopped {
		return dst
	}
	if !e.started {
		dst = e.start(dst, c)
	}
	if c.Usage != nil {
		u := *c.Usage
		e.usage = &u
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 || e.ended {
			continue
		}
		if ch.Reasoning != "" && e.thinking {
			dst = e.delta(dst, blockThinking, ch.Reasoning)
		}
		if ch.Content != "" {
			dst = e.delta(dst, blockText, ch.Content)
		}
		for j := range ch.ToolCalls {
			dst = e.toolCall(dst, &ch.ToolCalls[j])
		}
		if ch.FinishReason != "" {
			e.finish, e.stopSeq = ch.FinishReason, ch.StopSequence
			dst = e.closeBlock(dst)
		}
	}
	if e.finish != "" && e.usage != nil && !e.ended {
		dst = e.messageDelta(dst)
	}
	return dst
}

// Finish appends what is left of the stream: message_start if nothing was
// encoded, the open block's stop, message_delta if not yet written (with
// usage, when non-nil, overriding what the chunks reported) and
// message_stop. Later calls append nothing.
func (e *StreamEncoder) Finish(dst []byte, usage *provider.Usage) []byte {
	if e.stopped {
		return dst
	}
	if !e.started {
		dst = e.start(dst, &provider.StreamChunk{})
	}
	dst = e.closeBlock(dst)
	if usage != nil {
		u := *usage
		e.usage = &u
	}
	if !e.ended {
		dst = e.messageDelta(dst)
	}
	e.stopped = true
	return appendEvent(dst, "message_stop", []byte(`{"type":"message_stop"}`))
}

// AppendPing appends a ping event, which Anthropic streams send to keep a
// quiet connection alive.
func AppendPing(dst []byte) []byte {
	return appendEvent(dst, "ping", []byte(`{"type":"ping"}`))
}

func (e *StreamEncoder) start(dst []byte, c *provider.StreamChunk) []byte {
	e.started = true
	e.id = MessageID(c.ID)
	if e.model == "" {
		e.model = c.Model
	}
	e.startUse = provider.Usage{InputTokens: e.inputEst}
	if u := c.Usage; u != nil && u.InputTokens > 0 {
		e.startUse = provider.Usage{InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens}
	}
	dst = append(dst, "event: message_start\ndata: "...)
	dst = append(dst, `{"type":"message_start","message":{"id":`...)
	dst = jsonscan.AppendString(dst, e.id)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonscan.AppendString(dst, e.model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	dst = appendUsage(dst, e.startUse)
	return append(dst, "}}\n\n"...)
}

// delta appends text or reasoning to the open block of its kind, opening
// one (and closing any other) first.
func (e *StreamEncoder) delta(dst []byte, kind blockKind, text string) []byte {
	if e.open != kind {
		dst = e.closeBlock(dst)
		if kind == blockThinking {
			dst = e.blockStart(dst, []byte(`{"type":"thinking","thinking":"","signature":""}`))
		} else {
			dst = e.blockStart(dst, []byte(`{"type":"text","text":""}`))
		}
		e.open = kind
	}
	dst = e.deltaHead(dst, e.next-1)
	if kind == blockThinking {
		dst = append(dst, `{"type":"thinking_delta","thinking":`...)
	} else {
		dst = append(dst, `{"type":"text_delta","text":`...)
	}
	dst = jsonscan.AppendString(dst, text)
	return append(dst, "}}\n\n"...)
}

// toolCall encodes one tool call delta. A delta naming a call not seen yet
// opens its block (input {}, the arguments following as input_json_delta);
// arguments go to the call's block, even when another block was opened
// since (rare interleaving; clients accumulate by index).
func (e *StreamEncoder) toolCall(dst []byte, d *provider.ToolCallDelta) []byte {
	block, seen := e.tools[d.Index]
	if !seen {
		dst = e.closeBlock(dst)
		head := append([]byte(nil), `{"type":"tool_use","id":`...)
		head = jsonscan.AppendString(head, toolUseID(d.ID, d.Index))
		head = append(head, `,"name":`...)
		head = jsonscan.AppendString(head, d.Name)
		head = append(head, `,"input":{}}`...)
		block = e.next
		dst = e.blockStart(dst, head)
		e.open = blockTool
		if e.tools == nil {
			e.tools = make(map[int]int)
		}
		e.tools[d.Index] = block
	}
	if d.Arguments == "" {
		return dst
	}
	dst = e.deltaHead(dst, block)
	dst = append(dst, `{"type":"input_json_delta","partial_json":`...)
	dst = jsonscan.AppendString(dst, d.Arguments)
	return append(dst, "}}\n\n"...)
}

func (e *StreamEncoder) blockStart(dst, block []byte) []byte {
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(e.next), 10)
	dst = append(dst, `,"content_block":`...)
	dst = append(dst, block...)
	e.next++
	return append(dst, "}\n\n"...)
}

func (e *StreamEncoder) deltaHead(dst []byte, index int) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, `,"delta":`...)
}

func (e *StreamEncoder) closeBlock(dst []byte) []byte {
	if e.open == blockNone {
		return dst
	}
	e.open = blockNone
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(e.next-1), 10)
	return append(dst, "}\n\n"...)
}

// messageDelta writes the stop reason and the whole usage, as Anthropic's
// final counts: the upstream's, or, when it reported none, what
// message_start said with no output.
func (e *StreamEncoder) messageDelta(dst []byte) []byte {
	e.ended = true
	u := e.startUse
	if e.usage != nil {
		u = *e.usage
	}
	dst = append(dst, "event: message_delta\ndata: "...)
	dst = append(dst, `{"type":"message_delta","delta":{`...)
	dst = appendStop(dst, e.finish, e.stopSeq)
	dst = append(dst, `},"usage":`...)
	dst = appendUsage(dst, u)
	return append(dst, "}\n\n"...)
}

// appendEvent appends one SSE frame; data must be one line of JSON.
func appendEvent(dst []byte, event string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, event...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}
