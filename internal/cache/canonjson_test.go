package cache

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestCanonJSON(t *testing.T) {
	canon := func(s string) []byte { return appendCanonJSON(nil, []byte(s), "") }
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Equal(canon(tc.a), canon(tc.b)); got != tc.same {
				t.Fatalf("same = %v, want %v (%q vs %q)", got, tc.same, canon(tc.a), canon(tc.b))
			}
		})
	}
	t.Run("Skip", func(t *testing.T) {
		a := appendCanonJSON(nil, []byte(`{"format":{"type":"x"},"effort":"low"}`), "format")
		b := appendCanonJSON(nil, []byte(`{"effort":"low","nested":{"format":1}}`), "format")
		c := appendCanonJSON(nil, []byte(`{"effort":"low"}`), "")
		if !bytes.Equal(a, c) {
			t.Fatal("top-level member not skipped")
		}
		if bytes.Equal(b, c) {
			t.Fatal("nested member skipped")
		}
	})
	t.Run("DeepNestingIsRaw", func(t *testing.T) {
		deep := bytes.Repeat([]byte("["), 10000)
		if got := appendCanonJSON(nil, deep, ""); got[0] != tagRaw {
			t.Fatalf("deep input encoded as %q, want raw", got[:1])
		}
	})
}

func FuzzCanonJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,false,null]}`, `"x\u0041"`, `1e400`, `[{}]`, `{"a":{"b":{}}}`} {
		f.Add([]byte(s))
	}
	// Property: valid JSON and its re-encoding by encoding/json (members
	// sorted, escapes and spacing its own) have one canonical form.
	f.Fuzz(func(t *testing.T, b []byte) {
		out := appendCanonJSON(nil, b, "")
		if !json.Valid(b) || !utf8.Valid(b) {
			return
		}
		if out[0] == tagRaw && bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) <= maxCanonDepth {
			t.Fatalf("valid JSON %q encoded as raw", b)
		}
		if out[0] == tagRaw {
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
		if got := appendCanonJSON(nil, again, ""); !bytes.Equal(got, out) {
			t.Fatalf("%q and its re-encoding %q differ:\n%q\n%q", b, again, out, got)
		}
	})
}
