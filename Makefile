# abrfleet: `make bench` and `make test` set everything up themselves on a fresh Debian 12 machine.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(PATH):/usr/local/go/bin

# FFmpeg 8.1.2 lives in a cache prefix outside the clone (scripts/setup-ffmpeg.sh). Set
# FFMPEG_PREFIX to use another FFmpeg 8.x build instead: setup then checks it and builds nothing.
ifeq ($(origin FFMPEG_PREFIX),undefined)
FFMPEG_PREFIX := $(shell scripts/setup-ffmpeg.sh --print-prefix)
SETUP := env -u FFMPEG_PREFIX scripts/setup-ffmpeg.sh
else
SETUP := scripts/setup-ffmpeg.sh
endif
export FFMPEG_PREFIX
export PKG_CONFIG_PATH := $(FFMPEG_PREFIX)/lib/pkgconfig
export CGO_LDFLAGS := -Wl,-rpath,$(FFMPEG_PREFIX)/lib

GO ?= go
GOTESTFLAGS ?= -count=1 -timeout 30m
BENCHFLAGS ?= --quick
# INSTANCE_TYPE=c6i.4xlarge make bench prices the run when IMDS cannot tell (off EC2).
INSTANCE_TYPE ?=

.PHONY: help setup build test test-soak bench lint clean print-ffmpeg-prefix leakcheck compare-cli report-check

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install build deps and redis, build FFmpeg 8.1.2 into the cache (seconds when cached), download Go modules
	@$(SETUP) >/dev/null
	@$(GO) mod download

print-ffmpeg-prefix: ## print the FFmpeg prefix in use (for scripts: make -s print-ffmpeg-prefix)
	@echo $(FFMPEG_PREFIX)

build: setup ## build bin/worker and bin/bench
	$(GO) build -o bin/ ./cmd/worker ./cmd/bench

test: setup ## run every test (starts its own redis-server)
	$(GO) test $(GOTESTFLAGS) ./...

# The soak tests are the large versions of the worker's fault and load tests: named Test...Soak,
# skipped unless ABRFLEET_SOAK=1. SOAKRUN narrows them (a go test -run pattern).
SOAKRUN ?= Soak
SOAKFLAGS ?= -count=1 -timeout 2h -v

test-soak: setup ## the worker's fault and load tests at soak size (ABRFLEET_SOAK=1; tens of minutes)
	ABRFLEET_SOAK=1 $(GO) test $(SOAKFLAGS) -run '$(SOAKRUN)' ./internal/worker

bench: build ## the quick benchmark (about 3 min on 2 cores) and its report
	bin/bench run $(BENCHFLAGS) $(if $(INSTANCE_TYPE),--instance-type $(INSTANCE_TYPE))

report-check: ## open the newest bench report in headless Chromium: loads, every image renders, screenshot
	scripts/check-report.sh "$$(ls -d out/bench/2*/ | tail -1)"

LSAN ?= /usr/lib/x86_64-linux-gnu/liblsan.so.0

leakcheck: setup ## run the transcode tests under LeakSanitizer (every C allocation freed)
	@test -e $(LSAN) || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; $$sudo apt-get install -y -q liblsan0 >/dev/null; }
	$(GO) test -c -o bin/transcode.test ./transcode
	cd transcode && ABRFLEET_LSAN=1 LD_PRELOAD=$(LSAN) \
		LSAN_OPTIONS=fast_unwind_on_malloc=0:suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=1 \
		../bin/transcode.test -test.count=1

compare-cli: build ## our pipeline against the ffmpeg CLI (n=5, 1080p30 300 frames); see BENCHMARKS.md
	bin/bench compare-cli $(COMPAREFLAGS)

lint: ## gofmt, go vet, go mod tidy -diff
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

clean: ## remove build outputs (the FFmpeg cache stays: rm -rf ~/.cache/abrfleet to drop it)
	rm -rf bin/ out/
