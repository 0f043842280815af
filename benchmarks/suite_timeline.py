"""A pytest plugin for benchmarks/suite.py: each xdist worker appends one JSON line per test
to the file named by $C1W3_SUITE_TIMELINE: its worker id, its process id, the test, and when
the test (setup and teardown included) started and ended. suite.py joins these lines with its
CPU samples to say which test file each worker's processes spent their CPU on.

Loaded only by the benchmark (``-p suite_timeline`` with benchmarks/ on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import time

ENV = "C1W3_SUITE_TIMELINE"
_started: dict[str, float] = {}
_worker: str | None = None  # this process's xdist worker id; None in the controller


def pytest_configure(config):
    global _worker
    _worker = getattr(config, "workerinput", {}).get("workerid")


def pytest_runtest_logstart(nodeid, location):
    _started[nodeid] = time.time()


def pytest_runtest_logfinish(nodeid, location):
    path = os.environ.get(ENV)
    if not path or not _worker:  # the controller runs no test
        return
    line = {"worker": _worker, "pid": os.getpid(), "test": nodeid}
    line.update(start=_started.pop(nodeid, time.time()), end=time.time())
    with open(path, "a") as out:  # one short write per test: the workers' lines never mix
        out.write(json.dumps(line) + "\n")
