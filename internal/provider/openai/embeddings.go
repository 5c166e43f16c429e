package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Embed sends an embeddings request. A body that came from an OpenAI client
// is forwarded with only the model rewritten.
func (c *Client) Embed(ctx context.Context, req *provider.EmbeddingRequest) (*provider.EmbeddingResponse, error) {
	var body []byte
	var err error
	if req.RawFormat == provider.FormatOpenAI && req.Raw != nil {
		body, err = rewriteModel(req.Raw, req.Model)
	} else {
		body = appendEmbeddingRequest(make([]byte, 0, 256), req)
	}
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.endpoint("embeddings", req.Model), body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, provider.TransportError(c.kind, ctx, err)
	}
	out, err := parseEmbeddingResponse(raw)
	if err != nil {
		return nil, c.badAnswer(err)
	}
	out.Raw, out.RawFormat = raw, provider.FormatOpenAI
	return out, nil
}

func appendEmbeddingRequest(b []byte, r *provider.EmbeddingRequest) []byte {
	b = append(b, `{"model":`...)
	b = jsonscan.AppendString(b, r.Model)
	b = append(b, `,"input":`...)
	if len(r.InputTokens) > 0 {
		b = append(b, '[')
		for i, toks := range r.InputTokens {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for j, t := range toks {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendInt(b, int64(t))
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	} else {
		b = appendStrings(b, r.Input)
	}
	if r.Dimensions != nil {
		b = append(b, `,"dimensions":`...)
		b = appendInt(b, int64(*r.Dimensions))
	}
	if r.EncodingFormat != "" {
		b = append(b, `,"encoding_format":`...)
		b = jsonscan.AppendString(b, r.EncodingFormat)
	}
	if r.User != "" {
		b = append(b, `,"user":`...)
		b = jsonscan.AppendString(b, r.User)
	}
	if r.RawFormat == "" || r.RawFormat == provider.FormatOpenAI {
		b = appendExtra(b, r.Extra, isEmbeddingMember)
	}
	return append(b, '}')
}

func isEmbeddingMember(k string) bool {
	switch k {
	case "model", "input", "dimensions", "encoding_format", "user":
		return true
	}
	return false
}

// parseEmbeddingResponse reads an embeddings list whose vectors are float
// arrays or base64 strings of little-endian float32s, placing each by its
// index.
func parseEmbeddingResponse(raw []byte) (*provider.EmbeddingResponse, error) {
	if !jsonscan.Valid(raw) || raw[jsonscan.SkipSpace(raw, 0)] != '{' {
		return nil, jsonscan.ErrSyntax
	}
	r := &provider.EmbeddingResponse{}
	var data []byte
	_ = jsonscan.EachMember(raw, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "model":
			r.Model = str(v)
		case "data":
			data = v
		case "usage":
			r.Usage.InputTokens = numMember(v, "prompt_tokens")
		}
		return nil
	})
	if data == nil || data[0] != '[' {
		return nil, fmt.Errorf("embeddings answer has no data list")
	}
	r.Data = make([][]float32, jsonscan.CountElements(data))
	err := jsonscan.EachElement(data, func(i int, e []byte) error {
		idx, vec, err := parseEmbedding(i, e)
		if err != nil {
			return err
		}
		if idx < 0 || idx >= len(r.Data) || r.Data[idx] != nil {
			return fmt.Errorf("embedding index %d out of range or repeated", idx)
		}
		r.Data[idx] = vec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func parseEmbedding(i int, v []byte) (int, []float32, error) {
	if v[0] != '{' {
		return 0, nil, fmt.Errorf("embedding %d is not an object", i)
	}
	idx := i
	var vec []float32
	var err error
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "index":
			idx = num(mv)
		case "embedding":
			switch mv[0] {
			case '[':
				vec, err = parseFloats(mv)
			case '"':
				vec, err = decodeBase64Floats(jsonscan.Unquote(mv))
			default:
				err = fmt.Errorf("embedding %d has no vector", i)
			}
		}
		return nil
	})
	if err == nil && vec == nil {
		err = fmt.Errorf("embedding %d has no vector", i)
	}
	return idx, vec, err
}

func parseFloats(v []byte) ([]float32, error) {
	out := make([]float32, 0, jsonscan.CountElements(v))
	err := jsonscan.EachElement(v, func(_ int, e []byte) error {
		f, err := strconv.ParseFloat(string(e), 32)
		out = append(out, float32(f))
		return err
	})
	return out, err
}

func decodeBase64Floats(s string) ([]float32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("embedding base64: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("embedding base64: %d bytes is not a float32 vector", len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return out, nil
}
