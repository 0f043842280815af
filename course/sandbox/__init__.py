"""Run untrusted code (a student's kernel, the out-of-kernel verifier) in a bubblewrap sandbox.

What the sandboxed process sees (docs/threat-model.md):
- read-only: /usr and the few /etc files programs need, this Python (the venv and its base
  interpreter), the ``graders`` package, the instructor's ``c1w3_checks.py``, and the
  official Fashion-MNIST files;
- read-write: its own working copy (``autograded/<student>/<assignment>/``), a private /tmp
  and /dev/shm (size-limited tmpfs) and the folder of its IPC sockets;
- nothing else: not the gradebook, not source/, submitted/, feedback/ or other students'
  folders, no network (own network namespace; the kernel talks to nbgrader over IPC sockets),
  its own PID namespace, user "nobody" with no capabilities.

Limits per sandbox (``c.Sandbox.*`` in nbgrader_config.py) depend on the *tier*, chosen once
per process (``c.Sandbox.tier = "auto"``) and reported by :func:`tier`:

- ``cgroup``: memory and process count through a cgroup (v1 or v2) this process may create
  (root, or a writable hierarchy); the kernel enforces both;
- ``systemd``: the same through a delegated cgroup v2, a ``systemd-run --user --scope`` with
  MemoryMax/TasksMax (hosts with a systemd user session on the unified hierarchy);
- ``userns``: no cgroup at all (a plain user on cgroup v1, say): bubblewrap through
  unprivileged user namespaces, processes+threads capped by RLIMIT_NPROC set *inside* the
  sandbox's user namespace (the kernel counts it per user namespace and uid, so one sandbox
  cannot use up another's or the grader's share), and memory and threads watched every
  0.2 s by a watchdog over the sandbox's process tree, which kills the whole sandbox;
- refused: none of these works. Grading stops with a SandboxError naming each reason and
  the options; it never falls back to an unsandboxed run.

In every tier file size and core dumps go through rlimits, disk use of the working copy
through a watchdog, /tmp and /dev/shm through their tmpfs sizes.
"""

from __future__ import annotations

import atexit
import functools
import os
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
from traitlets import Bool, Enum, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

import course.sandbox.argv as bwrap_argv
import graders
from course.sandbox.argv import NOBODY, SHM_MB  # noqa: F401 (NOBODY: the uid tests check)
from course.sandbox.cgroups import kill_cgroup, oom_killed
from course.sandbox.tiers import TIERS, Tier
from graders import data


class SandboxError(RuntimeError):
    """The sandbox could not be set up; nothing was run."""


