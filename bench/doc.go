// Package bench measures what Chorus adds to a request: the in-process
// benchmarks in gateway_test.go, the mock upstream (bench/mockupstream) and
// the load generator (bench/cmd/loadgen). See bench/README.md.
package bench
