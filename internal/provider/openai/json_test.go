package openai

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/chorusgw/chorus/internal/provider"
)

var jsonSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0.5e+3`, `true`, `null`, ` {"a" : [1, "x\n", {"b":null}] } `,
	`{"a":1,}`, `[1 2]`, `01`, `1.`, `"\u12"`, `"\x"`, "\"a\tb\"", `{"a"}`, `tru`, `{"a":1}x`,
	`"\ud83d\ude00"`, `"\ud83d"`, `[[[[[]]]]]`, `-`, `1e`, `{"a":-01}`,
}

// FuzzValidJSON checks the scanner agrees with encoding/json on what is
// valid JSON (for valid UTF-8, which the decoder requires separately).
func FuzzValidJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		got := validJSON(b)
		if want := json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
		if got {
			// On valid JSON the fast skipper must end where the validator does.
			i := skipWS(b, 0)
			want, _ := scanValue(b, i, 0)
			if end, err := provider.SkipValue(b, i); err != nil || end != want {
				t.Fatalf("provider.SkipValue(%q) = %d, %v; want %d", b, end, err, want)
			}
		} else {
			_, _ = provider.SkipValue(b, skipWS(b, 0)) // must not panic
		}
	})
}

func TestValidJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzStrings checks unquote and provider.AppendString against encoding/json.
func FuzzStrings(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t ctl\x01", "é😀", "\u2028", "bad \xff utf8", `\ud83d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := provider.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("provider.AppendString(%q) = %s: not JSON: %v", s, enc, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("provider.AppendString(%q) round-trips to %q, encoding/json to %q", s, back, wantBack)
		}
		// unquote must decode what encoding/json writes, escapes included.
		if got := unquote(want); got != wantBack {
			t.Fatalf("unquote(%s) = %q, want %q", want, got, wantBack)
		}
	})
}

func TestUnquoteEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"a\"b\\c\/d"`, `a"b\c/d`},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{`"\u00e9\u20AC"`, "é€"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83dx"`, "\uFFFDx"},
		{`"\ude00\ud83d"`, "\uFFFD\uFFFD"},
	} {
		var want string
		if err := json.Unmarshal([]byte(tc.in), &want); err != nil || want != tc.want {
			t.Fatalf("bad case %s: encoding/json gives %q (%v)", tc.in, want, err)
		}
		if got := unquote([]byte(tc.in)); got != tc.want {
			t.Errorf("unquote(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1.5, 0.1, 1e-7, 1e21, 123456789, 2.5e-10, math.MaxFloat64} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f, 64); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float32{0.1, -0.25, 1e-7, 3.4e38, 0.33333334} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, float64(f), 32); string(got) != string(want) {
			t.Errorf("appendFloat(float32 %v) = %s, want %s", f, got, want)
		}
	}
	if got := appendFloat(nil, math.NaN(), 64); string(got) != "0" {
		t.Errorf("appendFloat(NaN) = %s, want 0", got)
	}
}