class Sandbox(LoggingConfigurable):
    """One sandbox: its tier (and cgroup), a command line, watchdogs, and why it stopped."""

    enabled = Bool(
        True, help="Run student kernels in bubblewrap. Turning it off is for debugging only."
    ).tag(config=True)
    bwrap = Unicode("bwrap", help="The bubblewrap executable.").tag(config=True)
    tier = Enum(
        ["auto", *TIERS],
        "auto",
        help="How limits are enforced: 'cgroup' (root or a writable cgroup), 'systemd' "
        "(delegated cgroup v2 via systemd-run --user), 'userns' (unprivileged user namespaces, "
        "rlimits and a watchdog; no cgroup), or 'auto': the first of these that works here.",
    ).tag(config=True)
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
    watch_interval = Float(
        0.2, help="Seconds between two looks of the memory/thread watchdog (userns tier)."
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reason = ""  # why the watchdog or the kernel stopped the sandbox
        self._cgroups: list[Path] = []
        self._tier = ""
        self._scope = f"c1w3-sandbox-{uuid.uuid4().hex[:12]}"  # systemd tier: the unit
        self._watch: threading.Thread | None = None
        self._watchers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._tree: list[psutil.Process] = []
        self.peak_mb = 0.0  # userns tier: the largest memory use the watchdog saw
        self.pid: int | None = None

    # -- tier ------------------------------------------------------------------------------
    @property
    def tier_object(self) -> Tier:
        return TIERS[self.tier_name]

    @property
    def tier_name(self) -> str:
        """'cgroup', 'systemd' or 'userns': chosen (and cached) on first use; SandboxError
        when the configured tier, or with 'auto' every tier, is unavailable."""
        if not self._tier:
            self._tier = select_tier(self.tier, self.bwrap)
            _report(self, self._tier)
        return self._tier

    def guarantees(self) -> str:
        return self.tier_object.guarantees.format(
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            file_size_mb=self.file_size_mb,
            disk_mb=self.disk_mb,
            shm_mb=SHM_MB,
        )

    # -- cgroups -------------------------------------------------------------------------
    def create_cgroups(self) -> None:
        """Choose the tier (SandboxError if none) and, in the cgroup tier, make the cgroups."""
        try:
            self._cgroups = self.tier_object.make_cgroups(self.memory_mb, self.max_processes)
        except OSError as exc:
            raise SandboxError(
                f"cannot create a cgroup for the sandbox's memory and process limits ({exc}). "
                f"{OPTIONS}"
            ) from exc

    def remove_cgroups(self) -> None:
        deadline = time.monotonic() + 5  # killed processes take a moment to leave
        for group in self._cgroups:
            while group.exists():
                # Killed again on every try: a fork bomb's children fork while a kill lands.
                kill_cgroup(group)
                try:
                    group.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        break  # left for the next sandbox's sweep (sweep_leftovers)
                    time.sleep(0.05)
        self._cgroups = []

    def limit_hit(self) -> str:
        """The limit the sandbox ran into, in words ('' if none)."""
        if self.reason:
            return self.reason
        for group in self._cgroups + self._scope_cgroups():
            if oom_killed(group):
                return f"the memory limit of {self.memory_mb} MB was exceeded"
        return ""

    # -- command line --------------------------------------------------------------------
    def command(
        self,
        argv: list[str],
        cwd: Path,
        writable=(),
        extra_readable=(),
        cwd_writable=True,
        env: dict[str, str] | None = None,
    ) -> list[str]:
        """argv wrapped so it runs in the sandbox, in `cwd`, within this sandbox's limits,
        with `env` on top of the forwarded variables."""
        if not shutil.which(self.bwrap):
            raise SandboxError(
                f"bubblewrap ({self.bwrap}) is not installed: `apt-get install bubblewrap`. "
                "Refusing to run student code without a sandbox."
            )
        tier = self.tier_object
        graders_dir = Path(graders.__file__).resolve().parent
        readable = [Path(sys.prefix), Path(sys.base_prefix), graders_dir]
        sandboxed = bwrap_argv.bwrap(
            list(argv),
            bwrap=self.bwrap,
            cwd=Path(cwd).resolve(),
            root_links=root_links(),
            readable=[*readable, *map(Path, extra_readable)],
            dataset=data.keras_dataset_dir(),
            writable=[Path(p) for p in writable],
            cwd_writable=cwd_writable,
            env=bwrap_argv.environment(env, os.environ, Path(sys.executable).parent),
            tmp_mb=self.disk_mb,
            inside=tier.inside(self.max_processes),
        )
        return bwrap_argv.launch(
            sandboxed,
            file_size_mb=self.file_size_mb,
            outside=tier.outside(self.memory_mb, self.max_processes, self._scope),
            cgroups=self._cgroups,
        )

    # -- watchdogs -----------------------------------------------------------------------
    def watch(self, pid: int, folders: list[Path], interval: float = 0.5) -> None:
        """Stop the sandbox (`pid` is bwrap) when its folders outgrow the disk limit, and,
        without a cgroup (userns tier), when its processes use too much memory or threads."""
        self.pid = pid
        limit = self.disk_mb * 1024 * 1024

        def disk():
            while not self._stop.wait(interval):
                used = sum(_disk_usage(folder) for folder in folders)
                if used > limit:
                    self._stop_for(
                        f"the disk limit of {self.disk_mb} MB was exceeded "
                        f"({used / 2**20:.0f} MB written in the working copy)"
                    )
                    return

        self._watch = self._start(disk, "disk")
        if self.tier_object.watches_memory:
            self._start(self._watch_memory, "memory")

    def _start(self, target, what: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"c1w3-sandbox-{what}", daemon=True)
        self._watchers.append(thread)
        thread.start()
        return thread

    def _stop_for(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        self.kill()
        self._stop.set()

    def _watch_memory(self) -> None:
        """Memory (proportional RSS) and threads of bwrap's process tree, every 0.2 s.

        RSS counts a page shared by forked processes once per process (a fork bomb of a
        TensorFlow kernel "uses" its size hundreds of times), so only when the sum of RSS is
        over the limit is the exact share (PSS, /proc/<pid>/smaps_rollup) added up; that
        costs ~ms per process and is done at most every 4x its own duration."""
        limit = self.memory_mb * 2**20
        precise_after = 0.0
        while not self._stop.wait(self.watch_interval):
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return  # bwrap is gone: the sandbox ended
            self._tree = tree
            rss = threads = 0
            for proc in tree:
                try:
                    with proc.oneshot():
                        rss += proc.memory_info().rss
                        threads += proc.num_threads()
                except psutil.Error:
                    pass  # it exited meanwhile
            used = rss
            if rss > limit and time.monotonic() >= precise_after:
                start = time.monotonic()
                used = _pss(tree)
                took = time.monotonic() - start
                precise_after = time.monotonic() + 4 * took
            elif rss > limit:
                continue  # over by RSS, not yet re-checked exactly: wait for the next look
            self.peak_mb = max(self.peak_mb, used / 2**20)
            if used > limit:
                self._stop_for(
                    f"the memory limit of {self.memory_mb} MB was exceeded "
                    f"({used / 2**20:.0f} MB in use)"
                )
                return
            # bwrap and its init are two of the tasks; the limit is on what runs inside.
            if threads - 2 > self.max_processes:
                self._stop_for(
                    f"the process limit of {self.max_processes} processes and threads was "
                    f"exceeded ({threads - 2} running)"
                )
                return

    def kill(self) -> None:
        for group in self._cgroups + self._scope_cgroups():
            kill_cgroup(group)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Without a cgroup: bwrap's death ends its PID namespace; kill what the watchdog saw
        # too, in case a process is slow to go.
        for proc in self._tree:
            try:
                proc.kill()
            except psutil.Error:
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

    def _scope_cgroups(self) -> list[Path]:
        return TIERS[self._tier].scope_cgroups(self.pid, self._scope) if self._tier else []


class Started:
    """A process started in its own sandbox, waiting for its input: `finish` sends it and
    collects the result, `cancel` stops it. Both close the sandbox; either may come first."""

    def __init__(self, box: Sandbox | None, proc: subprocess.Popen, cmd: list[str]):
        self.box, self.proc, self.cmd = box, proc, cmd
        self._closed = False
        atexit.register(self.cancel)  # a grading that fails before `finish` leaves nothing

    def finish(self, input: str | None, timeout: float) -> tuple[subprocess.CompletedProcess, str]:
        """Send `input`, wait up to `timeout` s; (CompletedProcess, limit hit or '')."""
        try:
            try:
                out, err = self.proc.communicate(input, timeout=timeout)
                limit = self.box.limit_hit() if self.box is not None else ""
            except subprocess.TimeoutExpired:
                self._kill()
                out, err = self.proc.communicate()
                limit = f"stopped after {timeout:g} s"
            return subprocess.CompletedProcess(self.cmd, self.proc.returncode, out, err), limit
        finally:
            self._close()

    def cancel(self) -> None:
        if not self._closed:
            self._kill()
            self.proc.communicate()
            self._close()

    def _kill(self) -> None:
        if self.box is not None:
            self.box.kill()
        else:
            self.proc.kill()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            atexit.unregister(self.cancel)
            if self.box is not None:
                self.box.close()


def start(
    argv, cwd: Path, *, config=None, writable=(), cwd_writable=True, extra_readable=(), env=None
) -> Started:
    """Start argv in a fresh sandbox (its stdin a pipe); SandboxError if there is none."""
    pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    box = Sandbox(config=config)
    if not box.enabled:
        plain_env = {**os.environ, **(env or {})}
        return Started(None, subprocess.Popen(argv, cwd=cwd, env=plain_env, **pipes), list(argv))
    box.create_cgroups()
    try:
        cmd = box.command(
            argv, cwd, writable=writable, extra_readable=extra_readable,
            cwd_writable=cwd_writable, env=env,
        )  # fmt: skip
        proc = subprocess.Popen(cmd, **pipes)
        box.watch(proc.pid, [Path(p) for p in writable] + ([Path(cwd)] if cwd_writable else []))
    except BaseException:
        box.close()
        raise
    return Started(box, proc, cmd)


def run(argv, cwd: Path, *, timeout: float, input: str | None = None, **sandbox_options):
    """Run argv to completion in a fresh sandbox; returns (CompletedProcess, limit hit or '')."""
    return start(argv, cwd, **sandbox_options).finish(input, timeout)


# -- tiers -------------------------------------------------------------------------------------
OPTIONS = (
    "Options: grade as root (cgroup tier); give the grading user a delegated cgroup v2 "
    "(systemd user session: systemd-run --user --scope); allow unprivileged user namespaces "
    "(sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone = 1, on Ubuntu "
    "24.04+ kernel.apparmor_restrict_unprivileged_userns = 0 or an AppArmor profile for bwrap) "
    "for the userns tier; or grade on another machine as a Dask worker (make grade-cluster "
    "SCHEDULER=...). c.Sandbox.enabled = False in nbgrader_config.py grades WITHOUT a sandbox "
    "(trusted submissions only)."
)


def tier(config=None) -> tuple[str, str]:
    """(tier name, what it guarantees) for this process and configuration, for `make doctor`.

    The name is 'cgroup', 'systemd', 'userns', 'refused' (the description then says why and
    what the options are) or 'disabled' (c.Sandbox.enabled = False). Never raises."""
    box = Sandbox(config=config)
    if not box.enabled:
        return "disabled", "c.Sandbox.enabled = False: student code runs WITHOUT a sandbox"
    if not shutil.which(box.bwrap):
        return "refused", f"bubblewrap ({box.bwrap}) is not installed: `apt-get install bubblewrap`"
    try:
        return box.tier_name, box.guarantees()
    except SandboxError as exc:
        return "refused", str(exc)


def select_tier(requested: str = "auto", bwrap: str = "bwrap") -> str:
    """The tier to use ('cgroup', 'systemd' or 'userns'); SandboxError with every reason."""
    wanted = tuple(TIERS) if requested == "auto" else (requested,)
    if requested not in ("auto", *TIERS):
        raise SandboxError(f"c.Sandbox.tier = {requested!r}: use 'auto' or one of {tuple(TIERS)}")
    reasons = []
    for name in wanted:
        why = _probe(name, bwrap)
        if not why:
            return name
        reasons.append(f"{name}: {why}")
    what = f"sandbox tier {requested!r} is not" if requested != "auto" else "no sandbox tier is"
    raise SandboxError(
        f"{what} available here, refusing to run student code without a sandbox "
        f"({'; '.join(reasons)}). {OPTIONS}"
    )


@functools.cache
def _probe(name: str, bwrap: str) -> str:
    """'' if tier `name` works here, else why not. Cached: tried once per process."""
    return TIERS[name].probe(bwrap) if name in TIERS else f"unknown tier {name!r}"


def root_links(root: Path = Path("/")) -> list[tuple[str, tuple[str, str]]]:
    """/bin, /lib, /lib64 and /sbin as the host has them: a symlink (merged /usr) or a folder."""
    found = []
    for link in ("bin", "lib", "lib64", "sbin"):
        path = root / link
        if path.is_symlink():
            found.append((str(path), ("symlink", os.readlink(path))))
        elif path.exists():
            found.append((str(path), ("ro-bind", "")))
    return found


_reported: set[str] = set()


def _report(box: Sandbox, name: str) -> None:
    if name not in _reported:
        _reported.add(name)
        box.log.info("sandbox tier: %s: %s", name, box.guarantees())


def _pss(procs: list[psutil.Process]) -> int:
    """Proportional set size of `procs` together (shared pages split between sharers)."""
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss
        except psutil.AccessDenied:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        except psutil.Error:
            pass
    return total


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
