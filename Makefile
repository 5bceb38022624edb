# Convenience wrapper around CMake. `make test` is what CI runs.
JOBS ?= 2
BUILD ?= build

.PHONY: all deps build test asan demo fuzz clean

all: build

deps:
	scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Unit tests, ONNX conformance, reference models; then the same under ASan+UBSan.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) asan

asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGLINT_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -LE slow

# The main job: serve the default model and measure it (glint serve + glint bench ramp).
demo: build
	scripts/demo.sh

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DGLINT_FUZZ=ON -DGLINT_SANITIZE=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzz_model_load fuzz_image_decode fuzz_multipart fuzz_kserve fuzz_edge_config fuzz_model_yaml fuzz_model_names
	scripts/fuzz.sh build-fuzz $(or $(SECONDS_FUZZ),600)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
