package anthropic

// Exported for the black-box benchmarks: the request-body builders without
// the network around them.
var (
	PassthroughBody = passthroughBody
	AppendRequest   = appendRequest
)
