# Two commands for a fresh machine; both install what is missing first.
#   make demo   build lmcc, compile a small Qwen3, run it on a synthetic checkpoint
#   make test   build with ASan/UBSan and run every test through ctest
#   make bench  measure speed against this machine's limits (JSON)
#   make fuzz   run every libFuzzer target FUZZ_SECONDS (default 120) on its corpus

JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory

.PHONY: demo test bench fuzz setup build clean

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS) >&2

demo: build
	@bash scripts/demo.sh build

test: setup
	@cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DLMCC_SANITIZE=ON >/dev/null
	@cmake --build build-test -j $(JOBS)
	@cd build-test && ctest --output-on-failure -j $(JOBS)

bench: build
	@bash scripts/bench.sh build

FUZZ_SECONDS ?= 120
fuzz: setup
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

clean:
	rm -rf build build-test
