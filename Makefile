# One task runner for README, CI and developers. `make help` lists the targets; each calls
# `python -m course <command>` (`python -m course --help`), the one CLI behind them.
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

.PHONY: help setup system-packages test-packages doctor data check-data release grade grade-cluster postgres validate demo test test-fast test-unit bench bench-suite bench-spread bench-threshold bench-pooling lint clean collect export-lms publish-lti release-exchange due collect-exchange release-feedback

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,slurm]'
	touch $@

setup: system-packages $(VENV)/.installed data  ## apt packages if missing, .venv with pinned packages, offline data (idempotent)

system-packages:  ## bubblewrap + dataset-fashion-mnist via apt when missing (root/sudo), else the apt line
	scripts/system-packages grade

test-packages:  ## the same + chromium and postgresql, for make test
	scripts/system-packages test

doctor: setup  ## preflight: sandbox tier, data, gradebook URL, cores (WORKERS=, DB_URL= as for grade-cluster)
	$(BIN)/python -m course doctor $(DOCTOR_FLAGS) $(if $(WORKERS),--workers $(WORKERS)) $(if $(DB_URL),--db-url $(DB_URL))

data: $(VENV)/.installed  ## copy Fashion-MNIST from Debian's package into the Keras cache and verify it
	$(BIN)/python -m course data seed

check-data: $(VENV)/.installed  ## verify the Keras cache holds the official Fashion-MNIST files
	$(BIN)/python -m course data check

release: setup  ## source/ -> release/: nbgrader generate_assignment (solutions and hidden tests stripped)
	$(BIN)/nbgrader generate_assignment $(ASSIGNMENT) --force --log-level=WARN $(if $(C1W3_DB_URL),--CourseDirectory.db_url=$(C1W3_DB_URL))

# Before grading, the doctor also checks that make release ran (the gradebook knows the assignment).
grade grade-cluster: DOCTOR_FLAGS := --released
grade: doctor warm  ## autograde everything in submitted/ (one process per student), feedback, grades.csv, TA summary
	$(BIN)/python -m course grade

grade-cluster: doctor warm  ## the same on Dask: WORKERS=2 DB_URL=postgresql://... (or SCHEDULER=host:8786)
	$(BIN)/python -m course grade-cluster $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(DB_URL),--db-url $(DB_URL))

postgres:  ## start Debian's PostgreSQL on loopback with role c1w3 (multi-worker gradebook, tests)
	scripts/postgres-start

validate: setup  ## run the instructor's solution through nbgrader validate
	$(BIN)/nbgrader validate source/$(ASSIGNMENT)/$(ASSIGNMENT).ipynb

demo: doctor release warm validate  ## the main job: release, autograde the sample class, feedback, grades.csv, TA summary
	$(BIN)/python -m scenarios.demo

# Test groups run side by side on this many pytest-xdist workers (tests/conftest.py groups
# them so each class is graded once); much of a class grading waits on time limits and pages.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS)

test: setup test-packages lint postgres  ## lint, PostgreSQL up, then all tests (real training, real nbgrader, the hostile class)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=25  # the slowest 25: where the time goes

test-fast: setup test-packages postgres  ## only the tests that do not train
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_PARALLEL)

test-unit: $(VENV)/.installed  ## the logic alone: no apt packages, PostgreSQL, bubblewrap, Chromium, root or nbgrader processes
	$(BIN)/python -m pytest -m "not slow and not system and not process" $(PYTEST_PARALLEL)

bench: setup postgres  ## benchmarks that print numbers (docs/benchmarks.md): lab vs miss vs hit, CPU per grading, class throughput
	$(BIN)/python benchmarks/grading.py --runs 3
	$(BIN)/python benchmarks/grading_cpu.py
	$(BIN)/python benchmarks/class_throughput.py --students 6 --cache
	$(BIN)/python benchmarks/class_throughput.py
	$(BIN)/python benchmarks/similarity_cost.py
	$(BIN)/python benchmarks/ta_assist.py --blind

bench-suite: setup test-packages lint postgres  ## make test's pytest, timed and recorded (benchmarks/results/suite_runs.json -> docs/benchmarks.md)
	$(BIN)/python benchmarks/suite.py --workers $(TEST_WORKERS)

bench-spread: setup  ## the correct notebook's readings on emulated machines (threads, AVX2): the graders' tolerances (~20 min)
	$(BIN)/python benchmarks/machine_spread.py

bench-threshold: setup  ## the 10-seed accuracy sweep behind the default threshold (~30 min)
	$(BIN)/python benchmarks/accuracy_distribution.py --seeds 10

