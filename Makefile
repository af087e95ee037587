# autodropout: make demo runs the main job, make test runs the tests. Both
# install what they need (Debian packages, the gotch build) on the first run.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/autodropout

.PHONY: setup deps gotch build test demo bench clean consumer example

setup: deps gotch

deps:
	@scripts/install-deps.sh

# Copies gotch into .build/gotch, patched for the libtorch found (LIBTORCH=
# /path overrides Debian's), and writes go.work; cached.
gotch:
	@GOWORK=off $(GO) run ./internal/cmd/gotchsetup

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

test: setup example
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
	rm -rf bin .build go.work go.work.sum
