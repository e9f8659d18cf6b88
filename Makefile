# Two commands on a fresh machine:  make demo  (install + whole pipeline)  /  make test  (install + tests)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# test processes (pytest-xdist; each file's tests stay in one process): the 2 cores of CI
TEST_WORKERS ?= 2

.PHONY: setup demo test test-fast clean lite-env

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
	$(PY) -m pytest tests -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(PY) -m pytest tests -q -m "not slow" -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Paddle-Lite tools (paddle_lite_opt, x86 runtime): a Debian bullseye chroot with Python 3.9,
# built once into ./lite-env (or $$LITE_ENV); needs root, debootstrap and network
lite-env:
	bash deploy/lite/setup_lite_env.sh

clean:
	rm -rf output dataset
