package telemetry

import (
	"testing"
	"time"
)

func TestLedgerCheck(t *testing.T) {
	m := New()
	l := m.RegisterLedgerCheck()
	names := func() map[string]float64 {
		out := map[string]float64{}
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if len(mf.GetMetric()) == 0 {
				continue
			}
			mt := mf.GetMetric()[0]
			if g := mt.GetGauge(); g != nil {
				out[mf.GetName()] = g.GetValue()
			} else {
				out[mf.GetName()] = mt.GetCounter().GetValue()
			}
		}
		return out
	}
	if _, ok := names()["chorus_ledger_check_ok"]; ok {
		t.Error("chorus_ledger_check_ok exported before any check ran")
	}
	at := time.Unix(1_800_000_000, 0)
	l.Checked(at, 2)
	got := names()
	if got["chorus_ledger_check_ok"] != 0 || got["chorus_ledger_check_problems"] != 2 || got["chorus_ledger_check_last_run_timestamp_seconds"] != 1_800_000_000 {
		t.Errorf("after a failed check: %v", got)
	}
	l.Checked(at.Add(time.Hour), 0)
	l.Failed()
	got = names()
	if got["chorus_ledger_check_ok"] != 1 || got["chorus_ledger_check_problems"] != 0 || got["chorus_ledger_check_errors_total"] != 1 {
		t.Errorf("after a clean check and an error: %v", got)
	}
}
