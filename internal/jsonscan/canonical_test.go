package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendCanonical(t *testing.T) {
	canon := func(s string) []byte { return AppendCanonical(nil, []byte(s), "") }
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"MemberOrder", `{"a":1,"b":{"x":[1,2],"y":null}}`, `{"b":{"y":null,"x":[1,2]},"a":1}`, true},
		{"Whitespace", `{"a":[1, 2]}`, " {\n\t\"a\" : [ 1 ,2 ] } ", true},
		{"Escapes", `{"k":"A\/é"}`, `{"\u006b":"\u0041/\u00e9"}`, true},
		{"Surrogates", `"😀"`, `"\ud83d\ude00"`, true},
		{"IntFloat", `[1, -0, 0.5, 100]`, `[1.0, 0, 5e-1, 1e2]`, true},
		{"BigInt", `12345678901234567890123`, `12345678901234567890123`, true},
		{"BigIntDiffers", `12345678901234567890123`, `12345678901234567890124`, false},
		{"DuplicateKeyLastWins", `{"a":1,"b":2,"a":3}`, `{"b":2,"a":3}`, true},
		{"ArrayOrder", `[1,2]`, `[2,1]`, false},
		{"NestedArrays", `[[1],[2]]`, `[[1,2]]`, false},
		{"StringVsNumber", `"1"`, `1`, false},
		{"NullVsFalse", `null`, `false`, false},
		{"EmptyObjectVsArray", `{}`, `[]`, false},
		{"KeyBoundary", `{"ab":"c"}`, `{"a":"bc"}`, false},
		{"InvalidKeptAsIs", `{"a":`, `{"a":`, true},
		{"InvalidVsValid", `{"a":1`, `{"a":1}`, false},
		{"TrailingGarbage", `{"a":1}x`, `{"a":1}`, false},
		{"BadNumber", `01`, `1`, false},
		{"EscapedInvalidUTF8AsEncodingJSON", "\"\\n\xff\"", `"\n\ufffd"`, true},
		{"UnescapedInvalidUTF8Kept", "\"\xff\"", `"\ufffd"`, false},
		{"EscapedKeyInvalidUTF8", "{\"\\t\xfe\":1}", `{"\t\ufffd":1}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Equal(canon(tc.a), canon(tc.b)); got != tc.same {
				t.Fatalf("same = %v, want %v (%q vs %q)", got, tc.same, canon(tc.a), canon(tc.b))
			}
		})
	}
	t.Run("Encoding", func(t *testing.T) {
		// Cache keys are hashes of this encoding: a change here needs a new
		// key version in the cache package.
		for in, want := range map[string]string{
			`{"b":[1,2.50,"x\n"],"a":true,"c":null,"d":{},"e":-0,"f":1e400,"g":12345678901234567890123,"h":false}`: "o\b\x01aT\x01ba\x03\x00\x00\x00d\x011d\x032.5s\x02x\n\x01cN\x01do\x00\x01ed\x010\x01fd\x051e400\x01gd\x1712345678901234567890123\x01hF",
			`nope`: "r\x04nope",
		} {
			if got := string(canon(in)); got != want {
				t.Errorf("AppendCanonical(%s) = %q, want %q", in, got, want)
			}
		}
	})
	t.Run("Skip", func(t *testing.T) {
		a := AppendCanonical(nil, []byte(`{"format":{"type":"x"},"effort":"low"}`), "format")
		b := AppendCanonical(nil, []byte(`{"effort":"low","nested":{"format":1}}`), "format")
		c := AppendCanonical(nil, []byte(`{"effort":"low"}`), "")
		if !bytes.Equal(a, c) {
			t.Fatal("top-level member not skipped")
		}
		if bytes.Equal(b, c) {
			t.Fatal("nested member skipped")
		}
	})
	t.Run("DeepNestingIsRaw", func(t *testing.T) {
		deep := bytes.Repeat([]byte("["), 10000)
		if got := AppendCanonical(nil, deep, ""); got[0] != TagRaw {
			t.Fatalf("deep input encoded as %q, want raw", got[:1])
		}
	})
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,false,null]}`, `"x\u0041"`, `1e400`, `[{}]`, `{"a":{"b":{}}}`} {
		f.Add([]byte(s))
	}
	// Property: valid JSON and its re-encoding by encoding/json (members
	// sorted, escapes and spacing its own) have one canonical form.
	f.Fuzz(func(t *testing.T, b []byte) {
		out := AppendCanonical(nil, b, "")
		if !json.Valid(b) || !utf8.Valid(b) {
			return
		}
		if out[0] == TagRaw && bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) <= maxCanonDepth {
			t.Fatalf("valid JSON %q encoded as raw", b)
		}
		if out[0] == TagRaw {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendCanonical(nil, again, ""); !bytes.Equal(got, out) {
			t.Fatalf("%q and its re-encoding %q differ:\n%q\n%q", b, again, out, got)
		}
	})
}
