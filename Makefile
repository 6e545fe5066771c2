# Two commands do all set-up on a fresh machine: `make demo` (the project's main job for now) and
# `make test` (the whole suite). Both create .venv and install everything on first use.

VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of PyTorch lies on this machine's disk; elsewhere, set TORCH to the build you want
# (e.g. `make test TORCH=torch` on a CUDA machine). The package itself only asks for a range.
TORCH  ?= torch==2.13.0

.PHONY: setup constraints demo test bench book serve clean exercises release collect autograde regrade feedback grades

setup: $(VENV)/.installed

# Every package at the exact version of constraints.txt (the versions CI last passed with), so a
# release of a dependency cannot break the course mid-term; `make constraints` moves them on purpose.
# pip comes first, pinned too (--build-constraint needs pip 25.3 or newer): it pins the build
# backend, setuptools, which pip installs in an isolated environment that -c does not reach.
# (A course folder without pyproject.toml may use an installed venv: make ... VENV=/path/to/venv.)
# Last, rfc3987-syntax goes: it comes with jsonschema's format-nongpl extra (jupyter-events asks for
# it) and builds a Lark grammar when jsonschema is imported, 1.8 s, two thirds of nbgrader's start,
# in every nbgrader, nbconvert and jupyter-book process. It only checks the "iri" formats, which
# nothing here uses; jsonschema goes on without them.
$(VENV)/.installed: $(wildcard pyproject.toml constraints.txt)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt "$(TORCH)"
	$(PY) -m pip install --quiet -c constraints.txt --build-constraint constraints.txt -e ".[dev,book,course]"
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	touch $@

# Resolve the newest versions pyproject.toml's ranges allow in a scratch venv, write them to
# constraints.txt and print what changed; then `make test` before committing the file.
# The website's JavaScript moves the same way: the newest releases, pinned exactly in package.json
# and package-lock.json (`git diff package-lock.json` shows what changed).
# (axe-core, which only the browser tests run, is a devDependency: never copied into the site.)
JS_PACKAGES := onnxruntime-web @huggingface/tokenizers
JS_TEST_PACKAGES := axe-core
constraints:
	python3 .ci/refresh_constraints.py --torch "$(TORCH)"
	npm install --save-exact --ignore-scripts --no-audit --no-fund $(JS_PACKAGES:%=%@latest)
	npm install --save-exact --save-dev --ignore-scripts --no-audit --no-fund $(JS_TEST_PACKAGES:%=%@latest)

demo: setup
	$(PY) -m bertlab.demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/train_step.py

# The course book (book/, _config.yml, _toc.yml) as HTML in _build/html. The chapters are executed
# (cached in _build/.jupyter_cache); -W makes every Sphinx warning and every failing cell an error.
# The kernel gets the profile in book/_kernel (its own start-up log quietened; see the file).
book: setup $(if $(wildcard package.json),node_modules/.package-lock.json)
	mkdir -p _build/ipython/profile_default
	cp book/_kernel/ipython_kernel_config.py book/_kernel/smallest_text.py _build/ipython/profile_default/
	IPYTHONDIR="$(abspath _build/ipython)" $(VENV)/bin/jupyter-book build . -W --keep-going

# The JavaScript the website runs in the reader's browser (ONNX Runtime Web, the tokenizer), at the
# exact versions of package-lock.json; `npm ci` installs nothing else and runs no install scripts.
# (A book without package.json, such as tests/test_book_build.py's page, has no live explorations.)
# Node.js and npm come from Debian (`apt-get install nodejs npm`) where they are missing.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The built book over HTTP at http://localhost:8000 (PORT=...): the live explorations load
# WebAssembly and models with fetch(), which browsers refuse for file:// pages.
PORT ?= 8000
serve:
	@test -f _build/html/index.html || { echo "no built book in _build/html: run make book first"; exit 1; }
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

# ------------------------------------------------------------------------------------------------
# The graded exercises (nbgrader; configured by nbgrader_config.py). solutions/ is the source,
# exercises/ the student version, grading/ (git-ignored) everything grading makes. The README's
# "Grading" section walks through these steps.
# ------------------------------------------------------------------------------------------------
# nbgrader starts `alembic` (its database migrations) from PATH: put the venv first. (A shell
# command: the grading targets below run it through `sh -c`.)
NBGRADER    := PATH="$(abspath $(VENV))/bin:$$PATH" $(abspath $(VENV))/bin/nbgrader
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))
ASSIGNMENT  ?= $(ASSIGNMENTS)

# Regenerate exercises/ from solutions/ after editing a solution (commit both; CI fails on drift).
exercises: setup
	for a in $(ASSIGNMENTS); do $(NBGRADER) generate_assignment $$a --force --no-db || exit 1; done

# The gradebook: grading/gradebook.db (SQLite) on one machine. A class graded on a cluster keeps it
# on a PostgreSQL server its workers share: DB=postgresql://user@host/database on every target that
# reads or writes it (release, autograde, regrade, feedback, grades, handgrade, marks), which then
# gives it to nbgrader and the grader through BERTLAB_GRADEBOOK (nbgrader_config.py). Keep the
# password out of the URL, in ~/.pgpass (PostgreSQL's client reads it): a command line is public.
DB ?=
ifneq ($(DB),)
export BERTLAB_GRADEBOOK := $(DB)
RELEASED := grading/released/db-$(shell printf '%s' '$(DB)' | sha256sum | cut -c1-16)
else
RELEASED := grading/released
endif

