package orchestrate

import (
	"io"

	"github.com/chorusgw/chorus/internal/provider"
)

// Replay returns a stream that plays back a whole answer: per choice a role
// chunk, its text in pieces, its tool calls and its finish reason; then the
// usage. Cascades and ensembles must see whole answers to score them; this
// is how a streaming client still gets a stream.
func Replay(resp *provider.ChatResponse) provider.Stream {
	var chunks []*provider.StreamChunk
	add := func(cc provider.ChunkChoice) {
		chunks = append(chunks, &provider.StreamChunk{ID: resp.ID, Model: resp.Model, Created: resp.Created, Choices: []provider.ChunkChoice{cc}})
	}
	for _, c := range resp.Choices {
		add(provider.ChunkChoice{Index: c.Index, Role: provider.RoleAssistant})
		text := c.Message.Text()
		for len(text) > 0 {
			n := min(len(text), replayPiece)
			for n < len(text) && n > 0 && !runeStart(text[n]) {
				n++ // never split a UTF-8 sequence
			}
			add(provider.ChunkChoice{Index: c.Index, Content: text[:n]})
			text = text[n:]
		}
		if len(c.Message.ToolCalls) > 0 {
			deltas := make([]provider.ToolCallDelta, len(c.Message.ToolCalls))
			for i, tc := range c.Message.ToolCalls {
				deltas[i] = provider.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}
			}
			add(provider.ChunkChoice{Index: c.Index, ToolCalls: deltas})
		}
		add(provider.ChunkChoice{Index: c.Index, FinishReason: c.FinishReason})
	}
	u := resp.Usage
	chunks = append(chunks, &provider.StreamChunk{ID: resp.ID, Model: resp.Model, Created: resp.Created, Usage: &u})
	return &replay{chunks: chunks}
}

// replayPiece is the size of a replayed text chunk in bytes.
const replayPiece = 64

func runeStart(b byte) bool { return b&0xC0 != 0x80 }

type replay struct {
	chunks []*provider.StreamChunk
	i      int
}

func (r *replay) Next() (*provider.StreamChunk, error) {
	if r.i >= len(r.chunks) {
		return nil, io.EOF
	}
	c := r.chunks[r.i]
	r.i++
	return c, nil
}

func (r *replay) Close() error {
	r.i = len(r.chunks)
	return nil
}

// Ready reports that the next chunk is available without waiting.
func (r *replay) Ready() bool { return r.i < len(r.chunks) }

// Replayed returns a StreamResult that plays back an answer that did not
// come from an upstream call (a cached one). Finishing it only closes it.
func Replayed(resp *provider.ChatResponse) *StreamResult {
	st := Replay(resp)
	first, _ := st.Next()
	return &StreamResult{Stream: st, First: first, Tier: -1, replayed: true}
}
