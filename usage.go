package chorus

import "time"

// UsageFilter narrows ListUsage. Zero fields do not filter.
type UsageFilter struct {
	KeyID      *int64
	UserID     *int64
	TeamID     *int64
	ResponseID string    // the answer ID the client saw
	Since      time.Time // created at or after
	Until      time.Time // created before
}
