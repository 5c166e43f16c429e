package openai

import "testing"

func TestCompleteDataEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want bool
	}{
		{"Empty", "", false},
		{"Complete", "data: {\"a\":1}\n\n", true},
		{"CompleteCRLF", "data: {\"a\":1}\r\n\r\n", true},
		{"Done", "data: [DONE]\n\n", true},
		{"NoBlankLine", "data: {\"a\":1}\n", false},
		{"PartialLine", "data: {\"a\":", false},
		{"CommentOnly", ": keep-alive\n\n", false},
		{"EmptyData", "data:\n\n", false},
		{"CommentThenComplete", ": ping\n\ndata: {}\n\n", true},
		{"CommentThenPartial", ": ping\n\ndata: {}\n", false},
		{"MultiLineData", "data: {\"a\":\ndata: 1}\n\n", true},
		{"EventField", "event: x\ndata: {}\n\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := completeDataEvent([]byte(tc.in)); got != tc.want {
				t.Fatalf("completeDataEvent(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
