package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// mutant is an adapter broken on purpose: the OpenAI adapter with one
// behaviour wrong. The suite must fail it, in the named subtest.
type mutant struct {
	name    string
	subtest string
	request func(r *provider.ChatRequest)  // changes what is sent
	answer  func(r *provider.ChatResponse) // changes what is returned
	chunk   func(c *provider.StreamChunk)  // changes each streamed chunk
	err     func(err error) error          // changes returned errors
	ctx     func(ctx context.Context) context.Context
	embed   func(r *provider.EmbeddingResponse)
	retries bool // sends a failed request a second time
	drain   bool // reads the stream to its end on Close
}

var mutants = []mutant{
	{name: "DropsUsage", subtest: "ChatText", answer: func(r *provider.ChatResponse) { r.Usage = provider.Usage{} }},
	{name: "DropsSystem", subtest: "ChatText", request: func(r *provider.ChatRequest) {
		r.Messages = r.Messages[1:]
	}},
	{name: "IgnoresTemperature", subtest: "ChatText", request: func(r *provider.ChatRequest) { r.Temperature = nil }},
	{name: "DropsStop", subtest: "ChatText", request: func(r *provider.ChatRequest) { r.Stop = nil }},
	{name: "NoRaw", subtest: "ChatText", answer: func(r *provider.ChatResponse) { r.Raw = nil }},
	{name: "WrongFinish", subtest: "ChatTools", answer: func(r *provider.ChatResponse) {
		for i := range r.Choices {
			r.Choices[i].FinishReason = provider.FinishStop
		}
	}},
	{name: "LosesToolCallIDs", subtest: "ChatTools", answer: func(r *provider.ChatResponse) {
		for i := range r.Choices {
			for j := range r.Choices[i].Message.ToolCalls {
				r.Choices[i].Message.ToolCalls[j].ID = ""
			}
		}
	}},
	{name: "DropsOneTool", subtest: "ChatTools", request: func(r *provider.ChatRequest) { r.Tools = r.Tools[:1] }},
	{name: "DropsToolResultID", subtest: "ChatToolResults", request: func(r *provider.ChatRequest) {
		for i := range r.Messages {
			if r.Messages[i].Role == provider.RoleTool {
				r.Messages[i].Role = provider.RoleUser
			}
		}
	}},
	{name: "UsageTwice", subtest: "StreamText", chunk: func(c *provider.StreamChunk) {
		if c.Usage == nil {
			c.Usage = &provider.Usage{}
		}
	}},
	{name: "DropsContent", subtest: "StreamText", chunk: func(c *provider.StreamChunk) {
		for i := range c.Choices {
			c.Choices[i].Content = strings.TrimSpace(c.Choices[i].Content)
		}
	}},
	{name: "ToolArgsLost", subtest: "StreamTools", chunk: func(c *provider.StreamChunk) {
		for i := range c.Choices {
			for j := range c.Choices[i].ToolCalls {
				if c.Choices[i].ToolCalls[j].ID == "" {
					c.Choices[i].ToolCalls[j].Arguments = ""
				}
			}
		}
	}},
	{name: "PlainErrors", subtest: "Errors", err: func(err error) error { return fmt.Errorf("upstream: %v", err) }},
	{name: "WrongStatus", subtest: "Errors", err: func(err error) error {
		var pe *provider.Error
		if errors.As(err, &pe) {
			pe.Status = http.StatusBadGateway
		}
		return err
	}},
	{name: "Retries", subtest: "Errors", retries: true},
	{name: "SwallowsMidStreamError", subtest: "MidStreamError", err: func(err error) error { return io.EOF }},
	{name: "IgnoresContext", subtest: "Cancel", ctx: func(context.Context) context.Context { return context.Background() }},
	{name: "DrainsOnClose", subtest: "Cancel", drain: true},
	{name: "DropsImages", subtest: "Images", request: func(r *provider.ChatRequest) {
		for i := range r.Messages {
			r.Messages[i].Content = r.Messages[i].Content[:1]
		}
	}},
	{name: "SwapsVectors", subtest: "Embeddings", embed: func(r *provider.EmbeddingResponse) {
		r.Data[0], r.Data[1] = r.Data[1], r.Data[0]
	}},
	{name: "IgnoresRaw", subtest: "Passthrough", request: func(r *provider.ChatRequest) { r.Raw, r.RawFormat = nil, "" }},
}

