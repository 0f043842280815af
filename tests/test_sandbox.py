"""The sandbox on its own: what a sandboxed process can see, write and use (no nbgrader).

Each test runs a few lines of Python in course.sandbox exactly as a student's kernel runs.
The hostile class (tests/test_hostile_class.py) shows the same walls from inside notebooks.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from traitlets.config import Config

from course import sandbox
from graders import COURSE_ROOT


def run(code: str, cwd: Path, timeout: float = 60, **config):
    cfg = Config()
    for key, value in config.items():
        setattr(cfg.Sandbox, key, value)
    argv = [sys.executable, "-I", "-c", textwrap.dedent(code)]
    return sandbox.run(argv, cwd, timeout=timeout, config=cfg)


def test_writes_only_its_working_copy_and_tmp(tmp_path):
    gradebook = COURSE_ROOT / "gradebook.db"
    before = gradebook.read_bytes() if gradebook.exists() else None
    targets = ["/work", "/root/x", "/usr/x", "/etc/passwd", "/x", str(gradebook), f"{sys.prefix}/x"]
    # A course cloned under /tmp is shadowed by the sandbox's private /tmp: writes there land
    # in that tmpfs, so only the host-side check below applies to them.
    outside_tmp = [t for t in targets if not t.startswith("/tmp/")]
    done, limit = run(
        f"""
        import pathlib
        pathlib.Path("mine.txt").write_text("ok")
        pathlib.Path("/tmp/scratch").write_text("ok")
        for target in {targets!r}:
            try:
                pathlib.Path(target).write_text("owned")
                print("WROTE", target)
            except OSError as exc:
                print("blocked", target, type(exc).__name__)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for target in outside_tmp:
        assert f"WROTE {target}\n" not in done.stdout, done.stdout
    assert done.stdout.count("blocked") >= len(outside_tmp)
    assert (tmp_path / "mine.txt").read_text() == "ok"
    assert (gradebook.read_bytes() if gradebook.exists() else None) == before
    assert limit == ""


def test_sees_no_course_files_and_no_host_processes(tmp_path):
    done, _ = run(
        f"""
        import os
        print(sorted(os.listdir("{COURSE_ROOT}")))
        print(len([p for p in os.listdir("/proc") if p.isdigit()]))
        print(os.getuid())
        """,
        tmp_path,
    )
    listing, processes, uid = done.stdout.splitlines()
    # Only what the checks need: the graders package, the public checks, the venv.
    assert "gradebook.db" not in listing and "submitted" not in listing, listing
    assert set(eval(listing)) <= {".venv", "graders", "source"}
    assert int(processes) <= 3  # its own PID namespace: bwrap's init, itself
    assert uid == str(sandbox.NOBODY)


def test_no_network(tmp_path):
    done, _ = run(
        """
        import socket
        for address in [("127.0.0.1", 5432), ("8.8.8.8", 53)]:
            try:
                socket.create_connection(address, timeout=3)
                print("CONNECTED", address)
            except OSError as exc:
                print("blocked", type(exc).__name__)
        """,
        tmp_path,
    )
    assert "CONNECTED" not in done.stdout and done.stdout.count("blocked") == 2, done.stdout


def test_secrets_in_the_environment_stay_outside(tmp_path, monkeypatch):
    monkeypatch.setenv("C1W3_DB_URL", "postgresql://c1w3:secret@127.0.0.1/x")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    done, _ = run("import os; print(sorted(os.environ))", tmp_path)
    assert "C1W3_DB_URL" not in done.stdout and "PYTHONPATH" not in done.stdout


def test_memory_limit_stops_the_process_and_says_so(tmp_path):
    done, limit = run(
        """
        blocks = []
        while True:
            blocks.append(bytearray(64 * 2**20))
        """,
        tmp_path,
        memory_mb=256,
    )
    assert done.returncode != 0
    assert "memory limit of 256 MB" in limit


def test_process_limit_stops_a_fork_bomb(tmp_path):
    done, _ = run(
        """
        import os, time
        children = 0
        try:
            while children < 10000:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as exc:
            print("stopped after", children, type(exc).__name__, flush=True)
        os._exit(0)
        """,
        tmp_path,
        max_processes=64,
    )
    assert "stopped after" in done.stdout, done.stdout + done.stderr
    assert int(done.stdout.split()[2]) < 64


def test_disk_limit_stops_a_writer(tmp_path):
    done, limit = run(
        """
        import os
        block = os.urandom(2**20)
        for i in range(2000):
            with open(f"fill_{i // 50}.bin", "ab") as fh:
                fh.write(block)
        """,
        tmp_path,
        disk_mb=64,
    )
    assert "disk limit of 64 MB" in limit, (limit, done.stderr[-300:])


def test_wall_time_limit(tmp_path):
    done, limit = run("import time; time.sleep(60)", tmp_path, timeout=2)
    assert "stopped after 2 s" in limit


def test_no_bubblewrap_is_an_error_not_an_unsandboxed_run(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="bubblewrap"):
        run("print('ran')", tmp_path, bwrap="/nonexistent/bwrap")


# -- A sandboxed kernel under nbgrader's executor ----------------------------------------


def execute(tmp_path, *sources: str, timeout: int = 5):
    """Run code cells through SandboxedExecute (the autograde executor) with `timeout` s each."""
    import nbformat

    from course.nbgrader_plugins import SandboxedExecute

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    cfg = Config()
    cfg.SandboxedExecute.timeout = timeout
    nb, _ = SandboxedExecute(config=cfg).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return [[o.get("ename") or o.get("text", "") for o in cell.outputs] for cell in nb.cells]


def test_time_limit_interrupts_the_kernel_and_keeps_its_state(tmp_path):
    # The interrupt must reach the kernel, not bwrap (which would die and take it along).
    outputs = execute(tmp_path, "x = 41", "while True:\n    pass", "print(x + 1)")
    assert outputs[1][0] == "KeyboardInterrupt", outputs
    assert outputs[2] == ["42\n"], outputs


def test_kernel_that_ignores_the_interrupt_loses_only_the_rest(tmp_path):
    outputs = execute(
        tmp_path,
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)",
        "print('never')",
    )
    assert outputs[0] == ["KernelStopped"], outputs
    assert outputs[1] == ["NotRun"], outputs
