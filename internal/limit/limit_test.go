package limit_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

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
