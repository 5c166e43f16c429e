package openai

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// maxEmbeddingInputs is how many inputs one embeddings request may carry.
const maxEmbeddingInputs = 2048

// DecodeEmbeddingRequest parses and validates an OpenAI embeddings request
// body: input as a string, an array of strings, an array of token IDs or an
// array of token arrays. Unknown members go to Extra. Errors are
// *chorus.Error with code EINVALID.
func DecodeEmbeddingRequest(body []byte) (*provider.EmbeddingRequest, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	req := &provider.EmbeddingRequest{Raw: body, RawFormat: provider.FormatOpenAI}
	var input []byte
	seen := make(map[string]bool, 4)
	err := jsonscan.EachMember(body, func(k []byte, escaped bool, v []byte) error {
		if escaped {
			return chorus.Invalid("", "Invalid request body: escaped characters in member names are not supported.")
		}
		key := string(k)
		if seen[key] {
			return chorus.Invalid(key, "Duplicate parameter: '%s' appears more than once.", key)
		}
		seen[key] = true
		if err := caseVariant(k, embeddingMembers); err != nil {
			return err
		}
		var err error
		switch key {
		case "model":
			req.Model, err = decodeString(at(key), v)
		case "input":
			input = v
		case "encoding_format":
			if isNull(v) {
				return nil
			}
			if req.EncodingFormat, err = decodeString(at(key), v); err == nil &&
				req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
				err = chorus.Invalid(key, "Invalid value: '%s'. Supported values are: 'float' and 'base64'.", req.EncodingFormat)
			}
		case "dimensions":
			req.Dimensions, err = decodeOptInt(key, v, 1, -1)
		case "user":
			if !isNull(v) {
				req.User, err = decodeString(at(key), v)
			}
		default:
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage)
			}
			req.Extra[key] = json.RawMessage(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, chorus.Invalid("model", "you must provide a model parameter")
	}
	if input == nil || isNull(input) {
		return nil, chorus.Invalid("input", "Missing required parameter: 'input'.")
	}
	if err := decodeEmbeddingInput(req, input); err != nil {
		return nil, err
	}
	return req, nil
}

func decodeEmbeddingInput(req *provider.EmbeddingRequest, v []byte) error {
	switch v[0] {
	case '"':
		s := jsonscan.Unquote(v)
		if s == "" {
			return chorus.Invalid("input", "Invalid 'input': empty string. Expected a non-empty string.")
		}
		req.Input = []string{s}
		return nil
	case '[':
	default:
		return errType(at("input"), "one of a string, array of strings, array of integers or array of integer arrays", v)
	}
	n := jsonscan.CountElements(v)
	switch {
	case n == 0:
		return chorus.Invalid("input", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	case n > maxEmbeddingInputs:
		return chorus.Invalid("input", "Invalid 'input': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxEmbeddingInputs, n)
	}
	first := v[jsonscan.SkipSpace(v, 1)]
	root := at("input")
	switch {
	case first == '"':
		req.Input = make([]string, 0, n)
		return jsonscan.EachElement(v, func(i int, e []byte) error {
			s, err := decodeString(root.elem(i), e)
			if err == nil && s == "" {
				p := root.elem(i).String()
				err = chorus.Invalid(p, "Invalid '%s': empty string. Expected a non-empty string.", p)
			}
			req.Input = append(req.Input, s)
			return err
		})
	case first == '[':
		req.InputTokens = make([][]int, 0, n)
		return jsonscan.EachElement(v, func(i int, e []byte) error {
			if e[0] != '[' {
				return errType(root.elem(i), "an array of integers", e)
			}
			toks, err := decodeTokens(root.elem(i), e)
			req.InputTokens = append(req.InputTokens, toks)
			return err
		})
	case isNumber(v[jsonscan.SkipSpace(v, 1):]):
		toks, err := decodeTokens(root, v)
		req.InputTokens = [][]int{toks}
		return err
	}
	return errType(root.elem(0), "one of a string, an integer or an array of integers", v[jsonscan.SkipSpace(v, 1):])
}

func decodeTokens(p path, v []byte) ([]int, error) {
	toks := make([]int, 0, jsonscan.CountElements(v))
	if cap(toks) == 0 {
		param := p.String()
		return nil, chorus.Invalid(param, "Invalid '%s': empty array. Expected an array with minimum length 1, but got an empty array instead.", param)
	}
	err := jsonscan.EachElement(v, func(i int, e []byte) error {
		if !isNumber(e) || strings.ContainsAny(string(e), ".eE") {
			return errType(p.elem(i), "an integer", e)
		}
		t, err := strconv.Atoi(string(e))
		if err != nil || t < 0 {
			param := p.elem(i).String()
			return chorus.Invalid(param, "Invalid '%s': expected a non-negative token ID, but got %s instead.", param, e)
		}
		toks = append(toks, t)
		return nil
	})
	return toks, err
}

// embeddingMembers are the members DecodeEmbeddingRequest reads.
var embeddingMembers = []string{"model", "input", "encoding_format", "dimensions", "user"}
