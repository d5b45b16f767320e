# The two commands that do everything on a fresh Debian 12 machine:
#   make demo   installs what is missing, builds (Release), runs `savepoint demo`
#   make test   installs what is missing, builds, runs the whole suite with ctest,
#               then builds again with clang + ASan + UBSan (+ libFuzzer targets) and runs it again
JOBS ?= $(shell nproc)
BUILD ?= build
SANITIZE_BUILD ?= build-sanitize
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all deps build demo test test-release test-sanitize fuzz bench install clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	./$(BUILD)/savepoint demo

test: test-release test-sanitize

test-release: build
	cd $(BUILD) && ctest $(CTEST_FLAGS)

test-sanitize: deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSP_SANITIZE=ON -DSP_FUZZ=ON >/dev/null
	@cmake --build $(SANITIZE_BUILD) -j$(JOBS)
	cd $(SANITIZE_BUILD) && SP_SANITIZE=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ASAN_SYMBOLIZER_PATH=$$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer) \
	  ctest $(CTEST_FLAGS)

fuzz: deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_C_COMPILER=clang -DSP_SANITIZE=ON -DSP_FUZZ=ON \
	  -DSP_FUZZ_SECONDS=$${SECONDS_PER_TARGET:-300} >/dev/null
	@cmake --build $(SANITIZE_BUILD) -j$(JOBS)
	cd $(SANITIZE_BUILD) && ctest --output-on-failure -R '^fuzz\.'

bench: build
	./bench/run.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD)
