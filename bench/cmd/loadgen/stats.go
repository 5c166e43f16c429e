package main

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// dist is a latency distribution.
type dist struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

func distOf(d []time.Duration) dist {
	if len(d) == 0 {
		return dist{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	q := func(p float64) time.Duration {
		// nearest rank
		i := int(p*float64(len(d))+0.5) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return dist{P50: q(.50), P90: q(.90), P99: q(.99), P999: q(.999), Max: d[len(d)-1], Mean: sum / time.Duration(len(d))}
}

// stats summarise one scenario against one target.
type stats struct {
	Target   string
	OK       int
	Errors   int
	ErrText  []string // a few distinct error messages
	Rate     float64  // successful answers per second of the window
	Lat      dist
	TTFT     dist // streams only
	Lag      dist // open loop only: how late the generator sent
	CPU      cpuUse
	Requests int
}

// cpuUse is the CPU time each process spent during the window, per
// successful request and in cores. The gateway is the process the target
// goes through: Chorus, the bare proxy, or none (direct).
type cpuUse struct {
	LoadgenPerReq, MockPerReq, GatewayPerReq time.Duration
	LoadgenCores, MockCores, GatewayCores    float64
	OtherCores                               float64 // everything else on the machine
}

func summarise(name string, samples []sample, w window, cpu cpuSpent, gateway time.Duration) stats {
	st := stats{Target: name}
	var lat, ttft, lag []time.Duration
	errs := map[string]int{}
	for _, s := range samples {
		if s.lat == 0 && s.err == nil {
			continue // never sent (interrupted)
		}
		st.Requests++
		if s.err != nil {
			st.Errors++
			errs[s.err.Error()]++
			continue
		}
		st.OK++
		lat = append(lat, s.lat)
		if s.ttft > 0 {
			ttft = append(ttft, s.ttft)
		}
		if s.lag != 0 {
			lag = append(lag, s.lag)
		}
	}
	for e := range errs {
		st.ErrText = append(st.ErrText, e)
	}
	sort.Strings(st.ErrText)
	if len(st.ErrText) > 3 {
		st.ErrText = st.ErrText[:3]
	}
	st.Rate = float64(st.OK) / w.seconds()
	st.Lat, st.TTFT, st.Lag = distOf(lat), distOf(ttft), distOf(lag)
	if st.OK > 0 {
		n := time.Duration(st.OK)
		secs := w.seconds()
		st.CPU = cpuUse{
			LoadgenPerReq: cpu.loadgen / n, MockPerReq: cpu.mock / n, GatewayPerReq: gateway / n,
			LoadgenCores: cpu.loadgen.Seconds() / secs, MockCores: cpu.mock.Seconds() / secs, GatewayCores: gateway.Seconds() / secs,
			OtherCores: cpu.other().Seconds() / secs,
		}
	}
	return st
}

// us formats a duration in microseconds with one decimal below 10 µs.
func us(d time.Duration) string {
	v := float64(d) / float64(time.Microsecond)
	switch {
	case v == 0:
		return "-"
	case v < 10 && v > -10:
		return fmt.Sprintf("%.1f µs", v)
	case v >= 100_000 || v <= -100_000:
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

// signedUS formats an added latency with its sign.
func signedUS(d time.Duration) string {
	if d >= 0 {
		return "+" + us(d)
	}
	return "−" + us(-d)
}

// median returns the median of vs (the lower middle for an even count).
func median[T int | int64 | float64 | time.Duration](vs []T) T {
	if len(vs) == 0 {
		var zero T
		return zero
	}
	c := slices.Clone(vs)
	slices.Sort(c)
	return c[(len(c)-1)/2]
}
