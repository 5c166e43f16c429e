package gateway

import (
	"net/http"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/registry"
)

// openAIModel is a model in OpenAI's list format.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// anthropicModel is a model in Anthropic's list format.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// wantsAnthropic reports whether the caller is an Anthropic client; they send
// anthropic-version on every request.
func wantsAnthropic(r *http.Request) bool { return r.Header.Get("Anthropic-Version") != "" }

// modelsFormat is the error shape of the models endpoints: the caller's.
func modelsFormat(r *http.Request) api.Format {
	if wantsAnthropic(r) {
		return api.FormatAnthropic
	}
	return api.FormatOpenAI
}

// listModels serves GET /v1/models: the enabled models this key may use.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	key, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, modelsFormat(r), err)
		return
	}
	var routes []*registry.Route
	for _, rt := range s.Registry.Snapshot().Models() {
		if key.Allows(rt.Model.Name) {
			routes = append(routes, rt)
		}
	}
	if wantsAnthropic(r) {
		out := struct {
			Data    []anthropicModel `json:"data"`
			HasMore bool             `json:"has_more"`
			FirstID *string          `json:"first_id"`
			LastID  *string          `json:"last_id"`
		}{Data: make([]anthropicModel, 0, len(routes))}
		for _, rt := range routes {
			out.Data = append(out.Data, toAnthropicModel(rt.Model))
		}
		if n := len(out.Data); n > 0 {
			out.FirstID, out.LastID = &out.Data[0].ID, &out.Data[n-1].ID
		}
		api.WriteJSON(w, http.StatusOK, out)
		return
	}
	out := struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{Object: "list", Data: make([]openAIModel, 0, len(routes))}
	for _, rt := range routes {
		out.Data = append(out.Data, toOpenAIModel(rt.Model))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// getModel serves GET /v1/models/{id}.
func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	key, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, modelsFormat(r), err)
		return
	}
	id := r.PathValue("id")
	rt := s.Registry.Snapshot().Route(id)
	if rt == nil || !key.Allows(id) {
		s.writeError(w, r, modelsFormat(r), &chorus.Error{Code: chorus.ENOTFOUND, Param: "model",
			Message: "The model `" + id + "` does not exist or you do not have access to it."})
		return
	}
	if wantsAnthropic(r) {
		api.WriteJSON(w, http.StatusOK, toAnthropicModel(rt.Model))
		return
	}
	api.WriteJSON(w, http.StatusOK, toOpenAIModel(rt.Model))
}

func toOpenAIModel(m *chorus.Model) openAIModel {
	owner := m.OwnedBy
	if owner == "" {
		owner = "chorus"
	}
	return openAIModel{ID: m.Name, Object: "model", Created: m.CreatedAt.Unix(), OwnedBy: owner}
}

func toAnthropicModel(m *chorus.Model) anthropicModel {
	return anthropicModel{Type: "model", ID: m.Name, DisplayName: m.Name, CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339)}
}
