# The two commands of the README: `make demo` (main job) and `make test` (every test).
# Both install what is missing first: libtorch (PyTorch 2.11 wheel in a cached virtualenv) and the build.

SHELL := /bin/bash
CARGO ?= cargo
# A user's own libtorch 2.11 (LIBTORCH=/path) replaces the project's virtualenv.
ifeq ($(strip $(LIBTORCH)),)
export VIRTUAL_ENV := $(CURDIR)/.venv
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1
endif

.PHONY: setup build test demo bench clean-runs

setup:
	@./scripts/setup-libtorch.sh

build: setup
	$(CARGO) build --release --locked -p grace-cli
	@echo "built target/release/grace"

# Release mode: the training tests run libtorch kernels either way, but the data and
# controller property tests are much faster optimised, and `make build` shares the artifacts.
test: setup
	$(CARGO) test --release --locked --workspace

demo: build
	./scripts/demo.sh

bench: build
	./target/release/grace data bench
