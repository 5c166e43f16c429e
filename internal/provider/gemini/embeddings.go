package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// Embed sends every input in one models/{model}:batchEmbedContents call.
//
// Gemini's embedding endpoint historically reports no token counts; only
// newer embedding models add usageMetadata. When it is absent, the input
// tokens are estimated: one token per four bytes of each input, rounded up,
// summed over the inputs (OpenAI's rule of thumb for English). Gemini's
// tokenizer is not available offline, and the estimate is what gets billed.
func (c *Client) Embed(ctx context.Context, req *provider.EmbeddingRequest) (*provider.EmbeddingResponse, error) {
	if len(req.InputTokens) > 0 {
		return nil, &chorus.Error{Code: chorus.ENOTSUPPORTED, Param: "input",
			Message: "Gemini embeddings take text inputs, not token arrays"}
	}
	if len(req.Input) == 0 {
		return nil, chorus.Invalid("input", "input must not be empty")
	}
	name := req.Model
	if !strings.Contains(name, "/") {
		name = "models/" + name
	}
	g := batchEmbedRequest{Requests: make([]embedRequest, len(req.Input))}
	for i, text := range req.Input {
		if text == "" {
			return nil, chorus.Invalid("input", "input %d is an empty string", i)
		}
		g.Requests[i] = embedRequest{
			Model:                name,
			Content:              content{Parts: []part{{Text: text}}},
			OutputDimensionality: req.Dimensions,
		}
	}
	body, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("gemini: encode embeddings request: %w", err)
	}
	resp, err := c.post(ctx, c.endpoint(req.Model, "batchEmbedContents"), body, false)
	if err != nil {
		return nil, err
	}
	raw, err := readBody(ctx, resp)
	if err != nil {
		return nil, err
	}
	return parseEmbeddings(raw, req)
}

// parseEmbeddings decodes a batchEmbedContents body: one embedding per
// request, in request order.
func parseEmbeddings(raw []byte, req *provider.EmbeddingRequest) (*provider.EmbeddingResponse, error) {
	var g batchEmbedResponse
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, invalidResponse(err)
	}
	if len(g.Embeddings) != len(req.Input) {
		return nil, invalidResponse(fmt.Errorf("%d embeddings for %d inputs", len(g.Embeddings), len(req.Input)))
	}
	out := &provider.EmbeddingResponse{
		Model:     req.Model,
		Data:      make([][]float32, len(g.Embeddings)),
		Raw:       raw,
		RawFormat: provider.FormatGemini,
	}
	for i, e := range g.Embeddings {
		out.Data[i] = e.Values
	}
	if g.UsageMetadata != nil && g.UsageMetadata.PromptTokenCount > 0 {
		out.Usage.InputTokens = g.UsageMetadata.PromptTokenCount
	} else {
		out.Usage.InputTokens = estimateTokens(req.Input)
	}
	return out, nil
}

// estimateTokens is one token per four bytes of each input, rounded up.
func estimateTokens(inputs []string) int {
	n := 0
	for _, s := range inputs {
		n += (len(s) + 3) / 4
	}
	return n
}
