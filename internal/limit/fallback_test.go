package limit

import (
	"testing"
	"time"
)

func TestLocalShare(t *testing.T) {
	for name, tc := range map[string]struct {
		l         Limits
		n, tokens int64
		want      Limits
	}{
		"Whole":         {Limits{RPM: 10, TPM: 1000, Concurrency: 4}, 1, 10, Limits{RPM: 10, TPM: 1000, Concurrency: 4}},
		"RoundedUp":     {Limits{RPM: 10, TPM: 1000, Concurrency: 4}, 3, 10, Limits{RPM: 4, TPM: 334, Concurrency: 2}},
		"AtLeastOne":    {Limits{RPM: 2, Concurrency: 1}, 5, 0, Limits{RPM: 1, Concurrency: 1}},
		"UnlimitedStay": {Limits{TPM: 100}, 2, 0, Limits{TPM: 50}},
		// 600 tokens fit the whole 1000 but not a third of it: not
		// TooLarge, the local bucket is widened to hold the request.
		"BigRequestFits": {Limits{TPM: 1000}, 3, 600, Limits{TPM: 600}},
		"TooLargeStays":  {Limits{TPM: 1000}, 3, 1200, Limits{TPM: 334}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := localShare(tc.l, tc.n, tc.tokens); got != tc.want {
				t.Fatalf("localShare(%+v, %d, %d) = %+v, want %+v", tc.l, tc.n, tc.tokens, got, tc.want)
			}
		})
	}
}

func TestFallbackDivisor(t *testing.T) {
	f := newFallback(0, nil)
	if f.divisor() != 1 {
		t.Fatalf("never counted: divisor %d, want 1", f.divisor())
	}
	f.fleet.Store(3)
	if f.divisor() != 3 {
		t.Fatalf("3 counted: divisor %d, want 3", f.divisor())
	}
	if g := newFallback(2, nil); g.divisor() != 2 {
		t.Fatalf("Share 2: divisor %d, want 2", g.divisor())
	}
}

// TestFallbackTooLarge: in process, a request over the whole TPM limit is
// still TooLarge, and one within it is not, however small the share.
func TestFallbackTooLarge(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFallback(4, func() time.Time { return at })
	dims := []dim{{scope: scopeKey, id: 1, lim: Limits{TPM: 1000}}}
	if d, _, _ := f.decide(dims, 1001); d.Allowed || !d.TooLarge || !d.Degraded {
		t.Fatalf("1001 tokens on 1000 TPM: %+v, want TooLarge", d)
	}
	d, tk, _ := f.decide(dims, 900)
	if !d.Allowed || !d.Degraded {
		t.Fatalf("900 tokens on 1000 TPM shared by 4: %+v, want allowed", d)
	}
	tk.Done(900)
	if d, _, _ := f.decide(dims, 900); d.Allowed || d.TooLarge || d.RetryAfter <= 0 {
		t.Fatalf("a second 900 at once: %+v, want a wait", d)
	}
}

func TestCircuit(t *testing.T) {
	c := newCircuit(3)
	steps := []struct {
		name    string
		fail    bool
		changed bool // opened (a failure) or closed (a success)
		open    bool
	}{
		{"Fault1", true, false, false},
		{"Fault2", true, false, false},
		{"SuccessResets", false, false, false},
		{"Fault1Again", true, false, false},
		{"Fault2Again", true, false, false},
		{"Fault3Opens", true, true, true},
		{"Fault4StaysOpen", true, false, true},
		{"SuccessCloses", false, true, false},
		{"SuccessClosed", false, false, false},
	}
	for _, st := range steps {
		var changed bool
		if st.fail {
			changed = c.failure()
		} else {
			changed = c.success()
		}
		if changed != st.changed || c.isOpen() != st.open {
			t.Fatalf("%s: changed %v, open %v; want %v, %v", st.name, changed, c.isOpen(), st.changed, st.open)
		}
	}
}
