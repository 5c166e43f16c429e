package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
)

// fakeBiasAPI answers the bias admin API: a started run is running once,
// then ends in status final; a request for model "nope" is refused.
func fakeBiasAPI(t *testing.T, final string) *httptest.Server {
	t.Helper()
	run := chorus.BiasRun{ID: 4, Model: "m", Suite: "hiring", Status: chorus.BiasRunning, Planned: 10,
		Results: []chorus.BiasResult{{Task: "shortlist", Attribute: "name", Value: "Jamal Jones", Reference: "Emily Walsh",
			Metric: "positive_rate", N: 20, RefN: 20, Gap: -0.5, Low: -0.7, High: -0.3, Threshold: 0.1, Verdict: chorus.BiasVerdictFail}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer admin-key" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "POST /api/admin/bias/runs":
			var in struct{ Model string }
			_ = json.NewDecoder(r.Body).Decode(&in)
			if in.Model == "nope" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":{"message":"The model or route \"nope\" is not in the registry."}}`))
				return
			}
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(run)
		case "GET /api/admin/bias/runs/4":
			run.Status = final
			_ = json.NewEncoder(w).Encode(run)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBiasCommand(t *testing.T) {
	tests := []struct {
		name    string
		final   string
		args    []string
		wantErr error  // errors.Is
		errText string // or a message
		out     string
	}{
		{"Pass", chorus.BiasPass, []string{"--model", "m", "--suite", "hiring"}, nil, "", "status pass"},
		{"Fail", chorus.BiasFail, []string{"--model", "m", "--suite", "hiring"}, errBiasFailed, "", "Jamal Jones"},
		{"ErrAPI", chorus.BiasPass, []string{"--model", "nope", "--suite", "hiring"}, nil, "not in the registry", ""},
		{"ErrNoKey", chorus.BiasPass, []string{"--key", "", "--model", "m"}, nil, "admin's API key", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeBiasAPI(t, tt.final)
			t.Setenv("CHORUS_ADMIN_KEY", "admin-key")
			var out bytes.Buffer
			args := append([]string{"bias", "run", "--url", srv.URL}, tt.args...)
			err := run(context.Background(), args, &out, &bytes.Buffer{})
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("err = %v, want one saying %q", err, tt.errText)
			case tt.wantErr == nil && tt.errText == "" && err != nil:
				t.Errorf("err = %v", err)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("output %q lacks %q", out.String(), tt.out)
			}
		})
	}
}
