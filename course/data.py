"""Fill the Keras cache with Fashion-MNIST offline (``make data``), or check it (``make
check-data``): the official files from Debian's ``dataset-fashion-mnist`` (installed here
when missing and allowed), else Keras's own download; every copy verified against the
digests pinned in graders/data.py.

    python -m course data seed    # copy Debian's files into the Keras cache, then verify
    python -m course data check   # verify the Keras cache; exit 1 with a fix if wrong
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from course.app import PROG, CourseCommand, launch
from graders import data

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def _install_debian_package() -> None:
    if shutil.which("apt-get") is None:
        return
    cmd = ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return
        cmd = ["sudo", "-n", *cmd]
    print(f"installing Debian package {DEBIAN_PACKAGE} ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)


def seed(target: Path | None = None, source: Path = DEBIAN_DIR) -> Path:
    """Make ``load_data()`` work offline: copy verified official files into the Keras cache."""
    target = Path(target) if target else data.keras_dataset_dir()
    try:
        return data.verify(target)
    except data.DataError:
        pass  # (re)seed below
    if not source.is_dir():
        _install_debian_package()
    if source.is_dir():
        data.verify(source)  # never copy a damaged file into the cache
        target.mkdir(parents=True, exist_ok=True)
        for name in data.OFFICIAL_FILES:
            shutil.copyfile(source / name, target / name)
        return data.verify(target)
    # No Debian package here: let Keras download (machines with internet), then verify.
    print(f"{source} not found; trying Keras's own download ...", flush=True)
    from keras.datasets import fashion_mnist

    try:
        fashion_mnist.load_data()
    except Exception as exc:  # network errors come in many types
        raise data.DataError(
            f"Fashion-MNIST is not in {target}, Debian's {DEBIAN_PACKAGE} is not installed and "
            f"the download failed ({exc}). Install it with "
            f"`sudo apt-get install {DEBIAN_PACKAGE}` and run `make data` again."
        ) from exc
    return data.verify(target)


class DataApp(CourseCommand):
    name = f"{PROG} data"
    description = (
        "Fashion-MNIST in the Keras cache: `seed` copies it from Debian's package (or "
        "downloads it) and verifies it; `check` (the default) only verifies it."
    )
    positional = ("[seed|check]",)
    takes_knobs = False
    options = {"course": None}  # the Keras cache, not a course

    def run(self) -> int:
        command = self.extra_args[0] if self.extra_args else "check"
        if command not in ("seed", "check"):
            self.fail(f"the action is seed or check, not {command!r}")
        try:
            where = seed() if command == "seed" else data.verify()
        except data.DataError as exc:
            print(f"DATA ERROR: {exc}", file=sys.stderr)
            return 1
        print(f"Fashion-MNIST OK: 4 official files verified in {where}")
        return 0


def main(argv: list[str] | None = None) -> int:
    return launch(DataApp, argv)


if __name__ == "__main__":
    sys.exit(main())
