package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
)

// MaxJSONBody bounds management request bodies.
const MaxJSONBody = 1 << 20

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads a JSON body into v, rejecting unknown fields and
// trailing data.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return TooLarge(MaxJSONBody)
		case errors.As(err, &te):
			return chorus.Invalid(te.Field, "%s must be of type %s", te.Field, te.Type)
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return chorus.Invalid("", "The request body is not valid JSON.")
		default:
			return chorus.Invalid("", "%s", err.Error())
		}
	}
	if dec.More() {
		return chorus.Invalid("", "The request body must hold exactly one JSON object.")
	}
	return nil
}

// DecodeOptionalJSON is DecodeJSON for a body that may be left out (no
// body, or only white space).
func DecodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return TooLarge(MaxJSONBody)
	}
	if err != nil {
		return chorus.Invalid("", "The request body could not be read.")
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return DecodeJSON(w, r, v)
}
