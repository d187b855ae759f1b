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

.PHONY: setup build test fuzz lint demo bench clean-runs

setup:
	@./scripts/setup-libtorch.sh

build: setup
	$(CARGO) build --release --locked -p grace-cli
	@echo "built target/release/grace"

# Release mode: the training tests run libtorch kernels either way, but the data and
# controller property tests are much faster optimised, and `make build` shares the artifacts.
test: setup
	$(CARGO) test --release --locked --workspace

# Property-based fuzzing (proptest, stable Rust) of the C-MAPSS parser, preprocessing.json loading and
# the config/--set resolver with a fixed budget of FUZZ_CASES inputs per target (`make test` runs 256).
# A failure is saved as a seed (grace-data: tests/fuzz.proptest-regressions) that `make test` replays; add a
# telling input to crates/grace-data/tests/corpus/ with its expected outcome.
FUZZ_CASES ?= 100000
fuzz: setup
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked -p grace-data --test fuzz
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release --locked -p grace-nn --test fuzz_config

# Formatting, clippy with warnings denied, and the API docs with broken intra-doc links denied.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links -D rustdoc::private_intra_doc_links" $(CARGO) doc --release --locked --workspace --no-deps

demo: build
	./scripts/demo.sh

bench: build
	./target/release/grace data bench
