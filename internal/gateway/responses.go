package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// The Responses API (POST /v1/responses) is one more client format of the
// chat pipeline: its request is decoded to the canonical one (after the
// stored conversation it continues is prepended), answered by the route's
// strategy like any chat request, and encoded back as a response object or
// its semantic stream events. Upstreams that speak it themselves (an OpenAI
// deployment with settings.api "responses") get the body as received and
// their answer is relayed as is. Answers are stored per team unless the
// request said "store": false, before the client has them, so a follow-up
// that names one always finds it.

// ResponseStore keeps the Responses API's answers (internal/store).
type ResponseStore interface {
	SaveResponse(ctx context.Context, r *chorus.StoredResponse) error
	GetResponse(ctx context.Context, teamID int64, id string) (*chorus.StoredResponse, error)
	ResponseChain(ctx context.Context, teamID int64, id string) ([]*chorus.StoredResponse, error)
	DeleteResponse(ctx context.Context, teamID int64, id string) error
}

// droppedToolsHeader names the hosted tools left out of a request whose
// deployment cannot run them (responses.hosted_tools: drop).
const droppedToolsHeader = "X-Chorus-Dropped-Tools"

// conversation is a Responses API request on its exchange: the decoded
// request and the ID its answer gets.
type conversation struct {
	req     *openai.ResponsesRequest
	id      string // resp_…, unless an upstream that speaks Responses named it
	created int64
	dropped []string // hosted tools left out
}

// responsesChat is POST /v1/responses.
var responsesChat = &chatFormat{
	endpoint: "responses", wire: api.FormatOpenAI, raw: provider.FormatOpenAIResponses,
	decode: decodeResponses,
	encode: func(x *exchange, dst []byte, _ *provider.ChatRequest, r *provider.ChatResponse) []byte {
		return openai.AppendResponseObject(dst, r, x.conv.req, x.conv.meta(x))
	},
	id: func(x *exchange, r *provider.ChatResponse) string {
		if r.RawFormat == provider.FormatOpenAIResponses && r.Raw != nil && r.ID != "" {
			x.conv.id = r.ID
		}
		return x.conv.id
	},
	stream: func(x *exchange, _ *provider.ChatRequest) chunkWriter {
		return &responsesStreamWriter{x: x, enc: openai.NewResponsesStreamEncoder(x.conv.req, x.conv.meta(x))}
	},
	keep: func(ctx context.Context, x *exchange, out []byte) { x.keepResponse(ctx, out) },
}

// meta is what the encoders echo about the answer.
func (c *conversation) meta(x *exchange) openai.ResponseMeta {
	return openai.ResponseMeta{ID: c.id, CreatedAt: c.created, Model: x.route.Model.Name}
}

// decodeResponses decodes a Responses request, prepends the stored
// conversation it continues and applies the hosted-tools policy.
func decodeResponses(ctx context.Context, x *exchange, body []byte) (*provider.ChatRequest, error) {
	rr, err := openai.DecodeResponsesRequest(body)
	if err != nil {
		return nil, err
	}
	if rr.Background {
		return nil, chorus.Invalid("background", "Background responses are not supported by this gateway; send the request without \"background\".")
	}
	if _, ok := rr.Chat.Extra["conversation"]; ok {
		return nil, chorus.Invalid("conversation", "Conversations (the conversation parameter) are not supported by this gateway; continue a conversation with previous_response_id.")
	}
	x.conv = &conversation{req: rr, id: newResponseID(), created: x.start.Unix()}
	if rr.PreviousResponseID != "" {
		if err := x.continueConversation(ctx, rr); err != nil {
			return nil, err
		}
	}
	return rr.Chat, nil
}

// continueConversation prepends the stored conversation that ends with
// the request's previous_response_id.
func (x *exchange) continueConversation(ctx context.Context, rr *openai.ResponsesRequest) error {
	if x.s.Responses == nil {
		return chorus.Invalid("previous_response_id", "Responses are not stored on this gateway.")
	}
	chain, err := x.s.Responses.ResponseChain(ctx, x.key.TeamID, rr.PreviousResponseID)
	if chorus.ErrorCode(err) == chorus.ENOTFOUND {
		return &chorus.Error{Code: chorus.ENOTFOUND, Param: "previous_response_id",
			Message: "Previous response with id '" + rr.PreviousResponseID + "' not found."}
	}
	if err != nil {
		return err
	}
	var items []json.RawMessage
	for _, r := range chain {
		var in []json.RawMessage
		if err := json.Unmarshal(r.Input, &in); err != nil {
			return &chorus.Error{Code: chorus.EINTERNAL, Message: "stored response " + r.ID + " is unreadable", Err: err}
		}
		out, err := openai.OutputItems(r.Response)
		if err != nil {
			return &chorus.Error{Code: chorus.EINTERNAL, Message: "stored response " + r.ID + " is unreadable", Err: err}
		}
		items = append(items, in...)
		items = append(items, out...)
	}
	return rr.WithHistory(items)
}

// checkHostedTools applies responses.hosted_tools once the route is known:
// hosted tools reach only deployments that run them (OpenAI's Responses
// API); for a route that may answer elsewhere they are dropped (and named
// in a header) or refused.
func (x *exchange) checkHostedTools(w http.ResponseWriter) error {
	c := x.conv
	if c == nil || len(c.req.HostedTools) == 0 {
		return nil
	}
	native := true
	for _, t := range x.route.Targets {
		native = native && speaksResponses(t.Deployment)
	}
	if native {
		return nil
	}
	if x.s.ResponsesConfig.HostedTools == config.HostedToolsRefuse {
		return chorus.Invalid("tools", "The hosted tool %q is not available for the model `%s`: its deployments cannot run it. Remove it from \"tools\".",
			c.req.HostedTools[0], x.route.Model.Name)
	}
	c.dropped = c.req.HostedTools
	w.Header().Set(droppedToolsHeader, strings.Join(c.dropped, ", "))
	return nil
}

// speaksResponses reports whether a deployment is OpenAI's Responses API
// itself (settings.api: responses), which runs hosted tools.
func speaksResponses(d *chorus.Deployment) bool {
	if d.Provider != chorus.ProviderOpenAI && d.Provider != chorus.ProviderAzure {
		return false
	}
	api, _ := d.Settings["api"].(string)
	return api == "responses"
}

// keepResponse stores the answer out (the response object as the client
// receives it) unless the request said "store": false. It runs before the
// answer is sent, so a follow-up always finds it; a failure is logged and
// the answer still goes out (it was charged).
func (x *exchange) keepResponse(ctx context.Context, out []byte) {
	c := x.conv
	if c == nil || !c.req.Store || x.s.Responses == nil || out == nil {
		return
	}
	input, err := json.Marshal(c.req.Input)
	if err == nil {
		err = x.s.Responses.SaveResponse(context.WithoutCancel(ctx), &chorus.StoredResponse{
			ID: c.id, TeamID: x.key.TeamID, KeyID: x.key.ID, UserID: x.key.UserID, Model: x.route.Model.Name,
			PreviousID: c.req.PreviousResponseID, Input: input, Response: out,
		})
	}
	if err != nil {
		x.s.Logger.ErrorContext(ctx, "response not stored", "response_id", c.id, "err", err)
	}
}

// newResponseID returns a fresh resp_… ID.
func newResponseID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "resp_" + hex.EncodeToString(b[:])
}
