# One task runner for README, CI and developers. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# nbgrader calls helper tools (alembic) by name: the venv's bin must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
ASSIGNMENT := c1w3_convolutions
# Keep TensorFlow's C++ log lines out of notebooks' stderr (nbgrader_config.py sets the same).
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: help setup data check-data release grade grade-cluster postgres validate demo test test-fast bench bench-threshold lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,slurm]'
	touch $@

setup: $(VENV)/.installed data  ## create .venv, install pinned packages, seed offline data (idempotent)

data: $(VENV)/.installed  ## copy Fashion-MNIST from Debian's package into the Keras cache and verify it
	$(BIN)/python -m graders.data seed

check-data: $(VENV)/.installed  ## verify the Keras cache holds the official Fashion-MNIST files
	$(BIN)/python -m graders.data check

release: setup  ## source/ -> release/: nbgrader generate_assignment (solutions and hidden tests stripped)
	$(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force --log-level=WARN $(if $(C1W3_DB_URL),--CourseDirectory.db_url=$(C1W3_DB_URL))

grade: setup  ## autograde everything in submitted/ (one process per student), feedback, grades.csv, TA summary
	$(BIN)/python -m graders.data check
	$(BIN)/python -m course.grade

grade-cluster: setup  ## the same on Dask: WORKERS=2 DB_URL=postgresql://... (or SCHEDULER=host:8786)
	$(BIN)/python -m graders.data check
	$(BIN)/python -m course.cluster $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(DB_URL),--db-url $(DB_URL))

postgres:  ## start Debian's PostgreSQL on loopback with role c1w3 (multi-worker gradebook, tests)
	scripts/postgres-start

validate: setup  ## run the instructor's solution through nbgrader validate
	$(BIN)/nbgrader validate source/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb

demo: release validate  ## the main job: release, autograde the sample class, feedback, grades.csv, TA summary
	$(BIN)/python -m course.demo

test: setup lint postgres  ## lint, PostgreSQL up, then all tests (real training, real nbgrader, the hostile class)
	$(BIN)/python -m pytest

test-fast: setup postgres  ## only the tests that do not train
	$(BIN)/python -m pytest -m "not slow"

bench: setup postgres  ## benchmarks that print numbers (README tables): lab vs notebook, sandbox cost, class throughput
	$(BIN)/python benchmarks/grading.py --runs 3
	$(BIN)/python benchmarks/class_throughput.py

bench-threshold: setup  ## the 10-seed accuracy sweep behind the default threshold (~30 min)
	$(BIN)/python benchmarks/accuracy_distribution.py --seeds 10

lint: $(VENV)/.installed  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check graders course tests benchmarks nbgrader_config.py source/$(ASSIGNMENT)/c1w3_checks.py

clean:  ## remove nbgrader's generated places (keeps .venv and release/)
	rm -rf submitted feedback gradebook.db reports grades.csv source/$(ASSIGNMENT)/_grading
	find autograded -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
