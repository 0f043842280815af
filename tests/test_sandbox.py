"""The sandbox on its own: what a sandboxed process can see, write and use (no nbgrader).

Each test runs a few lines of Python in course.sandbox exactly as a student's kernel runs,
in every tier this machine offers (docs/threat-model.md): the cgroup tier (root), the
user-namespace tier forced on a root grader (``c.Sandbox.tier = "userns"``), and the tier a
plain user gets on their own (``c.Sandbox.tier = "auto"`` run through ``runuser``; here the
user-namespace one). The hostile class (tests/test_hostile_class.py) shows the same walls
from inside notebooks; tests/test_unprivileged.py grades part of it as a plain user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from traitlets.config import Config

from course import sandbox
from course.layout import COURSE_ROOT
from tests.support.users import (
    ROOT,
    as_plain_user,
    plain_user,
    user_dir,
)

pytestmark = pytest.mark.system  # bubblewrap, cgroups, other users

# "cgroup" and "userns" run in this process; "plain" runs as PLAIN_USER with the tier "auto".
TIERS = ["cgroup", "userns", "plain"]


# -- running as a plain user -------------------------------------------------------------


DRIVER = """
import json, sys
from pathlib import Path
from traitlets.config import Config
from course import sandbox
spec = json.loads(sys.argv[1])
cfg = Config()
for key, value in spec["config"].items():
    setattr(cfg.Sandbox, key, value)
result = {"tier": sandbox.tier(cfg)[0]}
try:
    done, limit = sandbox.run(spec["argv"], Path(spec["cwd"]), timeout=spec["timeout"], config=cfg)
    result.update(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr, limit=limit)
except sandbox.SandboxError as exc:
    result["error"] = str(exc)
print(json.dumps(result))
"""


def run_as_plain_user(argv, cwd: Path, timeout: float, config: dict, env=None):
    """sandbox.run(argv) in a process of the plain user; (CompletedProcess, limit, tier)."""
    user = plain_user()
    spec = json.dumps(dict(argv=argv, cwd=str(cwd), timeout=timeout, config=config))
    done = subprocess.run(
        as_plain_user([sys.executable, "-c", DRIVER, spec], user, **(env or {})),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=timeout + 120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in result:
        raise sandbox.SandboxError(result["error"])
    completed = subprocess.CompletedProcess(
        argv, result["returncode"], result["stdout"], result["stderr"]
    )
    return completed, result["limit"], result["tier"]


# -- the tiers -----------------------------------------------------------------------------


@pytest.fixture(params=TIERS)
def tier(request):
    name = request.param
    if name == "cgroup":
        why = sandbox._probe("cgroup", "bwrap")
        if why:
            pytest.skip(f"the cgroup tier is not available here: {why}")
    if name == "plain":
        plain_user()
    return name


@pytest.fixture
def workdir(tier, tmp_path):
    """The sandbox's working copy: tmp_path, or a folder the plain user owns."""
    if tier != "plain":
        yield tmp_path
        return
    path = user_dir(plain_user())
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(code: str, cwd: Path, timeout: float = 60, tier: str = "cgroup", env=None, **config):
    argv = [sys.executable, "-I", "-c", textwrap.dedent(code)]
    if tier == "plain":
        done, limit, got = run_as_plain_user(argv, cwd, timeout, config, env)
        # On its own, a plain user gets a tier without root: here the user-namespace one
        # (a delegated cgroup v2 where systemd offers one).
        assert got in ("userns", "systemd"), got
        return done, limit
    cfg = Config()
    cfg.Sandbox.tier = tier
    for key, value in config.items():
        setattr(cfg.Sandbox, key, value)
    return sandbox.run(argv, cwd, timeout=timeout, config=cfg)


