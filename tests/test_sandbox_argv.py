"""The sandbox's walls read from its command line alone (course/sandbox/argv.py, tiers.py):
no bubblewrap, cgroup or other user needed. tests/test_sandbox.py checks the same walls from
inside real sandboxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from course.sandbox import argv as bw
from course.sandbox.tiers import TIERS

CWD = Path("/course/autograded/ada/c1w3")
VENV = Path("/opt/venv")


def build(**overrides) -> list[str]:
    values = dict(
        bwrap="bwrap",
        cwd=CWD,
        root_links=[("/bin", ("symlink", "usr/bin")), ("/lib64", ("ro-bind", ""))],
        readable=[VENV / "lib/python3.11/site-packages/graders", VENV, Path("/usr/lib/python3")],
        dataset=Path("/root/.keras/datasets/fashion-mnist"),
        env={"HOME": "/tmp/home"},
        tmp_mb=1024,
    )
    values.update(overrides)
    return bw.bwrap(["python", "-I", "-m", "graders.verify"], **values)


def options(args: list[str]) -> list[str]:
    """bubblewrap's own options: everything before the `--` that ends them."""
    return args[: args.index("--")]


def binds(args: list[str], kind: str) -> list[str]:
    return [args[i + 2] for i, a in enumerate(options(args)) if a == kind]


def test_new_namespaces_user_nobody_no_capabilities_no_inherited_environment():
    args = options(build())
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--clearenv"):
        assert flag in args
    assert args[args.index("--uid") + 1] == args[args.index("--gid") + 1] == str(bw.NOBODY)
    assert args[args.index("--cap-drop") + 1] == "ALL"


def test_only_the_working_copy_and_the_named_folders_are_writable():
    out = Path("/course/autograded/ada/c1w3/_grading")
    args = build(writable=[out])
    assert binds(args, "--bind") == [str(CWD), str(out)]
    assert str(CWD) not in binds(build(cwd_writable=False), "--bind")
    assert str(CWD) in binds(build(cwd_writable=False), "--ro-bind")
    # After every mount, the root is made read-only; then the working folder and the command.
    tail = options(args)[-4:]
    assert tail == ["--remount-ro", "/", "--chdir", str(CWD)]


def test_readable_folders_are_bound_read_only_parents_first():
    args = build()
    ro = binds(args, "--ro-bind")
    venv, graders = (
        ro.index(str(VENV)),
        ro.index(str(VENV / "lib/python3.11/site-packages/graders")),
    )
    assert venv < graders  # a parent bound after its child would hide the child's bind
    assert "/course" not in ro and "/course/source" not in ro  # nothing of the course
    dataset = options(args).index("/root/.keras/datasets/fashion-mnist")
    assert options(args)[dataset + 1] == bw.DATASET_MOUNT


def test_tmp_and_shm_are_size_limited_and_dev_is_read_only():
    args = options(build(tmp_mb=7))
    sizes = {args[i + 3]: int(args[i + 1]) for i, a in enumerate(args) if a == "--size"}
    assert sizes == {"/tmp": 7 * 2**20, "/dev/shm": bw.SHM_MB * 2**20}
    assert args[args.index("/dev/shm") + 1 : args.index("/dev/shm") + 3] == ["--remount-ro", "/dev"]


def test_host_root_links_are_recreated_as_they_are():
    args = build()
    at = options(args).index("--symlink")
    assert options(args)[at : at + 3] == ["--symlink", "usr/bin", "/bin"]
    assert "/lib64" in binds(args, "--ro-bind")


def test_secrets_stay_outside_and_the_grading_variables_get_in():
    host = {
        "PGPASSWORD": "s3cret",
        "C1W3_DB_URL": "postgresql://u:p@h/db",
        "HOME": "/root",
        "PYTHONPATH": "/root/evil",
        "TF_NUM_INTRAOP_THREADS": "2",
        "NBGRADER_EXECUTION": "autograde",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    env = bw.environment({"C1W3_PUBLIC_CHECKS": "/c/checks.py"}, host, VENV / "bin")
    assert env["HOME"] == "/tmp/home" and env["PATH"].startswith(f"{VENV}/bin:")
    for name in ("PGPASSWORD", "C1W3_DB_URL", "PYTHONPATH"):
        assert name not in env
    for name in ("TF_NUM_INTRAOP_THREADS", "NBGRADER_EXECUTION", "LANG", "TZ"):
        assert env[name] == host[name]
    assert env["C1W3_PUBLIC_CHECKS"] == "/c/checks.py"
    args = build(env=env)
    pairs = {args[i + 1]: args[i + 2] for i, a in enumerate(options(args)) if a == "--setenv"}
    assert pairs == env
    # What the grading names wins over a host variable of the same name.
    assert bw.environment({"TZ": "X"}, {"TZ": "UTC"}, VENV)["TZ"] == "X"


def test_each_tier_wraps_the_sandbox_its_own_way():
    cgroup, systemd, userns = TIERS["cgroup"], TIERS["systemd"], TIERS["userns"]
    # userns: the process cap is set inside the sandbox's user namespace, around the argv only
    args = build(inside=userns.inside(99))
    assert args[args.index("--") + 1 :][:3] == ["prlimit", "--nproc=99", "--"]
    assert args[-4:] == ["--", "python", "-I", "-m", "graders.verify"][-4:]
    assert cgroup.inside(99) == systemd.inside(99) == []
    assert userns.watches_memory and not cgroup.watches_memory and not systemd.watches_memory
    # systemd: a scope with the limits, outside everything else
    outside = systemd.outside(3072, 99, "c1w3-sandbox-x")
    cmd = bw.launch(args, file_size_mb=5, outside=outside)
    assert cmd[:2] == ["/bin/sh", "-c"] and cmd[2] == ': && exec "$@"'
    rest = cmd[4:]
    assert rest[: len(outside)] == outside and "MemoryMax=3072M" in outside
    assert "TasksMax=99" in outside and "--unit=c1w3-sandbox-x" in outside
    assert rest[len(outside) :][:5] == [
        "prlimit",
        f"--fsize={5 * 2**20}",
        "--core=0",
        "--nofile=1024",
        "--",
    ]
    assert cgroup.outside(3072, 99, "s") == userns.outside(3072, 99, "s") == []
    # cgroup: the shell joins the cgroups before it becomes anything else
    joined = bw.launch(args, file_size_mb=5, cgroups=[Path("/sys/fs/cgroup/a b")])
    assert joined[2] == "echo $$ > '/sys/fs/cgroup/a b/cgroup.procs' && exec \"$@\""
    assert joined[4:9] == bw.rlimits(5) and joined[9:] == args


@pytest.mark.parametrize("name", sorted(TIERS))
def test_every_tier_states_its_guarantees_from_the_limits(name):
    text = TIERS[name].guarantees.format(
        memory_mb=111, max_processes=222, file_size_mb=333, disk_mb=444, shm_mb=bw.SHM_MB
    )
    assert "111" in text and "222" in text and "333" in text and "444" in text
