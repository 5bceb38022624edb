# Convenience wrapper around CMake. `make test` is what CI runs.
JOBS ?= 2
BUILD ?= build

.PHONY: all deps build test asan demo fuzz clean format format-check lint container container-test

all: build

deps:
	scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Style and lint, unit tests, ONNX conformance, reference models; then the
# same under ASan+UBSan; then the container image and the Kubernetes edge
# overlay, for real (container-test: ~3 minutes from nothing, ~1 once built).
test: build
	$(MAKE) format-check lint
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) asan
	$(MAKE) container-test

# The C sources clang-format keeps in the checked-in .clang-format style.
C_FILES = $(shell git ls-files 'include/*.h' 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' \
                                'fuzz/*.c' 'bench/*.c' 2>/dev/null)

format: deps
	clang-format -i $(C_FILES)

format-check: deps
	@clang-format --dry-run -Werror $(C_FILES) && echo "format-check: $(words $(C_FILES)) files clean"

# cppcheck's warning, portability and performance checks on src/; a finding
# fails (suppressions are inline, each with its reason).
lint: deps
	cppcheck --quiet --error-exitcode=1 -j$(JOBS) --enable=warning,portability,performance \
	  --std=c11 -D__GNUC__ -I include -I src --suppress=missingIncludeSystem --inline-suppr \
	  --template='{file}:{line}: {severity}: {message} [{id}]' src
	@echo "lint: cppcheck clean"

asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGLINT_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -LE slow

# The main job: serve the default model and measure it (glint serve + glint bench ramp).
demo: build
	scripts/demo.sh

# The container image (deploy/Containerfile) with Podman: `container` builds it
# (and its Debian base, from Debian's packages); `container-test` builds it and
# tests it for real (tests/deploy/test_container.sh, then the Kubernetes edge
# overlay under podman kube play: tests/deploy/test_kube_play.sh).
container: deps
	scripts/install-deps.sh --container
	scripts/container.sh build

container-test: build
	scripts/install-deps.sh --container
	scripts/container.sh test

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DGLINT_FUZZ=ON -DGLINT_SANITIZE=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzz_model_load fuzz_image_decode fuzz_multipart fuzz_kserve fuzz_edge_config fuzz_model_yaml fuzz_model_names fuzz_model_store fuzz_grpc
	scripts/fuzz.sh build-fuzz $(or $(SECONDS_FUZZ),600)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
