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

.PHONY: help setup data check-data release grade validate demo test test-fast bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed data  ## create .venv, install pinned packages, seed offline data (idempotent)

data: $(VENV)/.installed  ## copy Fashion-MNIST from Debian's package into the Keras cache and verify it
	$(BIN)/python -m graders.data seed

check-data: $(VENV)/.installed  ## verify the Keras cache holds the official Fashion-MNIST files
	$(BIN)/python -m graders.data check

release: setup  ## source/ -> release/: nbgrader generate_assignment (solutions and hidden tests stripped)
	$(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force --log-level=WARN

grade: setup  ## autograde everything in submitted/ (one process per student), feedback, grades.csv, TA summary
	$(BIN)/python -m graders.data check
	$(BIN)/python -m course.grade

validate: setup  ## run the instructor's solution through nbgrader validate
	$(BIN)/nbgrader validate source/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb

demo: release validate  ## the main job: release, autograde the sample class, feedback, grades.csv, TA summary
	$(BIN)/python -m course.demo

test: setup lint  ## lint, then all tests, the slow ones (real training, real nbgrader) included
	$(BIN)/python -m pytest

test-fast: setup  ## only the tests that do not train
	$(BIN)/python -m pytest -m "not slow"

bench: setup  ## benchmarks that print numbers (README table): grading cost, accuracy over 10 seeds
	$(BIN)/python benchmarks/grading.py --runs 3
	$(BIN)/python benchmarks/accuracy_distribution.py --seeds 10

lint: $(VENV)/.installed  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check graders course tests benchmarks nbgrader_config.py source/$(ASSIGNMENT)/c1w3_checks.py

clean:  ## remove nbgrader's generated places (keeps .venv and release/)
	rm -rf submitted feedback gradebook.db reports grades.csv
	find autograded -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