// TestSuiteFailsBrokenAdapters runs the suite's relevant subtest against
// each mutant in a child process and requires it to fail there, so a suite
// change that stops checking something is caught.
func TestSuiteFailsBrokenAdapters(t *testing.T) {
	if os.Getenv("CONFORMANCE_MUTANT") != "" {
		t.Skip("inside a mutant run")
	}
	if testing.Short() {
		t.Skip("starts a child process per mutant")
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$/^"+m.subtest+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "CONFORMANCE_MUTANT="+m.name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed an adapter broken by %s:\n%s", m.name, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutant/"+m.subtest) {
				t.Errorf("the run failed, but not in %s:\n%s", m.subtest, out)
			}
		})
	}
}

// TestMutant is the child process of TestSuiteFailsBrokenAdapters; without
// CONFORMANCE_MUTANT it runs the suite against the unbroken wrapper, which
// must pass.
func TestMutant(t *testing.T) {
	m := mutant{name: "None"}
	if name := os.Getenv("CONFORMANCE_MUTANT"); name != "" {
		for _, mm := range mutants {
			if mm.name == name {
				m = mm
			}
		}
		if m.name != name {
			t.Fatalf("unknown mutant %q", name)
		}
	}
	conformance.Run(t, conformance.Harness{
		Name:    "openai-" + m.name,
		Format:  provider.FormatOpenAI,
		NewFake: func(t *testing.T) conformance.Fake { return openaitest.New(t) },
		NewProvider: func(t *testing.T, baseURL string) provider.Provider {
			c, err := openai.New(provider.Config{BaseURL: baseURL, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			return &broken{next: c, m: m}
		},
		Embeddings: true,
		Images:     true,
	})
}

type broken struct {
	next *openai.Client
	m    mutant
}

func (b *broken) prepare(ctx context.Context, req *provider.ChatRequest) (context.Context, *provider.ChatRequest) {
	if b.m.ctx != nil {
		ctx = b.m.ctx(ctx)
	}
	if b.m.request != nil {
		r := *req
		r.Messages = append([]provider.Message(nil), req.Messages...)
		b.m.request(&r)
		req = &r
	}
	return ctx, req
}

func (b *broken) fail(err error) error {
	if err != nil && b.m.err != nil {
		return b.m.err(err)
	}
	return err
}

func (b *broken) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	ctx, req = b.prepare(ctx, req)
	resp, err := b.next.Chat(ctx, req)
	if err != nil && b.m.retries {
		resp, err = b.next.Chat(ctx, req)
	}
	if err == nil && b.m.answer != nil {
		b.m.answer(resp)
	}
	return resp, b.fail(err)
}

func (b *broken) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	ctx, req = b.prepare(ctx, req)
	s, err := b.next.ChatStream(ctx, req)
	if err != nil && b.m.retries {
		s, err = b.next.ChatStream(ctx, req)
	}
	if err != nil {
		return nil, b.fail(err)
	}
	return &brokenStream{next: s, b: b}, nil
}

func (b *broken) Embed(ctx context.Context, req *provider.EmbeddingRequest) (*provider.EmbeddingResponse, error) {
	resp, err := b.next.Embed(ctx, req)
	if err == nil && b.m.embed != nil {
		b.m.embed(resp)
	}
	return resp, b.fail(err)
}

type brokenStream struct {
	next provider.Stream
	b    *broken
}

func (s *brokenStream) Next() (*provider.StreamChunk, error) {
	c, err := s.next.Next()
	if err == io.EOF {
		return nil, err
	}
	if err != nil {
		return nil, s.b.fail(err)
	}
	if s.b.m.chunk != nil {
		s.b.m.chunk(c)
	}
	return c, nil
}

func (s *brokenStream) Close() error {
	if s.b.m.drain {
		for {
			if _, err := s.next.Next(); err != nil {
				break
			}
		}
	}
	return s.next.Close()
}
