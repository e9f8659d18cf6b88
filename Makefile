# Two commands on a fresh machine:  make demo  (install + whole pipeline)  /  make test  (install + tests)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	# paddleslim's metadata drags in opencv-python (needs libGL) and swig: install it without them
	$(PY) -m pip install -q --no-deps paddleslim==2.6.0
	$(PY) -m pip install -q --no-deps -e .
	touch $@

demo: setup
	$(PY) tools/pipeline.py

test: setup
	$(PY) -m pytest tests -q -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider

clean:
	rm -rf output dataset
