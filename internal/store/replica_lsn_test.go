package store

import (
	"testing"
	"time"
)

func TestParseLSN(t *testing.T) {
	for _, s := range []string{"0/0", "0/3000148", "16/B374D848", "ffffffff/ffffffff"} {
		l, err := parseLSN(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if back, _ := parseLSN(l.String()); back != l {
			t.Errorf("%s: round trip gave %s", s, l)
		}
	}
	if l, _ := parseLSN("1/10"); l != 1<<32|16 {
		t.Errorf("1/10 = %d", l)
	}
	for _, s := range []string{"", "0", "/1", "1/", "x/1", "1/1/1", "100000000/0", "-1/0", "1/ 2"} {
		if _, err := parseLSN(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestWALHistoryLag(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	h := &walHistory{keep: 30 * time.Second}
	if _, ok := h.lag(t0, 0); ok {
		t.Fatal("lag known before any sample")
	}
	// The primary sits at 100 for 10 s (idle), writes up to 200 at 11 s,
	// up to 300 at 12 s, then sits at 300.
	for s := 0; s <= 10; s++ {
		h.add(at(float64(s)), 100)
	}
	h.add(at(11), 200)
	h.add(at(12), 300)
	h.add(at(13), 300)

	for _, tc := range []struct {
		name   string
		now    float64
		replay lsn
		want   time.Duration
	}{
		{"CaughtUp", 13, 300, 0},
		{"AheadOfSample", 13, 350, 0},
		// Replayed up to 200: the primary was last there at 11 s.
		{"OneWriteBehind", 13, 200, 2 * time.Second},
		// Stuck at 100 while the primary sat there until 10 s: the lag
		// counts from when the primary moved on, not from when 100 was
		// written (an idle primary is not lag).
		{"PausedAfterIdle", 13, 100, 3 * time.Second},
		{"BetweenSamples", 13, 250, 2 * time.Second},
		{"OlderThanHistory", 13, 50, 13 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := h.lag(at(tc.now), tc.replay)
			if !ok || got != tc.want {
				t.Errorf("lag = %s, %v; want %s", got, ok, tc.want)
			}
		})
	}
	if got := h.newest(); got != 300 {
		t.Errorf("newest = %d", got)
	}

	t.Run("Forgets", func(t *testing.T) {
		h.add(at(60), 400)
		// Everything else was last seen more than 30 s before.
		if n := len(h.samples); n != 1 {
			t.Errorf("samples %v, want only the newest", h.samples)
		}
		if got, _ := h.lag(at(60), 400); got != 0 {
			t.Errorf("lag = %s", got)
		}
	})
}
