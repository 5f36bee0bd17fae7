# Hearth. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin
TOOL      := $(GO) tool -modfile=tools/go.mod
DATA_DIR  ?= ./data
COMMANDS  := hearth distributor ingester querier loadgen hearth-check
# Packages whose tests run in `make test`: everything but the multi-process
# suites behind build tags.
TEST_PKGS := ./...

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary into bin/.
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

.PHONY: run
run: build ## Build and start the all-in-one on an embedded store in ./data.
	$(BIN)/hearth -storage.dir=$(DATA_DIR)

.PHONY: test
test: fmt-check vet ## Vet, check formatting, run the unit and in-process tests with -race, the multi-process read-path test, and every benchmark once.
	$(GO) test -race -count=1 -timeout=15m $(TEST_PKGS)
	$(GO) test -tags=integration -count=1 -timeout=10m -run 'TestReadPath|TestFlushedData' ./integration/...
	$(GO) test -count=1 -run='^$$' -bench=. -benchtime=1x $(TEST_PKGS) >/dev/null

.PHONY: vet
vet: ## Run go vet (the integration tests included).
	$(GO) vet ./...
	$(GO) vet -tags=integration ./integration/...
	$(GO) vet -tags='integration fault' ./integration/...

.PHONY: lint
lint: ## Run golangci-lint (.golangci.yml) through go tool; the first run builds it (~3 min).
	$(TOOL) golangci-lint run ./...

.PHONY: fmt
fmt: ## Format the code.
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: test-e2e
test-e2e: ## Run the multi-process tests in integration/ (builds the binaries; the fault tests are in test-fault).
	$(GO) test -tags=integration -count=1 -timeout=20m ./integration/...

.PHONY: test-fault
test-fault: ## Fault-injection tests with real processes: kill -9, rolling restart, store outage, disk full (~4 min); figures in .cache/fault/report.jsonl.
	@mkdir -p .cache/fault && rm -f .cache/fault/report.jsonl
	rc=0; HEARTH_FAULT_REPORT=$(CURDIR)/.cache/fault/report.jsonl $(GO) test -tags 'integration fault' -count=1 -run TestFault -v -timeout 30m ./integration/ || rc=$$?; \
	echo "--- .cache/fault/report.jsonl"; cat .cache/fault/report.jsonl 2>/dev/null || true; exit $$rc

.PHONY: bench
bench: ## Run the Go benchmarks of the hot paths.
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./pkg/...

.PHONY: bench-wal
bench-wal: ## WAL replay of one tenant with 1,000,000 series (HEARTH_WAL_BENCH_SERIES), per WAL compression: replay time, heap and WAL bytes per series.
	HEARTH_WAL_BENCH_SERIES=$${HEARTH_WAL_BENCH_SERIES:-1000000} $(GO) test -run='^$$' -bench=BenchmarkWALReplay -benchtime=1x -timeout=60m ./pkg/ingester/

.PHONY: bench-system
bench-system: ## Hearth against Prometheus v3 on this machine: ingest, RF=1 (~10 min); results in .cache/bench/results.md.
	scripts/bench/bench.sh ingest

.PHONY: bench-cluster
bench-cluster: ## Ingest into a loopback RF=3 cluster against Prometheus (~7 min).
	REPEAT=2 scripts/bench/bench.sh cluster

.PHONY: bench-query
bench-query: ## Query latency over 1h of data, Hearth against Prometheus (~6 min).
	REPEAT=2 scripts/bench/bench.sh query

.PHONY: bench-synthetic-store
bench-synthetic-store: ## Stored bytes per sample on 10,000 loadgen series backfilled over 13h of 2h blocks (~2 min).
	scripts/synthetic-store.sh

.PHONY: bench-realdata
bench-realdata: ## Stored bytes per sample on real data: Prometheus scraping node-exporter into the all-in-one (DURATION=45m).
	scripts/realdata.sh

.PHONY: proto
proto: .cache/protoinc/gogoproto/gogo.proto ## Regenerate the gogo code from proto/ (installs buf and the plugin through go tool).
	$(TOOL) buf generate proto

.cache/protoinc/gogoproto/gogo.proto: tools/go.mod
	@mkdir -p $(@D)
	cp "$$(cd tools && $(GO) list -m -f '{{.Dir}}' github.com/gogo/protobuf)/gogoproto/gogo.proto" $@
	chmod u+w $@

.PHONY: check-proto
check-proto: proto ## Regenerate the proto code and fail if it differs from what is committed.
	git diff --exit-code -- proto/

.PHONY: proto-lint
proto-lint: .cache/protoinc/gogoproto/gogo.proto ## Lint the protos with buf.
	$(TOOL) buf lint proto

.PHONY: mod-check
mod-check: ## Fail when go.mod or go.sum are not tidy.
	$(GO) mod tidy && git diff --exit-code -- go.mod go.sum

.PHONY: clean
clean: ## Remove build outputs.
	rm -rf $(BIN) .cache
