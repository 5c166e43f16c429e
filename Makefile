# Chorus — the two set-up commands are `make run` and `make test`.
GO      ?= go
BIN     := bin/chorus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build ui test test-ui test-short vet bench fmt clean

## run: build Chorus and start it (SQLite in ./data, simulator models, no keys needed)
run: build
	./$(BIN) serve

## build: compile the binary, with the console embedded, into bin/
build: ui
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/chorus

## ui: build the console into ui/dist (embedded by the Go build; needs Node 20.19+)
ui:
	cd ui && npm ci && npm run build

## test: vet and run every test (PostgreSQL tests run when CHORUS_TEST_POSTGRES_URL is set)
test: vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m ./internal/usage/... ./internal/registry/... ./internal/api/... ./internal/gateway/... ./internal/manage/... ./internal/provider/... ./internal/orchestrate/... ./internal/limit/... ./internal/cache/... ./internal/quality/... ./internal/meter/... ./internal/webhook/... ./internal/auth/... ./internal/shop/...
	$(MAKE) test-ui

## test-ui: the console's lint, unit tests with coverage, and browser tests against bin/chorus (Chromium at /usr/bin/chromium)
test-ui: build
	cd ui && npm run lint && npm run coverage && CHORUS_E2E_BINARY=$(CURDIR)/$(BIN) npm run e2e

## test-short: vet and run the tests with -short (skips those that build and run the binary, spawn processes or drive load)
test-short: vet
	$(GO) test -count=1 -short -timeout 10m ./...

## vet: static checks
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet ./...

## bench: the gateway overhead benchmark (see bench/README.md)
bench: build
	$(GO) run ./bench/cmd/loadgen -chorus ./$(BIN)

fmt:
	gofmt -w .

clean:
	rm -rf bin
