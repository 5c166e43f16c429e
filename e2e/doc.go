// Package e2e holds Chorus's end-to-end tests. They start whole gateways
// (in-process through apptest, and the chorus binary as a process), set them
// up through the admin JSON API, and drive them with the official, unmodified
// OpenAI and Anthropic Go SDKs against the built-in simulator and the local
// fakes of each provider's wire format. Everything is in _test files; this
// file only documents the package.
package e2e
