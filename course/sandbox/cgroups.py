"""cgroup v1 / v2 helpers of the sandbox's cgroup and systemd tiers: make a sandbox's memory
and process-count cgroups, kill everything in one, tell whether the kernel's OOM killer
struck, sweep the empty ones a sandbox could not remove in time."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def own_cgroups() -> dict[str, str]:
    """controller ('' for v2) -> this process's cgroup path."""
    result = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            result[controller] = path
    return result


# A sandbox's cgroup older than this is no longer in use by any grading (one notebook runs at
# most c.SandboxedExecute.submission_seconds, 900 s by default, then the verifier).
LEFTOVER_AGE_S = 3600


def sweep_leftovers(
    parents: list[Path], max_age_s: float = LEFTOVER_AGE_S, pattern: str = "c1w3-sandbox-*"
) -> int:
    """Remove this course's empty sandbox cgroups older than `max_age_s` under `parents`: ones
    a sandbox could not remove in time (a fork bomb still dying) would otherwise pile up."""
    removed = 0
    for parent in parents:
        for group in parent.glob(pattern):
            try:
                old = time.time() - group.stat().st_mtime > max_age_s
                if old and not (group / "cgroup.procs").read_text().strip():
                    group.rmdir()
                    removed += 1
            except OSError:
                continue  # in use, or removed meanwhile by another grader
    return removed


def make_cgroups(name: str, memory_mb: int, max_processes: int) -> list[Path]:
    own = own_cgroups()
    memory = str(memory_mb * 1024 * 1024)
    if (CGROUP_ROOT / "memory").is_dir() and "memory" in own and "pids" in own:  # v1
        mem = CGROUP_ROOT / "memory" / own["memory"].lstrip("/") / name
        pids = CGROUP_ROOT / "pids" / own["pids"].lstrip("/") / name
        sweep_leftovers([mem.parent, pids.parent])
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
        sweep_leftovers([parent])
        group.mkdir()
        (group / "memory.max").write_text(memory)
        if (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
        (group / "pids.max").write_text(str(max_processes))
        return [group]
    raise OSError("no writable cgroup v1 (memory, pids) or v2 hierarchy under /sys/fs/cgroup")


def kill_cgroup(group: Path) -> None:
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


def oom_killed(group: Path) -> bool:
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
