package chorus

import "time"

// StoredResponse is an answer of the Responses API (POST /v1/responses)
// kept so a follow-up can continue the conversation (previous_response_id)
// and GET /v1/responses/{id} can return it. It is customer data: prompts and
// answers as sent and received, kept per team for the retention the
// operator sets (responses.retention), and never when the request said
// "store": false.
type StoredResponse struct {
	ID         string // resp_…, unique
	TeamID     int64  // the team of the key that made it; another team's is not found
	KeyID      int64
	UserID     int64
	Model      string    // the model or route the client asked for
	PreviousID string    // previous_response_id of its request, "" for the first turn
	Input      []byte    // JSON array: the request's input items as sent (each with an id)
	Response   []byte    // JSON: the response object as the client received it
	CreatedAt  time.Time //
}

// MaxConversationDepth bounds how many stored responses one
// previous_response_id chain may reach back through.
const MaxConversationDepth = 1000
