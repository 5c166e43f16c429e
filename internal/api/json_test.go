package api_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

type jsonInput struct {
	Name   string         `json:"name"`
	Config map[string]any `json:"config"`
	Items  []struct {
		Model string `json:"model"`
	} `json:"items"`
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, ctype string
		wantParam         string // "" with wantErr: any EINVALID
		wantErr           bool
	}{
		{name: "OK", body: `{"name":"a","config":{"x":1},"items":[{"model":"m"}]}`, ctype: "application/json"},
		{name: "OKCharset", body: `{"name":"a"}`, ctype: "application/json; charset=utf-8"},
		{name: "OKTrailingSpace", body: "{\"name\":\"a\"}\n\t ", ctype: "application/json"},
		{name: "ErrTextPlain", body: `{"name":"a"}`, ctype: "text/plain", wantErr: true, wantParam: "Content-Type"},
		{name: "ErrFormEncoded", body: `{"name":"a"}`, ctype: "application/x-www-form-urlencoded", wantErr: true, wantParam: "Content-Type"},
		{name: "ErrNoContentType", body: `{"name":"a"}`, wantErr: true, wantParam: "Content-Type"},
		{name: "ErrTrailingGarbage", body: `{"name":"a"} x`, ctype: "application/json", wantErr: true},
		{name: "ErrTrailingBrace", body: `{"name":"a"}}`, ctype: "application/json", wantErr: true},
		{name: "ErrTrailingBracket", body: `{"name":"a"}]`, ctype: "application/json", wantErr: true},
		{name: "ErrSecondObject", body: `{"name":"a"}{"name":"b"}`, ctype: "application/json", wantErr: true},
		{name: "ErrDuplicate", body: `{"name":"a","name":"b"}`, ctype: "application/json", wantErr: true, wantParam: "name"},
		{name: "ErrDuplicateEscaped", body: `{"name":"a","n\u0061me":"b"}`, ctype: "application/json", wantErr: true, wantParam: "name"},
		{name: "ErrDuplicateCase", body: `{"name":"a","Name":"b"}`, ctype: "application/json", wantErr: true, wantParam: "Name"},
		{name: "ErrDuplicateNested", body: `{"config":{"x":1,"x":2}}`, ctype: "application/json", wantErr: true, wantParam: "config.x"},
		{name: "ErrDuplicateInArray", body: `{"items":[{"model":"a","model":"b"}]}`, ctype: "application/json", wantErr: true, wantParam: "items[0].model"},
		{name: "ErrUnknown", body: `{"nope":1}`, ctype: "application/json", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/x", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var in jsonInput
			err := api.DecodeJSON(httptest.NewRecorder(), r, &in)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("DecodeJSON: %v", err)
				}
				return
			}
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Code != chorus.EINVALID {
				t.Fatalf("DecodeJSON = %v, want EINVALID", err)
			}
			if tc.wantParam != "" && ce.Param != tc.wantParam {
				t.Errorf("param = %q, want %q (%s)", ce.Param, tc.wantParam, ce.Message)
			}
		})
	}
}

func TestDecodeOptionalJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, ctype string
		wantErr           bool
	}{
		{name: "OKEmpty"},
		{name: "OKBlank", body: " \n"},
		{name: "OKJSON", body: `{"name":"a"}`, ctype: "application/json"},
		{name: "ErrTextPlain", body: `{"name":"a"}`, ctype: "text/plain", wantErr: true},
		{name: "ErrTrailing", body: `{"name":"a"} 1`, ctype: "application/json", wantErr: true},
		{name: "ErrDuplicate", body: `{"name":"a","name":"a"}`, ctype: "application/json", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/x", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var in jsonInput
			if err := api.DecodeOptionalJSON(httptest.NewRecorder(), r, &in); (err != nil) != tc.wantErr {
				t.Fatalf("DecodeOptionalJSON = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
