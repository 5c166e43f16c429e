package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
)

// MaxJSONBody bounds management request bodies.
const MaxJSONBody = 1 << 20

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads a JSON body into v. It refuses a body not sent as
// application/json (a cross-site form or text/plain fetch is how CSRF gets
// past the browser's preflight, and no browser sends application/json
// cross-site without one), unknown fields, anything after the one value,
// and a member named twice in one object (a 400 naming it): two parsers
// would read such a body differently.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeBytes(b, v)
}

// DecodeOptionalJSON is DecodeJSON for a body that may be left out (no
// body, or only white space); a body that is there is held to DecodeJSON's
// rules.
func DecodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	return decodeBytes(b, v)
}

// requireJSON refuses a request whose Content-Type is not application/json
// (parameters such as charset allowed).
func requireJSON(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return chorus.Invalid("Content-Type", "Send the request body as JSON with 'Content-Type: application/json'.")
	}
	return nil
}

// readBody reads the whole body within MaxJSONBody.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, TooLarge(MaxJSONBody)
	}
	if err != nil {
		return nil, chorus.Invalid("", "The request body could not be read.")
	}
	return b, nil
}

// decodeBytes decodes the one JSON value b into v.
func decodeBytes(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return chorus.Invalid(te.Field, "%s must be of type %s", te.Field, te.Type)
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return chorus.Invalid("", "The request body is not valid JSON.")
		default:
			return chorus.Invalid("", "%s", err.Error())
		}
	}
	end := int(dec.InputOffset())
	if jsonscan.SkipSpace(b, end) != len(b) {
		return chorus.Invalid("", "The request body must hold exactly one JSON object, with nothing after it.")
	}
	return checkDuplicates(b[:end])
}

// checkDuplicates refuses a member named twice in one object. At the top
// level names are also compared case-insensitively, as encoding/json
// matches them to a struct's fields ({"role":…,"Role":…} sets one field).
func checkDuplicates(b []byte) error {
	path, err := jsonscan.Duplicate(b)
	if err != nil {
		return chorus.Invalid("", "The request body is not valid JSON.")
	}
	if path == "" {
		seen := make(map[string]bool)
		_ = jsonscan.EachMember(b, func(key []byte, escaped bool, _ []byte) error {
			if escaped {
				key = jsonscan.AppendUnescaped(nil, key)
			}
			k := strings.ToLower(string(key))
			if seen[k] && path == "" {
				path = string(key)
			}
			seen[k] = true
			return nil
		})
	}
	if path != "" {
		return chorus.Invalid(path, "%s appears more than once in the request body: send each member once.", path)
	}
	return nil
}
