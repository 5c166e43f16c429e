package jsonscan

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"Plain", "plain", `"plain"`},
		{"Escapes", "q\" b\\ nl\n cr\r tab\t ctl\x01", `"q\" b\\ nl\n cr\r tab\t ctl\u0001"`},
		{"UTF8Kept", "é😀", `"é😀"`},
		{"InvalidUTF8", "a\xffb", `"a\ufffdb"`},
		{"LineSeparators", "\u2028\u2029", `"\u2028\u2029"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendString(nil, tc.in)); got != tc.want {
				t.Fatalf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestUnquote(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"Plain", `"abc"`, "abc"},
		{"Simple", `"a\"b\\c\/d"`, `a"b\c/d`},
		{"Controls", `"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{"Unicode", `"\u00e9\u20AC"`, "é€"},
		{"SurrogatePair", `"\ud83d\ude00"`, "😀"},
		{"LoneHighSurrogate", `"\ud83dx"`, "\uFFFDx"},
		{"HighSurrogateAtEnd", `"\ud83d"`, "\uFFFD"},
		{"SwappedSurrogates", `"\ude00\ud83d"`, "\uFFFD\uFFFD"},
		{"HighThenEscapedReplacement", `"\ud83d\ufffd"`, "\uFFFD\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want string
			if err := json.Unmarshal([]byte(tc.in), &want); err != nil || want != tc.want {
				t.Fatalf("bad case %s: encoding/json gives %q (%v)", tc.in, want, err)
			}
			if got := Unquote([]byte(tc.in)); got != tc.want {
				t.Fatalf("Unquote(%s) = %q, want %q", tc.in, got, tc.want)
			}
			if got := string(AppendUnescaped(nil, []byte(tc.in[1:len(tc.in)-1]))); got != tc.want {
				t.Fatalf("AppendUnescaped(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestInvalidUTF8 pins the one difference between Unquote and
// AppendUnescaped: what they do with bytes that are not UTF-8.
func TestInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, in, unquote, unescaped string
	}{
		{"Unescaped", "\"a\xffb\"", "a\xffb", "a\uFFFDb"},
		{"Escaped", "\"\\n\xff\xe2\x82\"", "\n\xff\xe2\x82", "\n\uFFFD\uFFFD\uFFFD"},
		{"EncodedSurrogate", "\"\\t\xed\xa0\x80\"", "\t\xed\xa0\x80", "\t\uFFFD\uFFFD\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unquote([]byte(tc.in)); got != tc.unquote {
				t.Errorf("Unquote(%q) = %q, want %q", tc.in, got, tc.unquote)
			}
			if got := string(AppendUnescaped(nil, []byte(tc.in[1:len(tc.in)-1]))); got != tc.unescaped {
				t.Errorf("AppendUnescaped(%q) = %q, want %q", tc.in, got, tc.unescaped)
			}
		})
	}
}

// FuzzStrings checks AppendString and Unquote against encoding/json.
func FuzzStrings(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t ctl\x01", "é😀", "\u2028", "bad \xff utf8", `\ud83d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, enc, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("AppendString(%q) round-trips to %q, encoding/json to %q", s, back, wantBack)
		}
		// Unquote must decode what encoding/json writes, escapes included.
		if got := Unquote(want); got != wantBack {
			t.Fatalf("Unquote(%s) = %q, want %q", want, got, wantBack)
		}
	})
}

// FuzzUnquote checks that every JSON string encoding/json accepts is
// decoded as encoding/json decodes it: by AppendUnescaped always, by
// Unquote when it is valid UTF-8.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`""`, `"a\"b"`, `"\u00e9\ud83d\ude00"`, `"\ud83d\u0041"`, "\"\\n\xff\"", `"\\\/\b\f\n\r\t"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || json.Unmarshal(b, &want) != nil {
			return
		}
		end, _, err := scanString(b, 0)
		if err != nil || end != len(b) {
			t.Fatalf("scanString(%q) = %d, %v; encoding/json accepts it", b, end, err)
		}
		if got := string(AppendUnescaped(nil, b[1:len(b)-1])); got != want {
			t.Fatalf("AppendUnescaped(%q) = %q, want %q", b, got, want)
		}
		if got := Unquote(b); utf8.Valid(b) && got != want {
			t.Fatalf("Unquote(%q) = %q, want %q", b, got, want)
		}
	})
}
