package chorus

// Page sizes: callers pass chorus.Page and the store clamps its Limit to
// [1, MaxPageSize], using DefaultPageSize when it is 0.
const (
	MaxPageSize     = 500
	DefaultPageSize = 50
)