def test_writes_only_its_working_copy_and_tmp(tier, workdir):
    gradebook = COURSE_ROOT / "gradebook.db"
    before = gradebook.read_bytes() if gradebook.exists() else None
    targets = ["/work", "/root/x", "/usr/x", "/etc/passwd", "/x", str(gradebook), f"{sys.prefix}/x"]
    targets += ["/dev/x"]  # bwrap's /dev is a tmpfs: read-only here, /dev/shm aside
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
        workdir,
        tier=tier,
    )
    assert done.returncode == 0, done.stderr
    for target in outside_tmp:
        assert f"WROTE {target}\n" not in done.stdout, done.stdout
    assert done.stdout.count("blocked") >= len(outside_tmp)
    assert (workdir / "mine.txt").read_text() == "ok"
    assert (gradebook.read_bytes() if gradebook.exists() else None) == before
    assert limit == ""


def test_shared_memory_is_small(tier, workdir):
    # /dev/shm is the one writable place in /dev: a tmpfs of SHM_MB, not host memory.
    done, _ = run(
        """
        try:
            with open("/dev/shm/fill", "wb") as fh:
                for _ in range(1024):
                    fh.write(bytes(2**20))
            print("wrote 1 GB")
        except OSError as exc:
            print("stopped", type(exc).__name__)
        """,
        workdir,
        tier=tier,
    )
    assert "stopped OSError" in done.stdout, done.stdout + done.stderr


def test_sees_no_course_files_and_no_host_processes(tier, workdir):
    done, _ = run(
        f"""
        import os
        print(sorted(os.listdir("{COURSE_ROOT}")))
        print(len([p for p in os.listdir("/proc") if p.isdigit()]))
        print(os.getuid())
        """,
        workdir,
        tier=tier,
    )
    listing, processes, uid = done.stdout.splitlines()
    # Only what the checks need: the graders package, the public checks, the venv.
    assert "gradebook.db" not in listing and "submitted" not in listing, listing
    assert set(eval(listing)) <= {".venv", "graders", "source"}
    assert int(processes) <= 3  # its own PID namespace: bwrap's init, itself
    assert uid == str(sandbox.NOBODY)


def test_no_network(tier, workdir):
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
        workdir,
        tier=tier,
    )
    assert "CONNECTED" not in done.stdout and done.stdout.count("blocked") == 2, done.stdout


def test_secrets_in_the_environment_stay_outside(tier, workdir, monkeypatch):
    secrets = {"C1W3_DB_URL": "postgresql://c1w3:secret@127.0.0.1/x", "PYTHONPATH": str(workdir)}
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)  # the plain user's process gets them through `env`
    done, _ = run("import os; print(sorted(os.environ))", workdir, tier=tier, env=secrets)
    assert "C1W3_DB_URL" not in done.stdout and "PYTHONPATH" not in done.stdout


def test_memory_limit_stops_the_process_and_says_so(tier, workdir):
    done, limit = run(
        """
        blocks = []
        while True:
            blocks.append(bytearray(64 * 2**20))
        """,
        workdir,
        tier=tier,
        memory_mb=256,
    )
    assert done.returncode != 0
    assert "memory limit of 256 MB" in limit


def test_forked_children_sharing_memory_are_not_counted_twice(tier, workdir):
    # 8 children of a process holding 200 MB: the sum of their RSS is ~1.8 GB, the memory
    # they use together ~200 MB. The userns tier's watchdog must count the latter.
    done, limit = run(
        """
        import os, time
        block = bytearray(200 * 2**20)
        children = []
        for _ in range(8):
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        print("all done")
        """,
        workdir,
        tier=tier,
        memory_mb=512,
    )
    assert "all done" in done.stdout and limit == "", (limit, done.stderr[-300:])


def test_process_limit_stops_a_fork_bomb(tier, workdir):
    done, limit = run(
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
        workdir,
        tier=tier,
        max_processes=64,
    )
    if tier == "userns" and ROOT:
        # RLIMIT_NPROC does not bind uid 0: for a root grader forcing this tier, the
        # watchdog counts the processes and stops the sandbox.
        assert "the process limit of 64 processes and threads was exceeded" in limit, (
            limit,
            done.stdout[-300:],
        )
        return
    assert "stopped after" in done.stdout, done.stdout + done.stderr
    assert int(done.stdout.split()[2]) < 64


