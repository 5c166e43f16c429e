package simulator_test

import (
	"context"
	"testing"
	"time"
)

// TestFaultDrawsIndependent checks that one call's random draws do not
// repeat in the next call's. With the default seed 0 the fault generator of
// call n started where call n+1's starts one step later, so call n's error
// draw was call n+1's tail draw: with a tail and an error rate both set,
// every call before a tail call failed (with a rate at or above the tail
// rate), which made the simulator's faults correlated in time.
func TestFaultDrawsIndependent(t *testing.T) {
	c := newSim(t, map[string]any{"tail_rate": 0.5, "tail_latency_ms": 30, "error_rate": 0.5, "error_status": 503})
	const n = 60
	var tail, failed [n]bool
	for i := range n {
		start := time.Now()
		_, err := c.Chat(context.Background(), chatReq("x"))
		tail[i] = time.Since(start) >= 30*time.Millisecond
		failed[i] = err != nil
	}
	same := 0
	for i := 0; i+1 < n; i++ {
		if failed[i] == tail[i+1] {
			same++
		}
	}
	// Independent draws agree about half the time (sd ≈ 6.5%).
	if same > (n-1)*85/100 {
		t.Fatalf("call i failed exactly when call i+1 was in the tail in %d of %d pairs: the draws overlap", same, n-1)
	}
}
