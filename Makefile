# `make demo` and `make test` are the two commands of README.md: each sets up .venv when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench golden docs clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/alexspec summary specs/alexnet.yaml
	mkdir -p build
	$(VENV)/bin/alexspec compile specs/alexnet.yaml --backend torch -o build/alexnet_torch.py

# One worker per core (pytest-xdist): the suite is CPU-bound, and a 2-core machine runs it in about half the time.
test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist worksteal

# Regenerate the golden generated sources under tests/golden/ after a deliberate template change.
golden: $(STAMP)
	ALEXSPEC_REGENERATE_GOLDEN=1 $(PY) -m pytest -q tests/backends -k golden

# Regenerate docs/spec.md and docs/alexspec.schema.json from the spec models (a test fails when they are stale).
docs: $(STAMP)
	$(PY) -m alexnet_spec.tools.spec_reference > docs/spec.md
	$(VENV)/bin/alexspec schema -o docs/alexspec.schema.json
	$(VENV)/bin/alexspec draw specs/alexnet.yaml -o docs/alexnet.svg
	$(VENV)/bin/alexspec draw specs/lenet5.yaml -o docs/lenet5.svg
	$(VENV)/bin/alexspec draw specs/resnet18.yaml -o docs/resnet18.svg

bench: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build
