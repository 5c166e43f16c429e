package openai

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/chorusgw/chorus/internal/jsonscan"
)

// WithHistory prepends conversation items (the previous responses' input and
// output items, oldest first) to the request. Chat.Messages are rebuilt
// (instructions first as a system message, then history, then Input), and
// Chat.Raw becomes the body a Responses upstream can take without the
// previous response: "input" is history followed by Input, and
// "previous_response_id" is removed. Input itself is unchanged.
func (r *ResponsesRequest) WithHistory(items []json.RawMessage) error {
	if err := r.rebuild(items); err != nil {
		return err
	}
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	for _, it := range r.Input {
		n += len(it) + 1
	}
	arr := make([]byte, 0, n)
	arr = append(arr, '[')
	for i, it := range slices.Concat(items, r.Input) {
		if i > 0 {
			arr = append(arr, ',')
		}
		arr = appendPassthroughItem(arr, it)
	}
	arr = append(arr, ']')
	body, err := jsonscan.SetField(r.Chat.Raw, "input", arr)
	if err == nil {
		body, err = jsonscan.DeleteField(body, "previous_response_id")
	}
	if err != nil {
		return fmt.Errorf("openai: responses history: %w", err)
	}
	r.Chat.Raw = body
	return nil
}

// appendPassthroughItem appends an item as a Responses upstream takes it
// back: input messages and tool outputs lose the ids Chorus gave them (the
// API's input messages have no id, and an unknown id may not be looked up);
// every other item keeps its id, which links reasoning to what followed it.
func appendPassthroughItem(dst []byte, item []byte) []byte {
	f := readItem(item)
	typ, role := str(f.typ), str(f.role)
	strip := typ == itemFunctionCallOutput || typ == itemCustomCallOutput ||
		(typ == "" || typ == itemMessage) && role != "assistant"
	if strip && f.id != nil {
		if out, err := jsonscan.DeleteField(item, "id"); err == nil {
			return append(dst, out...)
		}
	}
	return append(dst, item...)
}

// OutputItems returns the items of a response object's "output" array, for
// conversation storage and history.
func OutputItems(responseObject []byte) ([]json.RawMessage, error) {
	if !jsonscan.Valid(responseObject) || responseObject[jsonscan.SkipSpace(responseObject, 0)] != '{' {
		return nil, fmt.Errorf("openai: response object: %w", jsonscan.ErrSyntax)
	}
	out, ok, err := jsonscan.GetField(responseObject, "output")
	if err != nil {
		return nil, fmt.Errorf("openai: response object: %w", err)
	}
	if !ok || isNull(out) {
		return nil, nil
	}
	if out[0] != '[' {
		return nil, fmt.Errorf("openai: response object: output is not an array")
	}
	items := make([]json.RawMessage, 0, jsonscan.CountElements(out))
	err = jsonscan.EachElement(out, func(_ int, e []byte) error {
		items = append(items, json.RawMessage(slices.Clone(e)))
		return nil
	})
	return items, err
}

// CompletedResponse returns the "response" member of the data of a
// response.completed, response.incomplete or response.failed event (the
// final response object of a relayed Responses stream), and whether the
// event was one of them.
func CompletedResponse(event []byte) ([]byte, bool) {
	if !jsonscan.Valid(event) || event[jsonscan.SkipSpace(event, 0)] != '{' {
		return nil, false
	}
	var typ, resp []byte
	_ = jsonscan.EachMember(event, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "type":
			typ = v
		case "response":
			resp = v
		}
		return nil
	})
	switch str(typ) {
	case "response.completed", "response.incomplete", "response.failed":
		if len(resp) > 0 && resp[0] == '{' {
			return resp, true
		}
	}
	return nil, false
}
