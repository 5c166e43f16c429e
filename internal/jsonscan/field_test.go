package jsonscan

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestGetField(t *testing.T) {
	for _, tc := range []struct {
		name, obj, key string
		want           string
		found, err     bool
	}{
		{name: "Found", obj: ` {"a":1, "model" : "x\"y" } `, key: "model", want: `"x\"y"`, found: true},
		{name: "Nested", obj: `{"a":{"model":1},"model":[2]}`, key: "model", want: `[2]`, found: true},
		{name: "FirstOfRepeated", obj: `{"k":1,"k":2}`, key: "k", want: `1`, found: true},
		{name: "EscapedKeyDoesNotMatch", obj: `{"mod\u0065l":1}`, key: "model"},
		{name: "Missing", obj: `{"a":1}`, key: "b"},
		{name: "Empty", obj: `{ }`, key: "b"},
		{name: "NotObject", obj: `[1]`, key: "a", err: true},
		{name: "Truncated", obj: `{"a":1`, key: "b", err: true},
		{name: "Garbage", obj: `{"a":1} x`, key: "b", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := GetField([]byte(tc.obj), tc.key)
			if string(got) != tc.want || found != tc.found || (err != nil) != tc.err {
				t.Fatalf("GetField(%s, %q) = %s, %v, %v; want %s, %v, error %v", tc.obj, tc.key, got, found, err, tc.want, tc.found, tc.err)
			}
		})
	}
}

func TestSetField(t *testing.T) {
	for _, tc := range []struct {
		name, obj, key, value, want string
	}{
		{"Replace", `{"model":"a", "x":1}`, "model", `"b"`, `{"model":"b", "x":1}`},
		{"Append", `{"x":1 }`, "model", `"b"`, `{"x":1 ,"model":"b"}`},
		{"AppendToEmpty", `{ }`, "stream", `true`, `{ "stream":true}`},
		{"AppendQuotesKey", `{}`, "a\"b", `1`, `{"a\"b":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetField([]byte(tc.obj), tc.key, []byte(tc.value))
			if err != nil || string(got) != tc.want {
				t.Fatalf("SetField(%s, %q, %s) = %s, %v; want %s", tc.obj, tc.key, tc.value, got, err, tc.want)
			}
		})
	}
	if _, err := SetField([]byte(`[]`), "a", []byte(`1`)); err == nil {
		t.Error("SetField on an array succeeded")
	}
}

func TestDeleteField(t *testing.T) {
	for _, tc := range []struct {
		name, obj, key, want string
	}{
		{"First", `{"a":1, "b":2}`, "a", `{ "b":2}`},
		{"Last", `{"a":1 , "b":2}`, "b", `{"a":1 }`},
		{"Only", `{"a":[1]}`, "a", `{}`},
		{"Missing", `{"a":1}`, "b", `{"a":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeleteField([]byte(tc.obj), tc.key)
			if err != nil || string(got) != tc.want {
				t.Fatalf("DeleteField(%s, %q) = %s, %v; want %s", tc.obj, tc.key, got, err, tc.want)
			}
		})
	}
}

// FuzzFields checks field edits on valid objects against encoding/json:
// GetField finds what json.Unmarshal finds, and SetField and DeleteField
// leave valid JSON with the member set or gone and the others as they were.
func FuzzFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` { "model" : "x" , "b":[{"model":2}] } `, `{"a\"":"\u0041"}`} {
		f.Add([]byte(s), "model")
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		var want map[string]json.RawMessage
		if !utf8.Valid(b) || !utf8.ValidString(key) || !Valid(b) || json.Unmarshal(b, &want) != nil || want == nil || !plainKeys(b) {
			return
		}
		v, found, err := GetField(b, key)
		if w, ok := want[key]; err != nil || found != ok || string(v) != string(w) {
			t.Fatalf("GetField(%s, %q) = %s, %v, %v; want %s, %v", b, key, v, found, err, w, ok)
		}
		set, err := SetField(b, key, []byte(`[true]`))
		if err != nil {
			t.Fatalf("SetField(%s, %q): %v", b, key, err)
		}
		want[key] = json.RawMessage(`[true]`)
		checkMembers(t, set, want)
		del, err := DeleteField(b, key)
		if err != nil {
			t.Fatalf("DeleteField(%s, %q): %v", b, key, err)
		}
		delete(want, key)
		checkMembers(t, del, want)
	})
}

// plainKeys reports whether the object b has no repeated keys and no
// escapes in its keys, for which GetField and encoding/json differ.
func plainKeys(b []byte) bool {
	seen := map[string]bool{}
	ok := true
	_ = EachMember(b, func(k []byte, escaped bool, _ []byte) error {
		ok = ok && !escaped && !seen[string(k)]
		seen[string(k)] = true
		return nil
	})
	return ok
}

func checkMembers(t *testing.T, b []byte, want map[string]json.RawMessage) {
	t.Helper()
	var got map[string]json.RawMessage
	if !Valid(b) || json.Unmarshal(b, &got) != nil || len(got) != len(want) {
		t.Fatalf("edited object %s: want members %q", b, want)
	}
	for k, v := range want {
		if string(got[k]) != string(v) {
			t.Fatalf("edited object %s: member %q = %s, want %s", b, k, got[k], v)
		}
	}
}
