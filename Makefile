# Hearth. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin
TOOL      := $(GO) tool -modfile=tools/go.mod
DATA_DIR  ?= ./data
COMMANDS  := hearth distributor ingester querier query-frontend ruler loadgen hearth-check
# The version stamped into every binary (hearth version, -version,
# hearth_build_info, /prometheus/api/v1/status/buildinfo), from git: a tag
# v1.2.3 gives 1.2.3 (1.2.3-4-gabcdef0 four commits later); before the
# first tag, 0.0.0-<commit>, still a semantic version, which Grafana parses.
GIT_DESCRIBE := $(shell git describe --tags --always --dirty --match 'v[0-9]*' 2>/dev/null)
VERSION    ?= $(if $(filter v%,$(GIT_DESCRIBE)),$(patsubst v%,%,$(GIT_DESCRIBE)),0.0.0-$(or $(GIT_DESCRIBE),unknown))
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS    := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)
RELEASE_DIR := dist
PLATFORMS  := linux/amd64 linux/arm64
# Packages whose tests run in `make test`: everything but the multi-process
# suites behind build tags.
TEST_PKGS := ./...

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary into bin/, with the version from git stamped in.
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

.PHONY: run
run: ## Build and start the all-in-one on an embedded store in ./data.
	@[ -x $(BIN)/hearth ] || echo "First build: Go compiles Hearth with Prometheus's query engine and TSDB, gRPC and Pebble, several minutes on a small machine with nothing printed meanwhile; later builds take seconds."
	@$(MAKE) --no-print-directory build
	$(BIN)/hearth -storage.dir=$(DATA_DIR)

.PHONY: run-cluster
run-cluster: ## Build and start a small cluster on this machine (distributor, 3 ingesters, querier, query frontend, ruler, Alertmanager, the Bigtable emulator); state and logs in .cache/cluster.
	@$(MAKE) --no-print-directory build
	scripts/run-cluster.sh

.PHONY: release
release: ## Build every binary for linux/amd64 and linux/arm64 with the version stamped: dist/hearth-<version>.linux-<arch>.tar.gz and sha256sums.txt.
	rm -rf $(RELEASE_DIR)
	for p in $(PLATFORMS); do \
	  name=hearth-$(VERSION).$${p%/*}-$${p#*/}; mkdir -p $(RELEASE_DIR)/$$name; \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(RELEASE_DIR)/$$name/ $(addprefix ./cmd/,$(COMMANDS)); \
	  cp LICENSE README.md CHANGELOG.md $(RELEASE_DIR)/$$name/; \
	  tar -C $(RELEASE_DIR) -czf $(RELEASE_DIR)/$$name.tar.gz $$name; \
	done
	cd $(RELEASE_DIR) && sha256sum *.tar.gz > sha256sums.txt
	@echo "Version $(VERSION) in $(RELEASE_DIR)/"

.PHONY: print-ldflags
print-ldflags: # The -ldflags that stamp the version (for cmd/hearth's test).
	@echo '$(LDFLAGS)'

.PHONY: test
test: fmt-check vet lint ## Vet, lint, check formatting, run the unit and in-process tests with -race, the multi-process read-path test, and every benchmark once.
	$(GO) test -race -count=1 -timeout=15m $(TEST_PKGS)
	$(GO) test -tags=integration -count=1 -timeout=10m -run 'TestReadPath|TestFlushedData|TestQueryFrontend' ./integration/...
	$(GO) test -count=1 -run='^$$' -bench=. -benchtime=1x $(TEST_PKGS) >/dev/null

.PHONY: vet
vet: ## Run go vet (the integration tests included).
	$(GO) vet ./...
	$(GO) vet -tags=integration ./integration/...
	$(GO) vet -tags='integration fault' ./integration/...
	$(GO) vet -tags='integration adversarial' ./integration/...

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

.PHONY: test-adversarial
test-adversarial: ## The worst inputs found against a running all-in-one under a memory cgroup, with a well-behaved tenant alongside (~3 min); figures in .cache/adversarial/report.jsonl.
	@mkdir -p .cache/adversarial && rm -f .cache/adversarial/report.jsonl
	rc=0; HEARTH_ADVERSARIAL_REPORT=$(CURDIR)/.cache/adversarial/report.jsonl $(GO) test -tags 'integration adversarial' -count=1 -run TestAdversarial -v -timeout 20m ./integration/ || rc=$$?; \
	echo "--- .cache/adversarial/report.jsonl"; cat .cache/adversarial/report.jsonl 2>/dev/null || true; exit $$rc

.PHONY: bench
bench: ## Run the Go benchmarks of the hot paths.
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./pkg/...

.PHONY: bench-wal
bench-wal: ## WAL replay of one tenant with 1,000,000 series (HEARTH_WAL_BENCH_SERIES), per WAL compression: replay time, heap and WAL bytes per series.
	HEARTH_WAL_BENCH_SERIES=$${HEARTH_WAL_BENCH_SERIES:-1000000} $(GO) test -run='^$$' -bench=BenchmarkWALReplay -benchtime=1x -timeout=60m ./pkg/ingester/

.PHONY: bench-frontend
bench-frontend: ## The query frontend's dashboard benchmark (10,000 series over 7 days in the store; querier alone, Prometheus, warm refreshes through the frontend; can take an hour on 2 cores).
	HEARTH_BENCH_DASHBOARD=1 $(GO) test -run='^$$' -bench=BenchmarkDashboardRefresh -benchtime=1x -timeout=3h -v ./pkg/app/

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
bench-realdata: ## Stored bytes per sample on real data: Prometheus scraping node-exporter, remote-writing to the all-in-one and VictoriaMetrics (DURATION=45m).
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

.PHONY: doc
doc: ## Regenerate docs/configuration.md from the flag set (make test fails when it is stale).
	HEARTH_UPDATE_DOC=1 $(GO) test -count=1 -run '^TestConfigReference$$' ./pkg/app/

.PHONY: check-doc
check-doc: ## Fail when docs/configuration.md is not what the flag set generates.
	$(GO) test -count=1 -run '^TestConfigReference$$' ./pkg/app/

.PHONY: manifests
manifests: ## Render the Helm chart's default values into deploy/kubernetes/ (make test fails when they drift from the chart).
	HEARTH_UPDATE_MANIFESTS=1 $(GO) test -count=1 -run '^TestManifestsUpToDate$$' ./deploy/

.PHONY: mod-check
mod-check: ## Fail when go.mod or go.sum are not tidy.
	$(GO) mod tidy && git diff --exit-code -- go.mod go.sum

.PHONY: clean
clean: ## Remove build outputs.
	rm -rf $(BIN) $(RELEASE_DIR) .cache
