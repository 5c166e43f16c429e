package openai

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// maxErrorText bounds the body text quoted as the message of an error answer
// that is not OpenAI's JSON error shape.
const maxErrorText = 512

// statusError turns a non-2xx answer into a *provider.Error.
func (c *Client) statusError(resp *http.Response, body []byte) *provider.Error {
	e := &provider.Error{Provider: c.kind, Status: resp.StatusCode, RetryAfter: provider.ParseRetryAfter(resp.Header)}
	if !parseErrorBody(body, e) {
		e.Message = errorText(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// parseErrorBody fills e from an OpenAI error body,
// {"error":{"message","type","param","code"}}, or the shapes compatible
// servers send instead: {"error":"text"} (Ollama) and a top-level
// {"object":"error","message","type","code"} (vLLM). It reports whether the
// body was one of them.
func parseErrorBody(body []byte, e *provider.Error) bool {
	if !jsonscan.Valid(body) || body[jsonscan.SkipSpace(body, 0)] != '{' {
		return false
	}
	var inner []byte
	_ = jsonscan.EachMember(body, func(k []byte, _ bool, v []byte) error {
		if string(k) == "error" {
			inner = v
		}
		return nil
	})
	switch {
	case inner == nil:
		inner = body // top-level shape
	case inner[0] == '"':
		e.Message = jsonscan.Unquote(inner)
		return true
	case inner[0] != '{':
		return false
	}
	found := false
	_ = jsonscan.EachMember(inner, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "message":
			e.Message, found = scalarText(v), true
		case "type":
			e.Type = scalarText(v)
		case "code":
			e.Code = scalarText(v)
		}
		return nil
	})
	return found
}

// scalarText returns a string's text, a number's digits, and "" otherwise:
// error codes come as either.
func scalarText(v []byte) string {
	switch {
	case v[0] == '"':
		return jsonscan.Unquote(v)
	case isNumber(v):
		return string(v)
	}
	return ""
}

// errorText is the message of an error answer that is not JSON: its text,
// trimmed and truncated on a rune boundary.
func errorText(body []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if len(s) <= maxErrorText {
		return s
	}
	n := maxErrorText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// AppendError appends an OpenAI error body,
// {"error":{"message":…,"type":…,"param":…,"code":…}}, to dst. An empty
// param or code is written as null.
func AppendError(dst []byte, message, typ, param, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonscan.AppendString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = jsonscan.AppendString(dst, typ)
	dst = append(dst, `,"param":`...)
	dst = appendOptString(dst, param)
	dst = append(dst, `,"code":`...)
	dst = appendOptString(dst, code)
	return append(dst, "}}"...)
}

// appendOptString appends s as a JSON string, or null when it is empty.
func appendOptString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return jsonscan.AppendString(dst, s)
}
