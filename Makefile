# Two commands do all set-up on a fresh machine: `make demo` (the project's main job for now) and
# `make test` (the whole suite). Both create .venv and install everything on first use.

VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of PyTorch lies on this machine's disk; elsewhere, set TORCH to the build you want
# (e.g. `make test TORCH=torch` on a CUDA machine). The package itself only asks for a range.
TORCH  ?= torch==2.13.0

.PHONY: setup demo test bench book clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,book]"
	touch $@

demo: setup
	$(PY) -m bertlab.demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/train_step.py

# The course book (book/, _config.yml, _toc.yml) as HTML in _build/html. The chapters are executed
# (cached in _build/.jupyter_cache); -W makes every Sphinx warning and every failing cell an error.
book: setup
	$(VENV)/bin/jupyter-book build . -W --keep-going

clean:
	rm -rf $(VENV) _build .pytest_cache
