"""The sandbox's command line, built from plain values: what is mounted where, which
variables get in, which limits wrap the process. Nothing here reads the machine or starts a
process, so every wall of the sandbox is unit-tested from its argv alone
(tests/test_sandbox_argv.py); course.sandbox gathers the values and runs the result.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path

NOBODY = 65534
# Environment variables a sandboxed process may inherit; everything else (database URLs and
# passwords, PYTHONPATH, the instructor's HOME) stays outside. What the grading itself tells
# the process comes as `given` (course.nbgrader_plugins.grader_variables).
ENV_PREFIXES = ("TF_", "OMP_", "MKL_", "NBGRADER_", "LANG", "LC_")
ENV_NAMES = ("TZ",)
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
SHM_MB = 64  # /dev/shm: multiprocessing's semaphores need a little; nothing needs more
# Keras reads $KERAS_HOME/datasets/fashion-mnist and writes keras.json beside it.
KERAS_HOME = "/tmp/keras"
DATASET_MOUNT = f"{KERAS_HOME}/datasets/fashion-mnist"


def environment(
    given: Mapping[str, str] | None, host: Mapping[str, str], python_bin: Path
) -> dict[str, str]:
    """The sandbox's whole environment: a private HOME and temp folder, `given` on top, and
    from the host only the variables named by ENV_PREFIXES / ENV_NAMES."""
    env = {
        "HOME": "/tmp/home",
        "TMPDIR": "/tmp",
        "KERAS_HOME": KERAS_HOME,
        "MPLCONFIGDIR": "/tmp/home/.matplotlib",
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(given or {})
    for key, value in host.items():
        if key.startswith(ENV_PREFIXES) or key in ENV_NAMES:
            env.setdefault(key, value)
    return env


def bwrap(
    argv: list[str],
    *,
    bwrap: str,
    cwd: Path,
    root_links: Iterable[tuple[str, str]],
    readable: Iterable[Path],
    dataset: Path,
    writable: Iterable[Path] = (),
    cwd_writable: bool = True,
    env: Mapping[str, str],
    tmp_mb: int,
    inside: list[str] = (),
) -> list[str]:
    """bubblewrap's argv for `argv` run in `cwd` (absolute): new namespaces, uid nobody, no
    capabilities, a read-only view of /usr, a few /etc files and `readable`; writes only to
    `cwd` (unless not `cwd_writable`), `writable` and small tmpfs /tmp and /dev/shm.

    `root_links`: ("symlink", target) or ("ro-bind", "") per /bin, /lib, /lib64, /sbin that
    exists on the host (course.sandbox.root_links). `inside`: a prefix run inside the
    sandbox before `argv` (the userns tier's `prlimit --nproc`)."""
    args = [
        bwrap,
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
    for path, (how, target) in root_links:
        args += ["--symlink", target, path] if how == "symlink" else ["--ro-bind", path, path]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # bwrap's /dev is a writable tmpfs without a size: only /dev/shm stays writable, small.
    args += ["--size", str(SHM_MB * 2**20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    args += ["--size", str(tmp_mb * 2**20), "--tmpfs", "/tmp", "--dir", "/tmp/home"]
    # Parents before children: a later bind of a parent would hide the child's.
    for path in sorted(set(map(Path, readable)), key=lambda p: (len(p.parts), str(p))):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", str(dataset), DATASET_MOUNT]
    args += ["--bind" if cwd_writable else "--ro-bind", str(cwd), str(cwd)]
    for path in map(Path, writable):
        args += ["--bind", str(path), str(path)]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    # Nothing else is writable, not even the folders bwrap made for the mount points.
    args += ["--remount-ro", "/", "--chdir", str(cwd), "--"]
    return [*args, *inside, *argv]


def rlimits(file_size_mb: int) -> list[str]:
    """Limits every tier sets on the sandbox from outside: file size, no core dumps, files."""
    return ["prlimit", f"--fsize={file_size_mb * 2**20}", "--core=0", "--nofile=1024", "--"]


def launch(
    sandboxed: list[str], *, file_size_mb: int, outside: list[str] = (), cgroups=()
) -> list[str]:
    """The full command: a shell that joins `cgroups` (their cgroup.procs) before anything
    else starts, then becomes `outside` (the systemd tier's scope) + rlimits + `sandboxed`."""
    procs = [shlex.quote(str(Path(group) / "cgroup.procs")) for group in cgroups]
    join = " && ".join(f"echo $$ > {path}" for path in procs)
    limits = [*outside, *rlimits(file_size_mb)]
    return ["/bin/sh", "-c", f'{join or ":"} && exec "$@"', "c1w3-sandbox", *limits, *sandboxed]
