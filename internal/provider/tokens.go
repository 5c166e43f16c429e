package provider

// EstimateTokens approximates the token count of text without a tokenizer:
// one token per four bytes, rounded up, the rule of thumb OpenAI documents for
// English. Callers use it only where the upstream reports no usage.
func EstimateTokens(text string) int {
	return (len(text) + 3) / 4
}

// EstimateInputTokens approximates the prompt tokens of a chat request: the
// text of every message plus a small per-message framing overhead.
func EstimateInputTokens(req *ChatRequest) int {
	n := 3
	for i := range req.Messages {
		m := &req.Messages[i]
		n += 4
		for j := range m.Content {
			n += EstimateTokens(m.Content[j].Text)
			if m.Content[j].Type == PartImage {
				n += 85 // OpenAI's base cost of a low-detail image
			}
		}
		for _, tc := range m.ToolCalls {
			n += EstimateTokens(tc.Name) + EstimateTokens(tc.Arguments)
		}
	}
	for _, t := range req.Tools {
		n += EstimateTokens(t.Name) + EstimateTokens(t.Description) + EstimateTokens(string(t.Parameters))
	}
	return n
}

// EstimateChatTokens is a chat request's tokens for rate limits: its input
// and, when set, max_tokens per choice (otherwise the output is debited when
// it is known, so a key's TPM need not exceed the model's ceiling).
func EstimateChatTokens(req *ChatRequest) int64 {
	n := int64(EstimateInputTokens(req))
	if req.MaxTokens != nil {
		c := int64(1)
		if req.N != nil && *req.N > 1 {
			c = int64(*req.N)
		}
		n += int64(*req.MaxTokens) * c
	}
	return n
}

// EstimateEmbeddingTokens is an embeddings request's input tokens for rate
// limits: its texts by estimate, its token arrays by length.
func EstimateEmbeddingTokens(req *EmbeddingRequest) int64 {
	var n int64
	for _, in := range req.Input {
		n += int64(EstimateTokens(in))
	}
	for _, in := range req.InputTokens {
		n += int64(len(in))
	}
	return n
}