def test_disk_limit_stops_a_writer(tier, workdir):
    done, limit = run(
        """
        import os
        block = os.urandom(2**20)
        for i in range(2000):
            with open(f"fill_{i // 50}.bin", "ab") as fh:
                fh.write(block)
        """,
        workdir,
        tier=tier,
        disk_mb=64,
    )
    assert "disk limit of 64 MB" in limit, (limit, done.stderr[-300:])


def test_wall_time_limit(tier, workdir):
    done, limit = run("import time; time.sleep(60)", workdir, timeout=2, tier=tier)
    assert "stopped after 2 s" in limit


def test_no_bubblewrap_is_an_error_not_an_unsandboxed_run(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="bubblewrap"):
        run("print('ran')", tmp_path, tier="auto", bwrap="/nonexistent/bwrap")


def test_no_tier_is_an_error_that_names_the_reasons_and_the_options(tmp_path):
    # A bwrap that cannot create namespaces (here: one that always fails) is what a host
    # without unprivileged user namespaces looks like to a plain user.
    with pytest.raises(sandbox.SandboxError, match="tier 'userns' is not available") as err:
        run("print('ran')", tmp_path, tier="userns", bwrap="/bin/false")
    assert "user namespaces" in str(err.value) and "grade-cluster" in str(err.value)
    cfg = Config()
    cfg.Sandbox.tier = "userns"
    cfg.Sandbox.bwrap = "/bin/false"
    name, why = sandbox.tier(cfg)
    assert name == "refused" and "bwrap --unshare-all" in why


def test_tier_reports_what_holds():
    name, guarantees = sandbox.tier()
    assert name == ("cgroup" if ROOT else "userns") or name == "systemd", (name, guarantees)
    assert "3072 MB" in guarantees and "512 processes" in guarantees
    cfg = Config()
    cfg.Sandbox.tier = "userns"
    name, guarantees = sandbox.tier(cfg)
    assert name == "userns" and "watchdog" in guarantees


