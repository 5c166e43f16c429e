package manage

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/quality"
)

// The learned scorers' admin API (docs/quality-learning.md): what each has
// learned and how good it is on held-out examples, importing labelled
// examples, saving a version, rolling back to one; and a cascade's
// calibrated threshold.

// maxImportBody bounds an import of labelled examples (about 10,000
// GSM8K-sized examples).
const maxImportBody = 32 << 20

// maxImportExamples bounds the examples of one import.
const maxImportExamples = 50_000

// learnedRoutes registers the learned scorers' admin API; it needs
// Server.Learner (without it the routes are not served).
func (s *Server) learnedRoutes(mux *api.Mux) {
	if s.Learner == nil {
		return
	}
	admin := func(pattern string, h handlerFunc) { s.handle(mux, pattern, accessAdmin, h) }
	admin("GET /api/admin/quality/learned", s.adminListLearned)
	admin("GET /api/admin/quality/learned/scorer", s.adminGetLearned)
	admin("POST /api/admin/quality/learned/examples", s.adminImportExamples)
	admin("POST /api/admin/quality/learned/versions", s.adminSaveLearned)
	admin("POST /api/admin/quality/learned/rollback", s.adminRollbackLearned)
	if s.RouteCalibration != nil {
		admin("GET /api/admin/routes/{id}/calibration", s.adminRouteCalibration)
	}
}

// scopeParam reads the scope query parameter ("<route or model>:<scorer>").
func scopeParam(r *http.Request) (string, error) {
	sc := r.URL.Query().Get("scope")
	if sc == "" || len(sc) > 300 || !strings.Contains(sc, ":") {
		return "", chorus.Invalid("scope", "scope is required: the learned scorer as <route or model>:<scorer name>, e.g. support-cascade:learned")
	}
	return sc, nil
}

// adminListLearned serves GET /api/admin/quality/learned: every learned
// scorer's report.
func (s *Server) adminListLearned(w http.ResponseWriter, _ *http.Request, _ *chorus.Principal) error {
	scopes := s.Learner.Scopes()
	out := make([]*quality.LearnedReport, 0, len(scopes))
	for _, sc := range scopes {
		if rep := s.Learner.Report(sc); rep != nil {
			out = append(out, rep)
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
	return nil
}

// learnedOutput is one learned scorer's report with its saved versions.
type learnedOutput struct {
	Object string `json:"object"`
	*quality.LearnedReport
	Versions []*chorus.LearnedModel `json:"versions"`
}

// adminGetLearned serves GET /api/admin/quality/learned/scorer?scope=.
func (s *Server) adminGetLearned(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sc, err := scopeParam(r)
	if err != nil {
		return err
	}
	rep := s.Learner.Report(sc)
	if rep == nil {
		return &chorus.Error{Code: chorus.ENOTFOUND, Param: "scope", Message: "No learned scorer " + sc + " has learned anything yet."}
	}
	versions, err := s.Learner.Versions(r.Context(), sc)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, learnedOutput{Object: "learned_scorer", LearnedReport: rep, Versions: versions})
	return nil
}

// importExample is one labelled example as an operator sends it.
type importExample struct {
	Question string   `json:"question"`
	Answer   string   `json:"answer"`
	Model    string   `json:"model"`
	Good     *bool    `json:"good"`
	Score    *float64 `json:"score"`
}

// adminImportExamples serves POST /api/admin/quality/learned/examples?scope=
// [&input=prompt]: labelled examples as JSON ({"examples": [...]}), JSONL
// (application/x-ndjson: one example a line) or CSV (text/csv: columns
// question, answer, model and good or score; or the RouteLLM columns —
// prompt, and per model True/False and <model>_response — one example per
// model and row).
func (s *Server) adminImportExamples(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sc, err := scopeParam(r)
	if err != nil {
		return err
	}
	promptOnly := false
	switch in := r.URL.Query().Get("input"); in {
	case "", quality.InputAnswer:
	case quality.InputPrompt:
		promptOnly = true
	default:
		return chorus.Invalid("input", "input must be %q or %q, got %q", quality.InputAnswer, quality.InputPrompt, in)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var examples []importExample
	switch ct {
	case "application/json":
		var body struct {
			Examples []importExample `json:"examples"`
		}
		if err := api.DecodeJSON(w, r, &body); err != nil {
			return err
		}
		examples = body.Examples
	case "application/x-ndjson", "application/jsonl":
		b, err := readImport(w, r)
		if err != nil {
			return err
		}
		if examples, err = parseJSONL(b); err != nil {
			return err
		}
	case "text/csv":
		b, err := readImport(w, r)
		if err != nil {
			return err
		}
		if examples, err = parseCSV(b); err != nil {
			return err
		}
	default:
		return chorus.Invalid("Content-Type", "Send examples as application/json ({\"examples\": [...]}), application/x-ndjson (one example a line) or text/csv.")
	}
	if len(examples) == 0 || len(examples) > maxImportExamples {
		return chorus.Invalid("examples", "an import needs 1 to %d examples, got %d", maxImportExamples, len(examples))
	}
	xs := make([]quality.ImportedExample, len(examples))
	for i, e := range examples {
		at := fmt.Sprintf("examples[%d]", i)
		if strings.TrimSpace(e.Question) == "" {
			return chorus.Invalid(at+".question", "%s.question is required", at)
		}
		if e.Model == "" {
			return chorus.Invalid(at+".model", "%s.model is required: the model that gave the answer", at)
		}
		var label float64
		switch {
		case e.Score != nil && e.Good != nil:
			return chorus.Invalid(at+".score", "%s: give good or score, not both", at)
		case e.Score != nil:
			if !(*e.Score >= 0 && *e.Score <= 1) {
				return chorus.Invalid(at+".score", "%s.score must be between 0 and 1, got %v", at, *e.Score)
			}
			label = *e.Score
		case e.Good != nil:
			if *e.Good {
				label = 1
			}
		default:
			return chorus.Invalid(at+".good", "%s needs good (true or false) or score (0 to 1)", at)
		}
		xs[i] = quality.ImportedExample{Example: quality.Example{Question: e.Question, Answer: e.Answer, Model: e.Model, PromptOnly: promptOnly}, Label: label}
	}
	n, err := s.Learner.Import(r.Context(), sc, xs)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "import", "scope": sc, "imported": n, "report": s.Learner.Report(sc)})
	return nil
}