# Register the assignments in the gradebook, writing the same exercises/: each assignment again only
# when a file of its solutions/ folder or the config changed since (a stamp per assignment and
# gradebook in grading/released/).
release: $(ASSIGNMENTS:%=$(RELEASED)/%)

.SECONDEXPANSION:
$(RELEASED)/%: $$(shell find solutions/$$* -type f) nbgrader_config.py | setup
	mkdir -p $(RELEASED)
	$(NBGRADER) generate_assignment $* --force
	touch $@

# An LMS export (a zip of uploads named <student_id>_..._<notebook>.ipynb or <student_id>_....zip)
# into grading/submitted/<student>/<assignment>/, each upload on its own: a hostile one is set aside
# in grading/rejected/collect/<assignment>/ with a NOTE saying why (bertlab/autograde/collect.py):
#   make collect ASSIGNMENT=01_input_embeddings ZIP=~/Downloads/export.zip
collect: release
	@test -n "$(ZIP)" -a -f "$(ZIP)" || { echo "ZIP=path/to/export.zip is required"; exit 1; }
	@test $(words $(ASSIGNMENT)) -eq 1 || { echo "ASSIGNMENT=<one of: $(ASSIGNMENTS)> is required"; exit 1; }
	$(PY) -m bertlab.autograde.collect '$(ASSIGNMENT)' "$(ZIP)"

# Grade each submission in grading/submitted/<student>/<assignment>/ (all assignments, or
# ASSIGNMENT=...) that is not graded yet or was handed in again since: a task per submission for a
# warm grader, on JOBS worker processes of this machine (the SQLite gradebook serialises their
# writes), or, with SCHEDULER=tcp://host:8786 and DB=postgresql://..., on a Dask cluster's workers
# (bertlab/autograde/cluster.py; the README's "Grading a large class" says how to start one). The
# screen first sets right the folders nbgrader would skip (no .ipynb in them); the rest it screens
# as each student is graded (bertlab/autograde/). A student whose grading fails does not stop the
# others; the exit status is then 1 and the last lines name who has no grade.
JOBS ?= 1
SCHEDULER ?=
autograde: release
	mkdir -p grading/submitted
	$(PY) -m bertlab.autograde screen $(ASSIGNMENT)
	$(PY) -m bertlab.autograde autograde $(ASSIGNMENT) --jobs $(JOBS) --scheduler '$(SCHEDULER)' --nbgrader '$(NBGRADER)'

# Grade one student again, graded or not: make regrade STUDENT=<id> [ASSIGNMENT=...]
regrade: release
	@test -n "$(STUDENT)" || { echo "STUDENT=<student id> is required"; exit 1; }
	mkdir -p grading/submitted
	$(PY) -m bertlab.autograde screen $(ASSIGNMENT)
	$(PY) -m bertlab.autograde autograde $(ASSIGNMENT) --student='$(STUDENT)' --again --scheduler '$(SCHEDULER)' --nbgrader '$(NBGRADER)'

# One HTML page per graded notebook, in grading/feedback/<student>/<assignment>/: made for each
# submission whose feedback is missing or older than its grade.
feedback: setup
	$(PY) -m bertlab.autograde feedback $(ASSIGNMENT) --nbgrader '$(NBGRADER)'

# Every student's score per assignment, as CSV: quoted by the csv module, and no cell a spreadsheet
# would run as a formula (nbgrader_config.py sets the export plugin, bertlab/autograde/export.py).
grades: setup
	$(NBGRADER) export --to grading/grades.csv
	@echo "wrote grading/grades.csv"

# Written answers graded by hand, one question across the class at a time
# (bertlab/autograde/handgrade.py). `make handgrade ASSIGNMENT=<a>` lists the hand-graded questions;
# with QUESTION=<grade id>, grading/handgrade/<a>/<question>.html shows the question, the mark
# scheme and every answer (sanitised), and <question>.csv is the form to fill: points and comment.
# `make marks ASSIGNMENT=<a> QUESTION=<grade id>` enters the form into the gradebook, all or nothing.
.PHONY: handgrade marks
handgrade: setup
	@test $(words $(ASSIGNMENT)) -eq 1 || { echo "ASSIGNMENT=<one of: $(ASSIGNMENTS)> is required"; exit 1; }
	$(PY) -m bertlab.autograde handgrade '$(ASSIGNMENT)' $(if $(QUESTION),'$(QUESTION)')

marks: setup
	@test $(words $(ASSIGNMENT)) -eq 1 || { echo "ASSIGNMENT=<one of: $(ASSIGNMENTS)> is required"; exit 1; }
	@test -n "$(QUESTION)" || { echo "QUESTION=<grade id> is required (make handgrade ASSIGNMENT=$(ASSIGNMENT) lists them)"; exit 1; }
	$(PY) -m bertlab.autograde marks '$(ASSIGNMENT)' '$(QUESTION)'

# Pairs of submissions whose code is suspiciously alike (all assignments, or ASSIGNMENT=...), most
# alike first: grading/similarity/<assignment>.csv and .html. Reads the notebooks; runs nothing.
.PHONY: similarity
similarity: setup
	$(PY) -m bertlab.autograde.similarity $(ASSIGNMENT)

clean:
	rm -rf $(VENV) _build .pytest_cache
