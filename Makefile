# make demo   install, build, then `cosam-reid demo`: synthetic data, train and evaluate a small COSAM model on the CPU
# make test   install, build, run the test-suite
# make check-cuda-build   compile and link the CUDA backend (no GPU needed)
# make benchmark         full benchmark run, then benchmarks/RESULTS.md and chart.png
# make benchmark-smoke   every benchmark once on tiny shapes (CI)
PYTHON ?= python3
EXTENSION := cosam_ext/_C.abi3.so
SOURCES := setup.py $(shell find csrc -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh')

.PHONY: install demo test check-cuda-build benchmark benchmark-smoke clean

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

benchmark-smoke: install
	$(PYTHON) -m pytest benchmarks --smoke -q

check-cuda-build:
	bash scripts/check_cuda_build.sh

clean:
	rm -rf build *.egg-info $(EXTENSION) .requirements-installed
