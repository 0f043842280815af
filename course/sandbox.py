"""Run untrusted code (a student's kernel, the out-of-kernel verifier) in a bubblewrap sandbox.

What the sandboxed process sees (README, "Threat model"):
- read-only: /usr and the few /etc files programs need, this Python (the venv and its base
  interpreter), the ``graders`` package, the instructor's ``c1w3_checks.py``, and the
  official Fashion-MNIST files;
- read-write: its own working copy (``autograded/<student>/<assignment>/``), a private /tmp
  (a size-limited tmpfs) and the folder of its IPC sockets;
- nothing else: not the gradebook, not source/, submitted/, feedback/ or other students'
  folders, no network (own network namespace; the kernel talks to nbgrader over IPC sockets),
  its own PID namespace, user "nobody" with no capabilities.

Limits per sandbox (``c.Sandbox.*`` in nbgrader_config.py): memory and process count through a
cgroup (v1 or v2), file size and core dumps through rlimits, disk use of the working copy and
/tmp through a watchdog and the tmpfs size. If bubblewrap or the cgroups cannot be set up,
grading stops with a SandboxError that says why; it never falls back to an unsandboxed run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
from traitlets import Bool, Integer, Unicode
from traitlets.config import Configurable

import graders
from graders import data

NOBODY = 65534
# Environment variables a sandboxed process may inherit; everything else (database URLs and
# passwords, PYTHONPATH, the instructor's HOME) stays outside.
ENV_PREFIXES = ("TF_", "OMP_", "MKL_", "NBGRADER_", "LANG", "LC_")
ENV_NAMES = ("C1W3_MIN_TEST_ACCURACY", "C1W3_EVAL_TIMEOUT", "TZ")
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "hosts",
    "mime.types",
    "ssl",
    "fonts",
    "matplotlibrc",
)


class SandboxError(RuntimeError):
    """The sandbox could not be set up; nothing was run."""


class Sandbox(Configurable):
    """One sandbox: a cgroup, a command line, a watchdog, and why it stopped (if it did)."""

    enabled = Bool(
        True, help="Run student kernels in bubblewrap. Turning it off is for debugging only."
    ).tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable.").tag(config=True)
    memory_mb = Integer(
        3072,
        help="Memory of the sandbox (RSS + its /tmp). Honest training peaks near 2 GB.",
    ).tag(config=True)
    max_processes = Integer(
        512, help="Processes and threads (TensorFlow alone starts ~60 threads)."
    ).tag(config=True)
    file_size_mb = Integer(256, help="Largest file the sandbox may write.").tag(config=True)
    disk_mb = Integer(
        1024, help="Disk used by the working copy; /tmp is a tmpfs of the same size."
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reason = ""  # why the watchdog or the kernel stopped the sandbox
        self._cgroups: list[Path] = []
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()
        self.pid: int | None = None

    # -- cgroups -------------------------------------------------------------------------
    def create_cgroups(self) -> None:
        name = f"c1w3-sandbox-{uuid.uuid4().hex[:12]}"
        try:
            self._cgroups = _make_cgroups(name, self.memory_mb, self.max_processes)
        except OSError as exc:
            raise SandboxError(
                f"cannot create a cgroup for the sandbox's memory and process limits ({exc}). "
                "Grade as root (or with a delegated cgroup), or set "
                "c.Sandbox.enabled = False in nbgrader_config.py to grade WITHOUT a sandbox "
                "(trusted submissions only)."
            ) from exc

    def remove_cgroups(self) -> None:
        for group in self._cgroups:
            _kill_cgroup(group)
        deadline = time.monotonic() + 5  # killed processes take a moment to leave
        for group in self._cgroups:
            while group.exists():
                try:
                    group.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
        self._cgroups = []

    def limit_hit(self) -> str:
        """The limit the sandbox ran into, in words ('' if none)."""
        if self.reason:
            return self.reason
        for group in self._cgroups:
            if _oom_killed(group):
                return f"the memory limit of {self.memory_mb} MB was exceeded"
        return ""

    # -- command line --------------------------------------------------------------------
    def command(
        self, argv: list[str], cwd: Path, writable=(), extra_readable=(), cwd_writable=True
    ) -> list[str]:
        """argv wrapped so it runs in the sandbox, in `cwd`, inside this sandbox's cgroups."""
        if not shutil.which(self.bwrap):
            raise SandboxError(
                f"bubblewrap ({self.bwrap}) is not installed: `apt-get install bubblewrap`. "
                "Refusing to run student code without a sandbox."
            )
        cwd = Path(cwd).resolve()
        args = [
            self.bwrap,
            "--unshare-all",  # network, PID, IPC, UTS, cgroup and user namespaces
            "--unshare-user",
            "--uid",
            str(NOBODY),
            "--gid",
            str(NOBODY),
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--clearenv",
        ]
        for link in ("bin", "lib", "lib64", "sbin"):
            path = Path("/") / link
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.exists():
                args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in ETC_FILES:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        size = str(self.disk_mb * 1024 * 1024)
        args += ["--size", size, "--tmpfs", "/tmp", "--dir", "/tmp/home"]
        readable = {
            Path(sys.prefix),
            Path(sys.base_prefix),
            Path(graders.__file__).resolve().parent,
            graders.PUBLIC_CHECKS_PATH,
            *map(Path, extra_readable),
        }
        for path in sorted(readable, key=lambda p: len(p.parts)):
            args += ["--ro-bind", str(path), str(path)]
        # Keras reads $KERAS_HOME/datasets/fashion-mnist and writes keras.json beside it.
        args += ["--ro-bind", str(data.keras_dataset_dir()), "/tmp/keras/datasets/fashion-mnist"]
        args += ["--bind" if cwd_writable else "--ro-bind", str(cwd), str(cwd)]
        for path in map(Path, writable):
            args += ["--bind", str(path), str(path)]
        env = {
            "HOME": "/tmp/home",
            "TMPDIR": "/tmp",
            "KERAS_HOME": "/tmp/keras",
            "MPLCONFIGDIR": "/tmp/home/.matplotlib",
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for key, value in os.environ.items():
            if key.startswith(ENV_PREFIXES) or key in ENV_NAMES:
                env.setdefault(key, value)
        for key, value in sorted(env.items()):
            args += ["--setenv", key, value]
        # Nothing else is writable, not even the folders bwrap made for the mount points.
        args += ["--remount-ro", "/", "--chdir", str(cwd), "--", *argv]
        limits = [
            "prlimit",
            f"--fsize={self.file_size_mb * 1024 * 1024}",
            "--core=0",
            "--nofile=1024",
            "--",
        ]
        # The shell joins the cgroups before anything else starts, then becomes bwrap.
        procs = [shlex.quote(str(group / "cgroup.procs")) for group in self._cgroups]
        join = " && ".join(f"echo $$ > {path}" for path in procs)
        return ["/bin/sh", "-c", f'{join or ":"} && exec "$@"', "c1w3-sandbox", *limits, *args]

    # -- watchdog ------------------------------------------------------------------------
    def watch(self, pid: int, folders: list[Path], interval: float = 0.5) -> None:
        """Stop the sandbox (`pid` is bwrap) when its folders outgrow the disk limit."""
        self.pid = pid
        limit = self.disk_mb * 1024 * 1024

        def run():
            while not self._stop.wait(interval):
                used = sum(_disk_usage(folder) for folder in folders)
                if used > limit:
                    self.reason = (
                        f"the disk limit of {self.disk_mb} MB was exceeded "
                        f"({used / 2**20:.0f} MB written in the working copy)"
                    )
                    self.kill()
                    return

        self._watch = threading.Thread(target=run, name="c1w3-sandbox-watchdog", daemon=True)
        self._watch.start()

    def kill(self) -> None:
        for group in self._cgroups:
            _kill_cgroup(group)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def signal_inside(self, signum: int) -> None:
        """Send `signum` to every process inside the sandbox, not to bwrap itself.

        bwrap dies of a SIGINT, and its init takes the kernel with it (--die-with-parent), so
        the process-group interrupt jupyter_client sends would kill the kernel instead of
        raising KeyboardInterrupt in it."""
        try:
            inits = psutil.Process(self.pid).children()
            inside = [p for init in inits for p in init.children(recursive=True)]
        except psutil.Error:
            return
        for proc in inside:
            try:
                proc.send_signal(signum)
            except psutil.Error:
                pass  # it exited meanwhile

    def close(self) -> None:
        self._stop.set()
        self.remove_cgroups()


def run(argv, cwd: Path, *, timeout: float, config=None, writable=(), cwd_writable=True):
    """Run argv to completion in a fresh sandbox; returns (CompletedProcess, limit hit or '')."""
    box = Sandbox(config=config)
    if not box.enabled:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return done, ""
    box.create_cgroups()
    try:
        cmd = box.command(argv, cwd, writable=writable, cwd_writable=cwd_writable)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        box.watch(proc.pid, [Path(p) for p in writable] + ([Path(cwd)] if cwd_writable else []))
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            box.reason = f"stopped after {timeout:g} s"
            box.kill()
            out, err = proc.communicate()
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err), box.limit_hit()
    finally:
        box.close()


