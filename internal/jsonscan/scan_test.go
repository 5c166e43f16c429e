package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonSeeds are texts the scanners must judge as encoding/json does.
var jsonSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0.5e+3`, `true`, `null`, ` {"a" : [1, "x\n", {"b":null}] } `,
	`{"a":1,}`, `[1 2]`, `01`, `1.`, `"\u12"`, `"\x"`, "\"a\tb\"", `{"a"}`, `tru`, `{"a":1}x`,
	`"\ud83d\ude00"`, `"\ud83d"`, `[[[[[]]]]]`, `-`, `1e`, `{"a":-01}`, "\"\xff\"", `{"a\"b":[{},[]]}`,
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{"Object", ` {"a" : [1, "x\n", {"b":null}] } `, true},
		{"Scalars", `[0,-0.5e+3,true,false,null,"",1E9]`, true},
		{"Empty", ``, false},
		{"TrailingComma", `{"a":1,}`, false},
		{"MissingComma", `[1 2]`, false},
		{"LeadingZero", `01`, false},
		{"BareDot", `1.`, false},
		{"ShortUnicodeEscape", `"\u12"`, false},
		{"BadEscape", `"\x"`, false},
		{"RawTab", "\"a\tb\"", false},
		{"MemberWithoutValue", `{"a"}`, false},
		{"TruncatedLiteral", `tru`, false},
		{"TrailingGarbage", `{"a":1}x`, false},
		{"InvalidUTF8IsLikeJSONValid", "\"\xff\"", true},
		{"Depth512", strings.Repeat("[", 512) + strings.Repeat("]", 512), true},
		{"Depth513", strings.Repeat("[", 513) + strings.Repeat("]", 513), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Valid([]byte(tc.in)); got != tc.want {
				t.Fatalf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	for _, s := range jsonSeeds {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

func TestSkipValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int // -1: an error
	}{
		{"String", `"a\"b" x`, 6},
		{"EscapedBackslash", `"a\\" x`, 5},
		{"LongEscaped", `"` + strings.Repeat("x", 20) + `\"\\"` + `,`, 26},
		{"Nested", `{"a":["}",{"b":[]}]} ,`, 20},
		{"Number", `-1.5e3,`, 6},
		{"Literal", `true]`, 4},
		{"Unterminated", `{"a":[1,2}`, -1},
		{"UnterminatedString", `"abc`, -1},
		{"Nothing", `,`, -1},
		{"End", ``, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SkipValue([]byte(tc.in), 0)
			if err != nil {
				got = -1
			}
			if got != tc.want {
				t.Fatalf("SkipValue(%q) = %d (%v), want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSkipString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int // -1: an error
	}{
		{"Short", `"ab",` + strings.Repeat(" ", 8), 4},
		{"EndsAtWordEdge", `"abcdefgh"` + strings.Repeat(" ", 8), 10},
		{"NearBufferEnd", `"abc"`, 5},
		{"EscapedQuoteInFirstWord", `"a\"b"` + strings.Repeat(" ", 8), 6},
		{"EscapedBackslashesBeforeQuote", `"a\\\\"` + strings.Repeat(" ", 8), 7},
		{"LongerThanFourWords", `"` + strings.Repeat("x", 40) + `"`, 42},
		{"EscapeAfterFourWords", `"` + strings.Repeat("x", 40) + `\"\\"`, 46},
		{"Unterminated", `"` + strings.Repeat("x", 40), -1},
		{"UnterminatedByEscape", `"abc\"`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SkipString([]byte(tc.in), 0)
			if err != nil {
				got = -1
			}
			if got != tc.want {
				t.Fatalf("SkipString(%q) = %d (%v), want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// depth returns how deeply b nests arrays and objects at most, counting
// brackets inside strings too, which only overestimates.
func depth(b []byte) int {
	return bytes.Count(b, []byte("[")) + bytes.Count(b, []byte("{"))
}

// FuzzValid checks the scanners against encoding/json: Valid agrees with
// json.Valid, and on valid text SkipValue ends where the value does and the
// member and element walks find what json.Unmarshal finds.
func FuzzValid(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := Valid(b), json.Valid(b)
		if depth(b) <= maxDepth && got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v", b, got, want)
		}
		i := SkipSpace(b, 0)
		end, err := SkipValue(b, i) // must not panic, whatever b is
		_ = EachMember(b, func([]byte, bool, []byte) error { return nil })
		_ = CountElements(b)
		if !got {
			return
		}
		if want, _ := scanValue(b, i, 0); err != nil || end != want {
			t.Fatalf("SkipValue(%q) = %d, %v; want %d", b, end, err, want)
		}
		checkWalks(t, b)
	})
}

// checkWalks compares the member and element walks of valid text with
// encoding/json (which replaces invalid UTF-8 in keys, so only for valid
// UTF-8).
func checkWalks(t *testing.T, b []byte) {
	if !utf8.Valid(b) {
		return
	}
	first := b[SkipSpace(b, 0)]
	var obj map[string]json.RawMessage
	if first == '{' && json.Unmarshal(b, &obj) == nil {
		got := map[string]string{}
		err := EachMember(b, func(k []byte, escaped bool, v []byte) error {
			key := string(k)
			if escaped {
				key = string(AppendUnescaped(nil, k))
			}
			got[key] = string(v)
			return nil
		})
		if err != nil || len(got) != len(obj) {
			t.Fatalf("EachMember(%q) = %q, %v; encoding/json finds %d members", b, got, err, len(obj))
		}
		for k, v := range obj {
			if got[k] != string(v) {
				t.Fatalf("EachMember(%q): member %q = %s, encoding/json says %s", b, k, got[k], v)
			}
		}
	}
	var arr []json.RawMessage
	if first == '[' && json.Unmarshal(b, &arr) == nil {
		if n := CountElements(b); n != len(arr) {
			t.Fatalf("CountElements(%q) = %d, want %d", b, n, len(arr))
		}
		err := EachElement(b, func(i int, v []byte) error {
			if string(v) != string(arr[i]) {
				t.Fatalf("EachElement(%q): element %d = %s, want %s", b, i, v, arr[i])
			}
			return nil
		})
		if err != nil {
			t.Fatalf("EachElement(%q) = %v", b, err)
		}
	}
}
