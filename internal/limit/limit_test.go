package limit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/limit"
)

func TestHeadersWrite(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		h := limit.Headers{LimitRequests: 60, RemainingRequests: 59, ResetRequests: time.Second,
			LimitTokens: 150000, RemainingTokens: 149984, ResetTokens: 6*time.Millisecond + 400*time.Microsecond}
		got := http.Header{}
		h.Write(got)
		for name, want := range map[string]string{
			"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s",
			"x-ratelimit-limit-tokens": "150000", "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "7ms",
		} {
			if g := got.Get(name); g != want {
				t.Errorf("%s = %q, want %q", name, g, want)
			}
		}
	})
	t.Run("OnlyLimitedKinds", func(t *testing.T) {
		got := http.Header{}
		(&limit.Headers{LimitTokens: 10, RemainingTokens: 10}).Write(got)
		if len(got) != 3 || got.Get("x-ratelimit-limit-requests") != "" || got.Get("x-ratelimit-reset-tokens") != "0s" {
			t.Fatalf("headers = %v, want only the tokens ones", got)
		}
	})
}

func TestFormatReset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", -time.Second: "0s", time.Microsecond: "1ms", 20 * time.Millisecond: "20ms",
		1500 * time.Millisecond: "1.5s", 6 * time.Minute: "6m0s", 59*time.Second + 999001*time.Microsecond: "1m0s",
	} {
		if got := limit.FormatReset(d); got != want {
			t.Errorf("FormatReset(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDeploymentLimits(t *testing.T) {
	decode := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("OK", func(t *testing.T) {
		got, err := limit.DeploymentLimits(decode(`{"rpm": 500, "tpm": 90000, "max_concurrency": 8, "api_version": "x"}`))
		if want := (limit.Limits{RPM: 500, TPM: 90000, Concurrency: 8}); err != nil || got != want {
			t.Fatalf("got %+v %v, want %+v", got, err, want)
		}
	})
	t.Run("Absent", func(t *testing.T) {
		got, err := limit.DeploymentLimits(nil)
		if err != nil || !got.IsZero() {
			t.Fatalf("got %+v %v", got, err)
		}
	})
	for name, s := range map[string]string{
		"ErrFraction": `{"rpm": 1.5}`, "ErrNegative": `{"tpm": -1}`, "ErrString": `{"max_concurrency": "8"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := limit.DeploymentLimits(decode(s)); err == nil {
				t.Fatalf("%s accepted", s)
			}
		})
	}
}

func TestDecisionErr(t *testing.T) {
	m := limit.NewMemory(nil)
	ctx := context.Background()
	req := &limit.Request{KeyID: 1, Tokens: 600, KeyLimits: limit.Limits{RPM: 5, TPM: 1000}}
	d, _, _ := m.Admit(ctx, req)
	if err := d.Err(); err != nil {
		t.Fatalf("allowed decision: Err = %v, want nil", err)
	}
	d, _, _ = m.Admit(ctx, req)
	var ce *chorus.Error
	if !errors.As(d.Err(), &ce) {
		t.Fatalf("refused decision: Err = %v, want a *chorus.Error", d.Err())
	}
	if ce.Code != chorus.ERATELIMIT || ce.Type != "tokens" || ce.Message != d.Reason || ce.RetryAfter != d.RetryAfter || ce.RetryAfter <= 0 {
		t.Fatalf("Err = %+v, want ERATELIMIT, type tokens, the reason and the retry of %+v", ce, d)
	}
}

func TestPolicyRequest(t *testing.T) {
	p := limit.Policy{Key: limit.Limits{RPM: 60}, User: limit.Limits{TPM: 1000}, Team: limit.Limits{Concurrency: 3},
		Models: map[string]limit.Limits{"big": {RPM: 5}}}
	got := p.Request(1, 2, 3, "big", 40)
	want := limit.Request{KeyID: 1, UserID: 2, TeamID: 3, Model: "big", Tokens: 40,
		KeyLimits: p.Key, UserLimits: p.User, TeamLimits: p.Team, ModelLimits: limit.Limits{RPM: 5}}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if got := p.Request(1, 2, 0, "small", 40); !got.ModelLimits.IsZero() {
		t.Fatalf("a model without limits got %+v", got.ModelLimits)
	}
}
