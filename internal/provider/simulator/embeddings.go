package simulator

import (
	"context"
	"hash/fnv"
	"math"
	"strconv"

	"github.com/chorusgw/chorus/internal/provider"
)

// Embed returns a unit vector per input, derived from the input text and the
// seed, so equal texts get equal vectors.
func (c *Client) Embed(ctx context.Context, req *provider.EmbeddingRequest) (*provider.EmbeddingResponse, error) {
	_, fr := c.requestRNG(req.Model)
	if err := sleep(ctx, c.s.Latency); err != nil {
		return nil, err
	}
	if err := c.injectedError(&fr); err != nil {
		return nil, err
	}
	dims := c.s.Dimensions
	if req.Dimensions != nil && *req.Dimensions > 0 && *req.Dimensions < dims {
		dims = *req.Dimensions
	}
	inputs := req.Input
	if len(req.InputTokens) > 0 {
		inputs = make([]string, len(req.InputTokens))
		for i, toks := range req.InputTokens {
			for _, t := range toks {
				inputs[i] += strconv.Itoa(t) + " "
			}
		}
	}
	resp := &provider.EmbeddingResponse{Model: req.Model, Data: make([][]float32, len(inputs))}
	for i, in := range inputs {
		resp.Data[i] = c.vector(in, dims)
		if len(req.InputTokens) > 0 {
			resp.Usage.InputTokens += len(req.InputTokens[i])
		} else {
			resp.Usage.InputTokens += provider.EstimateTokens(in)
		}
	}
	return resp, nil
}

func (c *Client) vector(text string, dims int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	r := rng(h.Sum64() ^ c.s.Seed)
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		x := r.float()*2 - 1
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}