bench-pooling: setup  ## dense, dense2, dense_wide, conv, no-pooling x 5 seeds: the given table of Part 6e (~25-45 min)
	$(BIN)/python benchmarks/pooling_seeds.py --seeds 5

lint: $(VENV)/.installed  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check graders course scenarios tests benchmarks nbgrader_config.py source/$(ASSIGNMENT)/c1w3_checks.py

clean:  ## remove nbgrader's generated places (keeps .venv and release/)
	rm -rf submitted feedback gradebook.db reports grades.csv source/$(ASSIGNMENT)/_grading
	find autograded -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

collect: $(VENV)/.installed  ## LMS zip -> submitted/: ZIP=download.zip ROSTER=roster.csv [ID_COLUMN=...] [TIMESTAMPS=late|all|none] [FORCE=1]
	$(if $(ZIP),,$(error give ZIP=path/to/download.zip (Canvas or Moodle "download submissions")))
	$(if $(ROSTER),,$(error give ROSTER=path/to/roster.csv (Canvas gradebook export or Moodle grade export)))
	$(BIN)/python -m course collect --zip "$(ZIP)" --roster "$(ROSTER)"$(if $(LMS), --lms $(LMS))$(if $(ID_COLUMN), --id-column "$(ID_COLUMN)")$(if $(TIMESTAMPS), --timestamps $(TIMESTAMPS))$(if $(FORCE), --force)

export-lms: $(VENV)/.installed  ## gradebook -> LMS import CSV: TO=canvas|moodle ROSTER=roster.csv [POINTS=100] [MISSING=blank|zero] [COLUMN=...]
	$(if $(filter canvas moodle,$(TO)),,$(error give TO=canvas or TO=moodle))
	$(if $(ROSTER),,$(error give ROSTER=path/to/roster.csv (exported from the LMS)))
	$(BIN)/python -m course export-lms --to $(TO) --roster "$(ROSTER)"$(if $(POINTS), --points $(POINTS))$(if $(MISSING), --missing $(MISSING))$(if $(COLUMN), --column "$(COLUMN)")$(if $(ID_COLUMN), --id-column "$(ID_COLUMN)")$(if $(OUT), --out "$(OUT)")$(if $(DB_URL), --db-url $(DB_URL))

publish-lti: $(VENV)/.installed  ## gradebook -> LMS over LTI 1.3 AGS (c.LtiPublish.*, docs/lti.md): dry run; SEND=1 [PENDING=1] [DB_URL=]
	$(BIN)/python -m course publish-lti$(if $(SEND), --send)$(if $(PENDING), --include-pending)$(if $(DB_URL), --db-url $(DB_URL))

# nbgrader's exchange (JupyterHub, docs/jupyterhub.md): release -> students fetch and submit ->
# collect-exchange -> grade -> release-feedback -> students fetch their feedback. EXCHANGE=
# overrides nbgrader's c.Exchange.root; the course id is nbgrader_config.py's.
EXCHANGE_ROOT = $(if $(EXCHANGE), --exchange "$(EXCHANGE)")

release-exchange: release  ## release/ -> nbgrader's exchange: [EXCHANGE=/path] [DUE="2026-03-01 23:59 Europe/Berlin"] [FORCE=1]
	$(BIN)/python -m course exchange release$(EXCHANGE_ROOT)$(if $(DUE), --due "$(DUE)")$(if $(FORCE), --force)

due: $(VENV)/.installed  ## set or move the due date in the gradebook: DUE="2026-03-01 23:59 Europe/Berlin"
	$(if $(DUE),,$(error give DUE="YYYY-MM-DD HH:MM Time/Zone"))
	$(BIN)/python -m course exchange due "$(DUE)"

collect-exchange: $(VENV)/.installed  ## exchange -> submitted/: each student's newest submission and its time [EXCHANGE=]
	$(BIN)/python -m course exchange collect$(EXCHANGE_ROOT)

release-feedback: $(VENV)/.installed  ## feedback/ -> exchange, each student's own (after make grade) [EXCHANGE=]
	$(BIN)/python -m course exchange feedback$(EXCHANGE_ROOT)

.PHONY: ta-assist
ta-assist: $(VENV)/.installed  ## Part 7 after grading: group answers, propose scores from the TA's grades (reports/); nothing is written until `python -m course ta-assist accept`
	$(BIN)/python -m course ta-assist $(if $(DB_URL),--db-url $(DB_URL))

.PHONY: warm
warm: setup  ## run the source notebook once, outside any sandbox, to fill .training_cache/ (README, "Training cache")
	$(BIN)/python -m course warm
