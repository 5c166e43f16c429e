package cache

import (
	"strings"

	"github.com/chorusgw/chorus/internal/provider"
)

// Recorder rebuilds a whole answer from a stream's chunks, so a streamed
// answer can be stored (and shared with waiting identical requests) once it
// completes. It gives up, and Response says so, once the answer passes
// maxBytes of text.
type Recorder struct {
	resp     provider.ChatResponse
	choices  []*recordedChoice
	bytes    int
	maxBytes int
}

type recordedChoice struct {
	index  int
	role   string
	text   strings.Builder
	calls  []provider.ToolCall
	finish provider.FinishReason
}

// NewRecorder returns a recorder that gives up past maxBytes of text and
// tool call arguments (0: no limit).
func NewRecorder(maxBytes int) *Recorder { return &Recorder{maxBytes: maxBytes} }

// Add records one chunk. Chunks with no canonical content (pings, raw-only
// events) change nothing.
func (r *Recorder) Add(c *provider.StreamChunk) {
	if r.over() {
		return
	}
	if r.resp.ID == "" {
		r.resp.ID = c.ID
	}
	if r.resp.Model == "" {
		r.resp.Model = c.Model
	}
	if r.resp.Created == 0 {
		r.resp.Created = c.Created
	}
	if c.Usage != nil {
		r.resp.Usage = *c.Usage
	}
	for i := range c.Choices {
		r.addChoice(&c.Choices[i])
	}
}

func (r *Recorder) addChoice(cc *provider.ChunkChoice) {
	ch := r.choice(cc.Index)
	if cc.Role != "" {
		ch.role = cc.Role
	}
	ch.text.WriteString(cc.Content)
	r.bytes += len(cc.Content)
	for _, d := range cc.ToolCalls {
		for len(ch.calls) <= d.Index {
			ch.calls = append(ch.calls, provider.ToolCall{})
		}
		tc := &ch.calls[d.Index]
		if d.ID != "" {
			tc.ID = d.ID
		}
		if d.Name != "" {
			tc.Name = d.Name
		}
		tc.Arguments += d.Arguments
		r.bytes += len(d.Arguments) + len(d.Name)
	}
	if cc.FinishReason != "" {
		ch.finish = cc.FinishReason
	}
}

func (r *Recorder) choice(index int) *recordedChoice {
	for _, c := range r.choices {
		if c.index == index {
			return c
		}
	}
	c := &recordedChoice{index: index}
	r.choices = append(r.choices, c)
	return c
}

func (r *Recorder) over() bool { return r.maxBytes > 0 && r.bytes > r.maxBytes }

// Response returns the recorded answer; ok is false if the recorder gave
// up or the answer is not one to store (see CacheableResponse). Call it
// only after the stream ended cleanly (io.EOF): a stream cut short may
// still have a finish reason on every choice it started.
func (r *Recorder) Response() (resp *provider.ChatResponse, ok bool) {
	if r.over() || len(r.choices) == 0 {
		return nil, false
	}
	out := r.resp
	out.Choices = make([]provider.Choice, len(r.choices))
	for i, c := range r.choices {
		role := c.role
		if role == "" {
			role = provider.RoleAssistant
		}
		m := provider.Message{Role: role, ToolCalls: c.calls}
		if c.text.Len() > 0 || len(c.calls) == 0 {
			m.Content, m.TextOnly = []provider.Part{{Type: provider.PartText, Text: c.text.String()}}, true
		}
		out.Choices[i] = provider.Choice{Index: c.index, Message: m, FinishReason: c.finish}
	}
	if !CacheableResponse(&out) {
		return nil, false
	}
	return &out, true
}