// readImport reads an import body within maxImportBody.
func readImport(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, api.TooLarge(maxImportBody)
	}
	if err != nil {
		return nil, chorus.Invalid("", "The request body could not be read.")
	}
	return b, nil
}

// parseJSONL reads one example object a line.
func parseJSONL(b []byte) ([]importExample, error) {
	var out []importExample
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var e importExample
		if err := dec.Decode(&e); err != nil {
			return nil, chorus.Invalid("examples", "line %d is not an example object (question, answer, model, good or score): %v", i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// parseCSV reads examples from CSV: the columns question, answer, model
// and good or score; or RouteLLM's (see adminImportExamples).
func parseCSV(b []byte) ([]importExample, error) {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, chorus.Invalid("examples", "the CSV could not be read: %v", err)
	}
	if len(rows) < 2 {
		return nil, chorus.Invalid("examples", "the CSV needs a header and at least one row")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")] = i
	}
	get := func(row []string, name string) (string, bool) {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return "", false
		}
		return row[i], true
	}
	if _, ok := col["question"]; ok {
		var out []importExample
		for n, row := range rows[1:] {
			e := importExample{}
			e.Question, _ = get(row, "question")
			e.Answer, _ = get(row, "answer")
			e.Model, _ = get(row, "model")
			if v, ok := get(row, "good"); ok && v != "" {
				g, err := strconv.ParseBool(v)
				if err != nil {
					return nil, chorus.Invalid("examples", "row %d: good must be true or false, got %q", n+2, v)
				}
				e.Good = &g
			}
			if v, ok := get(row, "score"); ok && v != "" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, chorus.Invalid("examples", "row %d: score must be a number, got %q", n+2, v)
				}
				e.Score = &f
			}
			out = append(out, e)
		}
		return out, nil
	}
	if _, ok := col["prompt"]; !ok {
		return nil, chorus.Invalid("examples", "the CSV needs the columns question, answer, model and good (or score), or RouteLLM's prompt and per-model columns")
	}
	var models []string
	for _, h := range rows[0] {
		if _, ok := col[h+"_response"]; ok || (h != "prompt" && h != "subject" && !strings.HasSuffix(h, "_response")) {
			models = append(models, h)
		}
	}
	var out []importExample
	for n, row := range rows[1:] {
		q, _ := get(row, "prompt")
		for _, m := range models {
			v, _ := get(row, m)
			g, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return nil, chorus.Invalid("examples", "row %d: column %s must be True or False, got %q", n+2, m, v)
			}
			a, _ := get(row, m+"_response")
			out = append(out, importExample{Question: q, Answer: strings.TrimSpace(a), Model: m, Good: &g})
		}
	}
	return out, nil
}

// adminSaveLearned serves POST /api/admin/quality/learned/versions?scope=
// with an optional {"note"}: saves the scorer's weights as a new version.
func (s *Server) adminSaveLearned(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sc, err := scopeParam(r)
	if err != nil {
		return err
	}
	var in struct {
		Note string `json:"note"`
	}
	if err := api.DecodeOptionalJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Note) > 500 {
		return chorus.Invalid("note", "note must be at most 500 characters")
	}
	m, err := s.Learner.Save(r.Context(), sc, in.Note)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, m)
	return nil
}

// adminRollbackLearned serves POST /api/admin/quality/learned/rollback?scope=
// with {"version": n}.
func (s *Server) adminRollbackLearned(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	sc, err := scopeParam(r)
	if err != nil {
		return err
	}
	var in struct {
		Version int64 `json:"version"`
	}
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Version <= 0 {
		return chorus.Invalid("version", "version must be a saved version's number (1 or more)")
	}
	m, err := s.Learner.Rollback(r.Context(), sc, in.Version)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "rollback", "version": m, "report": s.Learner.Report(sc)})
	return nil
}

// adminRouteCalibration serves GET /api/admin/routes/{id}/calibration: a
// cascade's threshold calibrated to its target, with the expected quality
// and cost.
func (s *Server) adminRouteCalibration(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	rt, err := s.Store.RouteByID(r.Context(), id)
	if err != nil {
		return err
	}
	c, err := s.RouteCalibration(rt.Name)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "calibration", "route": rt.Name, "calibration": c})
	return nil
}