# -- cgroup v1 / v2 helpers ------------------------------------------------------------------
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroups() -> dict[str, str]:
    """controller ('' for v2) -> this process's cgroup path."""
    result = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            result[controller] = path
    return result


def _make_cgroups(name: str, memory_mb: int, max_processes: int) -> list[Path]:
    own = _own_cgroups()
    memory = str(memory_mb * 1024 * 1024)
    if (CGROUP_ROOT / "memory").is_dir() and "memory" in own and "pids" in own:  # v1
        mem = CGROUP_ROOT / "memory" / own["memory"].lstrip("/") / name
        pids = CGROUP_ROOT / "pids" / own["pids"].lstrip("/") / name
        mem.mkdir()
        pids.mkdir()
        (mem / "memory.limit_in_bytes").write_text(memory)
        swap = mem / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(memory)
        (pids / "pids.max").write_text(str(max_processes))
        return [mem, pids]
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2 (unified)
        parent = CGROUP_ROOT / own.get("", "/").lstrip("/")
        wanted = {"memory", "pids"}
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not wanted <= enabled:
            (parent / "cgroup.subtree_control").write_text(
                " ".join(f"+{c}" for c in wanted - enabled)
            )
        group = parent / name
        group.mkdir()
        (group / "memory.max").write_text(memory)
        if (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
        (group / "pids.max").write_text(str(max_processes))
        return [group]
    raise OSError("no writable cgroup v1 (memory, pids) or v2 hierarchy under /sys/fs/cgroup")


def _kill_cgroup(group: Path) -> None:
    if (group / "cgroup.kill").exists():
        try:
            (group / "cgroup.kill").write_text("1")
            return
        except OSError:
            pass
    try:
        pids = (group / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _oom_killed(group: Path) -> bool:
    for name in ("memory.oom_control", "memory.events"):
        try:
            text = (group / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip() not in ("", "0"):
                return True
    return False


def _disk_usage(folder: Path) -> int:
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass
    return total


def runtime_dir() -> Path:
    """A private folder for one kernel's connection file and IPC sockets."""
    return Path(tempfile.mkdtemp(prefix="c1w3-kernel-"))
