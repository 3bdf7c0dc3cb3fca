# make demo   install, build, then `cosam-reid demo`: synthetic data, train and evaluate a small COSAM model on the CPU
# make test   install, build, run the test-suite
# make check-cuda-build   compile and link the CUDA backend (no GPU needed)
# make benchmark         full benchmark run, then benchmarks/RESULTS.md and chart.png
# make benchmark-smoke   every benchmark once on tiny shapes, after experiments-smoke (CI)
# make experiments-smoke every experiment (experiments/, training runs of an hour or more) end to end on a tiny synthetic set
# make wheel             a wheel for the installed torch, in dist/ (e.g. cosam_ext-0.1.0+pt213cpu-cp310-abi3-linux_x86_64.whl)
# make wheel-smoke       that wheel installed into a fresh venv outside the source tree and smoke-tested there (CI)
# make ctest             the standalone CMake build of the op library and its C++ tests (CI)
# make cuda-on-cpu       every CUDA kernel run on the CPU under the SIMT harness, plain, ASan+UBSan and TSan (CI)
# make gpu-verify-dry-run  scripts/gpu_verify.sh's core and extra calls rehearsed on the CPU, in a copy of the tree (CI)
PYTHON ?= python3
EXTENSION := cosam_ext/_C.abi3.so
SOURCES := setup.py $(shell find csrc -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh')

.PHONY: install demo test check-cuda-build benchmark benchmark-smoke experiments-smoke wheel wheel-smoke ctest cuda-on-cpu gpu-verify-dry-run clean

.requirements-installed: requirements.txt
	$(PYTHON) -m pip install -r requirements.txt
	touch $@

$(EXTENSION): .requirements-installed $(SOURCES)
	$(PYTHON) -m pip install --no-build-isolation --no-deps -e .

install: $(EXTENSION)

demo: install
	$(PYTHON) -m cosam_reid.cli demo   # the `cosam-reid demo` console script, run by this Python

test: install
	$(PYTHON) -m pytest tests

benchmark: install
	$(PYTHON) -m pytest benchmarks --benchmark-json=benchmarks/results-cpu.json
	$(PYTHON) benchmarks/report.py benchmarks/results-cpu.json

# CI runs `make benchmark-smoke`; the experiments' smoke tests come with it.
benchmark-smoke: install experiments-smoke
	$(PYTHON) -m pytest benchmarks --smoke -q

experiments-smoke: install
	$(PYTHON) -m pytest experiments -q

check-cuda-build:
	bash scripts/check_cuda_build.sh

wheel: .requirements-installed
	PYTHON=$(PYTHON) bash scripts/build_wheel.sh

wheel-smoke: .requirements-installed
	PYTHON=$(PYTHON) bash scripts/wheel_smoke_test.sh

# $(call cmake_build,CONFIGURE_FLAGS,TARGETS): configure build/cmake against
# the installed torch (also in a fresh tree) and build TARGETS.
cmake_build = cmake -S . -B build/cmake -DCMAKE_PREFIX_PATH="$$($(PYTHON) -c 'import torch; print(torch.utils.cmake_prefix_path)')" $(1) && \
	cmake --build build/cmake --parallel $${MAX_JOBS:-$$(nproc)} --target $(2)

ctest: .requirements-installed
	$(call cmake_build,,cosam_ops_test)
	ctest --test-dir build/cmake --output-on-failure --label-exclude cuda_on_cpu

# setarch -R: gcc's TSan runtime cannot map its shadow memory under the
# address-space randomisation of recent kernels.
cuda-on-cpu: .requirements-installed
	$(call cmake_build,-DCOSAM_CUDA_ON_CPU_TESTS=ON,cuda_on_cpu_test_plain cuda_on_cpu_test_asan cuda_on_cpu_test_tsan)
	setarch "$$(uname -m)" -R ctest --test-dir build/cmake --output-on-failure --label-regex cuda_on_cpu

# The copy holds what the device tool sends: tracked and untracked files that
# git does not ignore, so no build output.
DRY_RUN_DIR := build/gpu-verify-dry-run
gpu-verify-dry-run: .requirements-installed
	rm -rf $(DRY_RUN_DIR) && mkdir -p $(DRY_RUN_DIR)/tree
	git ls-files -z --cached --others --exclude-standard | \
		tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(DRY_RUN_DIR)/tree
	cd $(DRY_RUN_DIR)/tree && OUT=../out-core bash scripts/gpu_verify.sh --dry-run core
	cd $(DRY_RUN_DIR)/tree && OUT=../out-extra bash scripts/gpu_verify.sh --dry-run extra

clean:
	rm -rf build dist *.egg-info $(EXTENSION) cosam_ext/_build_info.json .requirements-installed
