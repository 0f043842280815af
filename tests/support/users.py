"""The unprivileged grading user: created when missing, commands run as them."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from course.layout import COURSE_ROOT
from graders import data

ROOT = os.geteuid() == 0


PLAIN_USER = os.environ.get("C1W3_PLAIN_USER", "c1w3grader")


def plain_user() -> pwd.struct_passwd:
    """The unprivileged grading user (created if missing and we are root), with a seeded
    Keras data folder of their own (root's ~/.keras is not readable to them)."""
    try:
        user = pwd.getpwnam(PLAIN_USER)
    except KeyError:
        if not ROOT:
            pytest.skip(f"no user {PLAIN_USER!r} to grade as, and not root to create one")
        subprocess.run(["useradd", "-m", PLAIN_USER], check=True)
        user = pwd.getpwnam(PLAIN_USER)
    if not ROOT:
        pytest.skip(f"running as a plain user already; runuser {PLAIN_USER!r} needs root")
    target = Path(user.pw_dir) / ".keras" / "datasets" / "fashion-mnist"
    try:
        data.verify(target)
    except data.DataError:
        shutil.copytree(data.keras_dataset_dir(), target, dirs_exist_ok=True)
        data.verify(target)
    chown(Path(user.pw_dir) / ".keras", user)
    return user


def chown(path: Path, user: pwd.struct_passwd) -> None:
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(path)], check=True)


def user_dir(user: pwd.struct_passwd, prefix: str = "c1w3-plain-") -> Path:
    """A fresh folder the plain user owns, where they can reach it (not under root's 0700
    pytest folders)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    chown(path, user)
    return path


def _hidden_parents() -> dict[Path, set[Path]]:
    """Folders on the way to this Python or the course that others cannot traverse (here:
    the venv's base interpreter is under /root/.pyenv, and /root is 0700) -> the children
    to show through them."""
    hidden: dict[Path, set[Path]] = {}
    for target in (Path(sys.prefix), Path(sys.base_prefix), COURSE_ROOT):
        chain = [*reversed(target.resolve().parents), target.resolve()]
        for parent, child in zip(chain, chain[1:], strict=False):
            if not parent.stat().st_mode & 0o001:
                hidden.setdefault(parent, set()).add(child)
                break
    return hidden


def as_plain_user(argv: list[str], user: pwd.struct_passwd, **env: str) -> list[str]:
    """argv run as `user` with a clean environment. Where a folder on the way to the venv's
    Python is closed to other users, the command runs in a private mount namespace in which
    that folder is an empty tmpfs showing only the needed child (nothing on the host is
    chmod-ed)."""
    env = {
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "KERAS_HOME": f"{user.pw_dir}/.keras",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "LANG": "C.UTF-8",
        **env,
    }
    command = ["runuser", "-u", user.pw_name, "--", "env", "-i"]
    command += [f"{k}={v}" for k, v in env.items()] + list(argv)
    hidden = _hidden_parents()
    if not hidden:
        return command
    steps = []
    for i, (parent, children) in enumerate(sorted(hidden.items())):
        for j, child in enumerate(sorted(children)):
            steps.append(f'mkdir -p "$stash/{i}_{j}" && mount --bind "{child}" "$stash/{i}_{j}"')
        steps.append(f'mount -t tmpfs -o mode=755 c1w3-hidden "{parent}"')
        for j, child in enumerate(sorted(children)):
            steps.append(f'mkdir -p "{child}" && mount --bind "$stash/{i}_{j}" "{child}"')
    script = "stash=$(mktemp -d) && " + " && ".join(steps) + ' && exec "$@"'
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        "sh",
    ] + command
