// Package sim is the simulation benchmark of Chorus's routing strategies:
// an in-process gateway, simulated model tiers of known quality, cost and
// latency, and three scenarios driven over HTTP and read back from the
// usage records — a cascade against always calling the strongest model,
// fallback under injected upstream errors, and hedging under a
// heavy-tailed upstream. The command is bench/cmd/simbench; method and
// figures are in bench/sim/README.md.
package sim
