"""The three ways this machine can enforce a sandbox's memory and process limits, one class
each (docs/threat-model.md): what it probes, what it wraps around bubblewrap, and which
limits the watchdog must enforce because no cgroup does."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import course.sandbox.cgroups as cgroups
from course.sandbox.argv import NOBODY


class Tier:
    name = ""
    guarantees = ""  # for `make doctor`; {memory_mb} etc. from the Sandbox's limits
    watches_memory = False  # no cgroup: the watchdog counts memory and threads

    def probe(self, bwrap: str) -> str:
        """'' if this tier works here, else why not."""
        raise NotImplementedError

    def make_cgroups(self, memory_mb: int, max_processes: int) -> list[Path]:
        """Cgroups the sandbox's shell joins before it becomes bubblewrap."""
        return []

    def outside(self, memory_mb: int, max_processes: int, scope: str) -> list[str]:
        """A prefix around the whole sandbox (before its rlimits)."""
        return []

    def inside(self, max_processes: int) -> list[str]:
        """A prefix run inside the sandbox, before the sandboxed argv."""
        return []

    def scope_cgroups(self, pid: int | None, scope: str) -> list[Path]:
        """Cgroups made for the sandbox by someone else (systemd), found from its pid."""
        return []


class CgroupTier(Tier):
    name = "cgroup"
    guarantees = (
        "bubblewrap (no network, own PID/user namespace, user nobody, writes only the working "
        "copy) + a cgroup: memory {memory_mb} MB (RSS, page cache and tmpfs, enforced by the "
        "kernel), {max_processes} processes+threads (fork fails with EAGAIN); file size "
        "{file_size_mb} MB; disk {disk_mb} MB (watchdog, 0.5 s)"
    )

    def probe(self, bwrap: str) -> str:
        try:
            for group in cgroups.make_cgroups(f"c1w3-probe-{uuid.uuid4().hex[:12]}", 64, 16):
                group.rmdir()
        except OSError as exc:
            return f"cannot create a cgroup ({exc})"
        return ""

    def make_cgroups(self, memory_mb: int, max_processes: int) -> list[Path]:
        return cgroups.make_cgroups(
            f"c1w3-sandbox-{uuid.uuid4().hex[:12]}", memory_mb, max_processes
        )


class SystemdTier(Tier):
    name = "systemd"
    guarantees = (
        "bubblewrap (no network, own PID/user namespace, user nobody, writes only the working "
        "copy) + a delegated cgroup v2 (systemd-run --user --scope): MemoryMax {memory_mb} MB, "
        "TasksMax {max_processes}, enforced by the kernel; file size {file_size_mb} MB; disk "
        "{disk_mb} MB (watchdog, 0.5 s)"
    )

    def probe(self, bwrap: str) -> str:
        if not (cgroups.CGROUP_ROOT / "cgroup.controllers").exists():
            return "no unified cgroup v2 hierarchy (systemd delegates memory limits only there)"
        if not shutil.which("systemd-run"):
            return "systemd-run is not installed"
        argv = ["systemd-run", "--user", "--scope", "--quiet", "-p", "MemoryMax=64M"]
        return _try([*argv, "-p", "TasksMax=16", "--", "true"], "systemd-run --user --scope")

    def outside(self, memory_mb: int, max_processes: int, scope: str) -> list[str]:
        return [
            "systemd-run",
            "--user",
            "--scope",
            "--quiet",
            "--collect",
            f"--unit={scope}",
            "-p",
            f"MemoryMax={memory_mb}M",
            "-p",
            "MemorySwapMax=0",
            "-p",
            f"TasksMax={max_processes}",
            "--",
        ]

    def scope_cgroups(self, pid: int | None, scope: str) -> list[Path]:
        """The scope's cgroup (v2), found by its unit name."""
        if not pid:
            return []
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            text = ""
        for line in text.splitlines():
            if line.startswith("0::") and scope in line:
                return [cgroups.CGROUP_ROOT / line[3:].lstrip("/")]
        return []


class UsernsTier(Tier):
    name = "userns"
    guarantees = (
        "bubblewrap through unprivileged user namespaces (no network, own PID/user namespace, "
        "uid nobody, writes only the working copy), no cgroup: {max_processes} "
        "processes+threads (RLIMIT_NPROC inside the sandbox's user namespace: fork fails with "
        "EAGAIN; for a root grader, which RLIMIT_NPROC does not bind, only the watchdog); "
        "memory {memory_mb} MB of process memory (proportional RSS of the sandbox's process "
        "tree, watchdog every 0.2 s: measured ~0.1 GB over the limit before the kill for a "
        "fast allocation, at worst the allocation rate x 0.2 s) plus /tmp ({disk_mb} MB) "
        "and /dev/shm ({shm_mb} MB) tmpfs; memory a process "
        "holds without mapping it (memfd, pipes) is not counted; file size {file_size_mb} MB; "
        "disk {disk_mb} MB (watchdog, 0.5 s)"
    )
    watches_memory = True

    def probe(self, bwrap: str) -> str:
        if not shutil.which(bwrap):
            return f"bubblewrap ({bwrap}) is not installed"
        argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid"]
        argv += [str(NOBODY), "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc"]
        return _try([*argv, "--dev", "/dev", "--", "true"], "bwrap --unshare-all")

    def inside(self, max_processes: int) -> list[str]:
        # RLIMIT_NPROC set here, inside the sandbox's user namespace, counts only this
        # sandbox's tasks (the kernel keeps the count per user namespace and uid); set
        # outside, it would count every process of the grading user. The kernel does not
        # apply it to uid 0 (a root grader forcing this tier): the watchdog counts too.
        return ["prlimit", f"--nproc={max_processes}", "--"]


# In the order "auto" tries them.
TIERS: dict[str, Tier] = {t.name: t for t in (CgroupTier(), SystemdTier(), UsernsTier())}


def _try(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{what}` failed ({exc})"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return f"`{what}` failed ({tail[:200]})"
    return ""
