package openai

// RewriteChatBodyForTest exposes the passthrough rewrite to the black-box
// fuzz test; it panics on error, which the fuzzer reports.
func RewriteChatBodyForTest(raw []byte, model string, stream bool) []byte {
	out, err := rewriteChatBody(raw, model, stream)
	if err != nil {
		panic(err)
	}
	return out
}
