# autodropout: make demo runs the main job, make test runs the tests. Both
# install what they need (Debian packages, the gotch build) on the first run.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/autodropout

.PHONY: setup deps gotch build test demo bench clean consumer example gpu-kit gpu-check-dry libswap-check

setup: deps gotch

deps:
	@scripts/install-deps.sh

# Builds the C++ library lib/libautodropout_torch.so for the libtorch found
# (LIBTORCH=/path overrides Debian's), copies gotch into .build/gotch with
# its Go layer calling that library, and writes go.work; cached. See
# docs/libtorch.md.
gotch:
	@GOWORK=off $(GO) run ./internal/cmd/gotchsetup

# What scripts/gpu-check.sh needs on a machine without Go, in .build/gpu-kit
# (git-ignored; carry it): the binary, a static gotchsetup that builds the
# library there, and the library's C++ sources.
GPUKIT := .build/gpu-kit
gpu-kit: setup
	@rm -rf $(GPUKIT).tmp && mkdir -p $(GPUKIT).tmp/bin
	CGO_ENABLED=0 GOWORK=off $(GO) build -trimpath -ldflags='-s -w' -o $(GPUKIT).tmp/bin/gotchsetup ./internal/cmd/gotchsetup
	$(GO) build -ldflags='-s -w' -o $(GPUKIT).tmp/bin/autodropout ./cmd/autodropout
	@GOWORK=off $(GO) run ./internal/cmd/gotchsetup -export-src $(GPUKIT).tmp/torchsrc >/dev/null
	@rm -rf $(GPUKIT) && mv $(GPUKIT).tmp $(GPUKIT) && du -sh $(GPUKIT)

# The GPU check's dry run on this machine: CUDA steps skipped, this
# checkout's library (scripts/gpu-check.sh).
gpu-check-dry: gpu-kit
	scripts/gpu-check.sh --dry-run runs/gpu-check-dry

# One binary, two libraries: the test binaries of a quick subset run once
# with the library built against /usr and once against python3-torch's
# folder; their results must be identical (slow: a second C++ build).
libswap-check: setup
	scripts/libswap-check.sh runs/libswap-check

# Prepares a module of your own in DIR to import autodropout from this
# checkout: writes DIR/go.work (this checkout + its patched gotch).
consumer: deps
	@test -n "$(DIR)" || { echo "usage: make consumer DIR=/path/to/your/module"; exit 2; }
	@GOWORK=off $(GO) run ./internal/cmd/gotchsetup -consumer "$(DIR)"

# The embedding example, a separate module: built and run as a consumer.
example: deps
	@GOWORK=off $(GO) run ./internal/cmd/gotchsetup -consumer examples/gotchcnn
	cd examples/gotchcnn && $(GO) run . -steps 20

build: setup
	$(GO) build -o $(BIN) ./cmd/autodropout

test: setup example gpu-check-dry
	$(GO) vet ./...
	$(GO) test -timeout 30m ./...

# A small real search on Fashion-MNIST (AutoDropout and random search),
# final training with every regularizer over 3 seeds, and a report in
# runs/demo/report.md; about 7 CPU-minutes (docs/demo/report.md). Rerun to resume.
demo: build
	$(BIN) experiment --config configs/demo.json --out runs/demo

# Training steps, masks, loader and controller; side by side with Debian's
# python3-torch when it is installed (see docs/performance.md).
bench: build
	$(BIN) bench --pytorch --json runs/bench/bench.json

clean:
	rm -rf bin lib .build go.work go.work.sum
