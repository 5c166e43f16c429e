package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// The Responses API's other endpoints: the stored responses — GET /v1/responses/{id}, DELETE
// /v1/responses/{id} and GET /v1/responses/{id}/input_items, for the key's
// team only (another team's response is not found), in OpenAI's shapes.

// storedResponse authenticates the caller and loads the team's response
// named in the path, answering the error itself when it cannot.
func (s *Server) storedResponse(w http.ResponseWriter, r *http.Request) (*chorus.APIKey, *chorus.StoredResponse, bool) {
	k, err := s.authenticate(r)
	if err == nil && s.Responses == nil {
		err = chorus.Errorf(chorus.ENOTFOUND, "Responses are not stored on this gateway.")
	}
	if err != nil {
		s.writeError(w, r, api.FormatOpenAI, err)
		return nil, nil, false
	}
	sr, err := s.Responses.GetResponse(r.Context(), k.TeamID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, api.FormatOpenAI, err)
		return nil, nil, false
	}
	return k, sr, true
}

// getResponse is GET /v1/responses/{id}: the response object as the
// client first received it.
func (s *Server) getResponse(w http.ResponseWriter, r *http.Request) {
	_, sr, ok := s.storedResponse(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(sr.Response)
}

// deleteResponse is DELETE /v1/responses/{id}.
func (s *Server) deleteResponse(w http.ResponseWriter, r *http.Request) {
	k, sr, ok := s.storedResponse(w, r)
	if !ok {
		return
	}
	if err := s.Responses.DeleteResponse(r.Context(), k.TeamID, sr.ID); err != nil {
		s.writeError(w, r, api.FormatOpenAI, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"id": sr.ID, "object": "response", "deleted": true})
}

// inputItemList is OpenAI's page of input items.
type inputItemList struct {
	Object  string            `json:"object"`
	Data    []json.RawMessage `json:"data"`
	FirstID *string           `json:"first_id"`
	LastID  *string           `json:"last_id"`
	HasMore bool              `json:"has_more"`
}

// listInputItems is GET /v1/responses/{id}/input_items: the items the
// request sent, a page at a time (limit 1–100, default 20; order desc by
// default, as OpenAI's; after: the ID of the last item of the previous
// page).
func (s *Server) listInputItems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, order, err := inputItemsQuery(q.Get("limit"), q.Get("order"))
	if err != nil {
		s.writeError(w, r, api.FormatOpenAI, err)
		return
	}
	_, sr, ok := s.storedResponse(w, r)
	if !ok {
		return
	}
	var items []json.RawMessage
	if err := json.Unmarshal(sr.Input, &items); err != nil {
		s.writeError(w, r, api.FormatOpenAI, &chorus.Error{Code: chorus.EINTERNAL, Message: "stored response is unreadable", Err: err})
		return
	}
	ids := make([]string, len(items))
	for i, it := range items {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(it, &v)
		ids[i] = v.ID
	}
	if order == "desc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
			ids[i], ids[j] = ids[j], ids[i]
		}
	}
	start := 0
	if after := q.Get("after"); after != "" {
		start = -1
		for i, id := range ids {
			if id == after {
				start = i + 1
			}
		}
		if start < 0 {
			s.writeError(w, r, api.FormatOpenAI, chorus.Invalid("after", "No input item with id '%s' in response %s.", after, sr.ID))
			return
		}
	}
	end := min(start+limit, len(items))
	page := inputItemList{Object: "list", Data: items[start:end], HasMore: end < len(items)}
	if end > start {
		page.FirstID, page.LastID = &ids[start], &ids[end-1]
	}
	api.WriteJSON(w, http.StatusOK, page)
}

// inputItemsQuery checks input_items' limit and order.
func inputItemsQuery(limit, order string) (int, string, error) {
	n := 20
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 || v > 100 {
			return 0, "", chorus.Invalid("limit", "limit must be an integer from 1 to 100, got %q", limit)
		}
		n = v
	}
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		return 0, "", chorus.Invalid("order", "order must be asc or desc, got %q", order)
	}
	return n, order, nil
}

// responsesInputTokens serves POST /v1/responses/input_tokens, OpenAI's
// prompt token count for a Responses request (the stored conversation it
// continues included): {"object": "response.input_tokens", "input_tokens":
// N}, counted offline with the meter's tokenizer. Like count_tokens it is
// rate limited by requests and never charged.
func (s *Server) responsesInputTokens(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	x := s.begin(ctx, "input_tokens")
	defer x.finish(ctx)
	n, err := x.countResponseTokens(ctx, w, r)
	if err != nil {
		x.failed(ctx, w, r, api.FormatOpenAI, err)
		return
	}
	x.setHeaders(w)
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "response.input_tokens", "input_tokens": n})
}

// countResponseTokens checks the caller and the request and counts its
// prompt.
func (x *exchange) countResponseTokens(ctx context.Context, w http.ResponseWriter, r *http.Request) (int, error) {
	if err := x.authenticate(r); err != nil {
		return 0, err
	}
	body, release, err := x.s.readBody(w, r)
	defer release()
	if err != nil {
		return 0, err
	}
	req, err := decodeResponses(ctx, x, body)
	if err != nil {
		return 0, err
	}
	if err := x.resolve(req.Model, chorus.KindChat); err != nil {
		return 0, err
	}
	if err := x.admit(ctx, w, 0); err != nil {
		return 0, err
	}
	return x.s.Meter.InputTokens(x.route.Targets[0].Deployment.UpstreamModel, req), nil
}
