# Chorus — the two set-up commands are `make run` and `make test`.
GO      ?= go
BIN     := bin/chorus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build ui test test-rules test-ui test-short vet scan tools fuzz coverage bench fmt clean

# The scanners, pinned (make tools installs them into $(GOBIN)); see docs/security-scanning.md.
STATICCHECK_VERSION := v0.8.2
GOSEC_VERSION       := v2.30.0
GOBIN               ?= $(shell $(GO) env GOPATH)/bin
COVER_PROFILE       := bin/cover.out

## run: build Chorus and start it (SQLite in ./data, simulator models, no keys needed)
run: build
	./$(BIN) serve

## build: compile the binary, with the console embedded, into bin/
build: ui
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/chorus

## ui: build the console into ui/dist (embedded by the Go build; needs Node 20.19+)
ui:
	cd ui && npm ci && npm run build

## test: vet and run every test (PostgreSQL tests run when CHORUS_TEST_POSTGRES_URL is set), then check coverage against .ci/coverage-floor
test: vet
	@mkdir -p bin
	$(GO) test -count=1 -timeout 20m -coverpkg=./... -coverprofile=$(COVER_PROFILE) ./...
	$(GO) test -count=1 -race -timeout 20m ./internal/usage/... ./internal/registry/... ./internal/api/... ./internal/gateway/... ./internal/manage/... ./internal/provider/... ./internal/orchestrate/... ./internal/limit/... ./internal/cache/... ./internal/quality/... ./internal/meter/... ./internal/webhook/... ./internal/auth/... ./internal/shop/...
	cd deploy/kubernetes/validate && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(MAKE) test-rules
	$(MAKE) test-ui
	scripts/coverage.sh

## test-rules: check the Prometheus rules and run their unit tests (promtool: Debian's prometheus package)
test-rules:
	promtool check rules deploy/prometheus/*.yaml
	promtool test rules deploy/prometheus/tests/*.yaml

## test-ui: the console's lint, unit tests with coverage, and browser tests against bin/chorus (Chromium at /usr/bin/chromium)
test-ui: build
	cd ui && npm run lint && npm run coverage && CHORUS_E2E_BINARY=$(CURDIR)/$(BIN) npm run e2e

## coverage: print Go and console coverage from the last make test and check the floors (scripts/coverage.sh --raise raises them)
coverage:
	scripts/coverage.sh

## scan: static analysis that fails on findings (gofmt and go vet run in make test): staticcheck, gosec, npm audit of the console (ESLint's security rules run in test-ui)
scan: tools
	$(GOBIN)/staticcheck ./...
	# G104 (unchecked errors) is excluded as a rule: every site is a Close or
	# Rollback on a cleanup path after the error that is returned, or a write
	# into a hash.Hash, which never fails; writes whose Close matters check it.
	# Every other finding is fixed or justified at its line: // #nosec Gnnn -- why
	$(GOBIN)/gosec -quiet -exclude=G104 ./...
	@! git grep -nE '#nosec' -- '*.go' | grep -vE '#nosec G[0-9]+( G[0-9]+)* -- .+' || \
		(echo 'a #nosec without its rule and reason: write // #nosec Gnnn -- why'; exit 1)
	scripts/npm-audit.sh

## tools: install the pinned staticcheck and gosec into $(GOBIN) when absent or another version
tools:
	@$(GO) version -m $(GOBIN)/staticcheck 2>/dev/null | grep -q 'mod.*honnef.co/go/tools.*$(STATICCHECK_VERSION)' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@$(GO) version -m $(GOBIN)/gosec 2>/dev/null | grep -q 'mod.*github.com/securego/gosec/v2.*$(GOSEC_VERSION)' || \
		$(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)

## fuzz: run every Go fuzz target for FUZZTIME (default 8s) each; crashers land in testdata/fuzz/ (scripts/fuzz.sh)
fuzz:
	scripts/fuzz.sh

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