def test_a_plain_user_gets_the_user_namespace_tier_on_their_own():
    user = plain_user()
    code = "from course import sandbox; print(sandbox.tier()[0])"
    done = subprocess.run(
        as_plain_user([sys.executable, "-c", code], user),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() in ("userns", "systemd"), done.stdout + done.stderr


# -- A sandboxed kernel under nbgrader's executor ----------------------------------------
# A real Jupyter kernel under nbgrader's Execute, waiting out cell timeouts: 6-19 s each, slow.


def execute(tmp_path, *sources: str, timeout: int = 5, tier: str = "cgroup"):
    """Run code cells through SandboxedExecute (the autograde executor) with `timeout` s each."""
    import nbformat

    from course.nbgrader_plugins import VERIFIER_AHEAD, SandboxedExecute

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    cfg = Config()
    cfg.SandboxedExecute.cell_seconds = timeout
    cfg.Sandbox.tier = tier
    resources = {"metadata": {"path": str(tmp_path)}}
    nb, resources = SandboxedExecute(config=cfg).preprocess(nb, resources)
    ahead = resources.pop(VERIFIER_AHEAD, None)  # no VerifyOutsideKernel here to take it
    if ahead is not None:
        ahead.cancel()
    return [[o.get("ename") or o.get("text", "") for o in cell.outputs] for cell in nb.cells]


def test_cell_limits_are_traitlets_and_match_the_released_config():
    """Each cell's limit while grading comes from c.SandboxedExecute.cell_seconds and
    training_cell_seconds, set in a config file or on any command line; the released
    nbgrader_config.py (a student's Validate, on a laptop) names the same training cells and
    gives every cell at least the grading's limit."""
    import runpy
    import time

    import nbformat
    from traitlets.config.loader import KVArgParseConfigLoader

    from course.layout import COURSE_ROOT, Layout
    from course.nbgrader_plugins import TRAINING_CELLS, SandboxedExecute

    cells = [c for c in nbformat.read(Layout(COURSE_ROOT).notebook("source"), as_version=4).cells
             if c.cell_type == "code"]  # fmt: skip
    released = runpy.run_path(
        str(Layout(COURSE_ROOT).folder("release") / "nbgrader_config.py"),
        init_globals={"get_config": Config},
    )
    assert released["TRAINING_CELLS"] == TRAINING_CELLS
    execute = SandboxedExecute(config=Config())
    execute._deadline = time.monotonic() + 3600
    grading = [execute._get_timeout(c) for c in cells]
    assert sorted(set(grading)) == [60, 600]
    laptop = [released["cell_timeout"](c) for c in cells]
    assert all(mine >= limit for mine, limit in zip(laptop, grading, strict=True))

    argv = ["--SandboxedExecute.cell_seconds=5", "--SandboxedExecute.training_cell_seconds=50"]
    execute = SandboxedExecute(config=KVArgParseConfigLoader(argv).load_config())
    execute._deadline = time.monotonic() + 3600
    limits = {c.metadata.get("nbgrader", {}).get("grade_id"): execute._get_timeout(c)
              for c in cells}  # fmt: skip
    assert limits["train_conv_model"] == limits["train_dense_model"] == 50
    assert limits["concept_answers"] == 5
    execute._deadline = time.monotonic() + 3  # never past the submission's budget
    assert execute._get_timeout(cells[0]) <= 3


def test_old_empty_sandbox_cgroups_are_swept_and_busy_ones_kept():
    """A cgroup a sandbox could not remove in time (a fork bomb still dying) is removed by a
    later sandbox once it is empty and older than any grading; one with a process is kept."""
    if sandbox._probe("cgroup", "bwrap"):
        pytest.skip(f"the cgroup tier is not available here: {sandbox._probe('cgroup', 'bwrap')}")
    groups = sandbox.cgroups.make_cgroups(f"c1w3-sandbox-test-{os.getpid()}", 256, 16)
    busy = sandbox.cgroups.make_cgroups(f"c1w3-sandbox-test-busy-{os.getpid()}", 256, 16)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for group in busy:
            (group / "cgroup.procs").write_text(str(sleeper.pid))
        parents = sorted({group.parent for group in groups + busy})
        mine = "c1w3-sandbox-test-*"  # never another grading's cgroups
        sandbox.cgroups.sweep_leftovers(parents, pattern=mine)  # young: kept
        assert all(group.exists() for group in groups + busy)
        sandbox.cgroups.sweep_leftovers(parents, max_age_s=-1, pattern=mine)
        assert not any(group.exists() for group in groups)
        assert all(group.exists() for group in busy)
    finally:
        sleeper.kill()
        sleeper.wait()
        box = sandbox.Sandbox()
        box._cgroups = [*groups, *busy]
        box.remove_cgroups()
    assert not any(group.exists() for group in groups + busy)


@pytest.fixture(params=["cgroup", "userns"])
def kernel_tier(request):
    if request.param == "cgroup" and sandbox._probe("cgroup", "bwrap"):
        pytest.skip(f"the cgroup tier is not available here: {sandbox._probe('cgroup', 'bwrap')}")
    return request.param


@pytest.mark.slow
def test_time_limit_interrupts_the_kernel_and_keeps_its_state(tmp_path, kernel_tier):
    # The interrupt must reach the kernel, not bwrap (which would die and take it along).
    outputs = execute(tmp_path, "x = 41", "while True:\n    pass", "print(x + 1)", tier=kernel_tier)
    assert outputs[1][0] == "KeyboardInterrupt", outputs
    assert outputs[2] == ["42\n"], outputs


@pytest.mark.slow
def test_kernel_that_ignores_the_interrupt_loses_only_the_rest(tmp_path, kernel_tier):
    outputs = execute(
        tmp_path,
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)",
        "print('never')",
        tier=kernel_tier,
    )
    assert outputs[0] == ["KernelStopped"], outputs
    assert outputs[1] == ["NotRun"], outputs
