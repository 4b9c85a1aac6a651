# Lightning's one entry point. CI calls these targets only.

GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
# Extra flags for the test run, e.g. TESTFLAGS='-run TestCrash -v'.
TESTFLAGS ?=

.PHONY: all test test-short lint vet fmt-check fuzz bench run soak bench-compare bench-test generate generate-check plugins example-plugin

all: test

## test: vet, gofmt check, and every test under the race detector.
test: lint
	$(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) $(PKGS)

## test-short: the quick loop while editing (no race detector, -short).
test-short:
	$(GO) test -short -count=1 $(TESTFLAGS) $(PKGS)

## lint: go vet, gofmt, and the architecture lint tests.
lint: vet fmt-check

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## fuzz: run every native fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

## bench: every Go benchmark in the main module.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## run: the quickstart example on the embedded default.
run:
	$(GO) run ./examples/quickstart

## soak: long crash and invariant runs, outside the default test run.
soak:
	$(GO) test -race -count=1 -timeout 6h -run 'TestCrashLoop|TestBankInvariant' ./core/ -crash.cycles=5000 -bank.duration=10m

## bench-compare: Lightning vs Pebble, Badger, bbolt, goleveldb (bench/README.md).
## COMPAREFLAGS=-quick finishes in about two minutes.
COMPAREFLAGS ?=
bench-compare:
	cd bench && $(GO) run ./cmd/compare $(COMPAREFLAGS)

## bench-test: the comparison harness's own tests (bench/ is a separate module).
bench-test:
	cd bench && $(GO) vet ./... && $(GO) test -race -short -count=1 ./...

## generate: regenerate the plugin protocol's Go code; generate-check fails if it is stale.
generate:
	./scripts/generate.sh
generate-check:
	./scripts/generate.sh --check

## plugins: the CLI and every in-tree plugin binary into bin/.
plugins:
	$(GO) build -o bin/ ./cmd/...

## example-plugin: the third-party storage example (its own module) and its conformance run.
example-plugin:
	cd examples/thirdparty-storage && $(GO) vet ./... && $(GO) test -short -count=1 ./...
