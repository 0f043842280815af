"""Servers the tests start on loopback: a free port, waiting until a server answers, and a
JupyterHub from this venv (the settings every test hub shares, its start and its stop).
Used by test_browser (JupyterLab), test_hub (two users) and test_lti_hub (an LTI launch)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

BIN = Path(sys.executable).parent

# Formatted with port, hub_port, api_port, proxy and folder; each test adds its own lines.
HUB_BASE_CONFIG = """\
c = get_config()
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"  # the proxy's public address
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]  # the Python port (pip), not node's
c.ConfigurableHTTPProxy.pid_file = {folder!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {folder!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {folder!r} + "/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = {folder!r} + "/jupyterhub.pid"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_ports(folder: Path) -> dict:
    """The base config's values: three free ports, this venv's proxy, the state folder."""
    return {
        "port": free_port(),
        "hub_port": free_port(),
        "api_port": free_port(),
        "proxy": str(BIN / "configurable-http-proxy"),
        "folder": str(folder),
    }


def stop(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM (a server shuts its kernels down, then exits); its process group killed if it
    has not exited after `grace_s`."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def wait_until_served(proc, url: str, what: str, limit_s: float, log_tail) -> None:
    """Poll `url` until the server started as `proc` answers 200; fail with its log's tail
    if it exits first or has not answered within `limit_s` (a ceiling, not an expectation)."""
    deadline = time.monotonic() + limit_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}):\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer in {limit_s:g} s:\n{log_tail()}")
        try:  # between two polls, wait on the server exiting (checked above)
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass


@contextmanager
def jupyterhub(folder: Path, config: str, url: str, env: dict, limit_s: float) -> Iterator[Path]:
    """`jupyterhub` from this venv with `config` as its config file, state and log
    (yielded) in `folder`, until it answers at `url` through its proxy; at exit SIGTERM: the
    hub stops the users' servers and the proxy itself (any of its processes still there
    after that are killed, by pid)."""
    path, log = folder / "jupyterhub_config.py", folder / "jupyterhub.log"
    path.write_text(config)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(path)],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        tail = lambda: log.read_text(errors="replace")[-4000:]  # noqa: E731
        wait_until_served(proc, f"{url}/hub/api", "jupyterhub", limit_s, tail)
        yield log
    finally:
        try:
            started = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            started = []
        stop(proc, grace_s=60)
        for child in started:  # the proxy, the users' servers (each in its own session)
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
