"""The hub's side of LTI 1.3: students launch from the LMS into JupyterHub through
jupyterhub-ltiauthenticator's ``LTI13Authenticator`` (docs/lti.md). Its user name is the
nbgrader student id (``username_key``, docs/jupyterhub.md); this hook records, at each
launch, that name beside the launch's LTI user id (the id_token's ``sub``, which AGS scores
name) in the roster CSV ``make publish-lti`` reads (``c.LtiPublish.roster``).

In the hub's jupyterhub_config.py::

    from course.lti_launch import record_lti_user
    c.LTI13Authenticator.post_auth_hook = record_lti_user("/srv/course/lti_roster.csv")
    c.Authenticator.enable_auth_state = True  # optional: keeps the claims beyond the hook
"""

from __future__ import annotations

import csv
import fcntl
import os
import tempfile
from pathlib import Path

from course.lti import ROSTER_COLUMNS, read_roster


def record_lti_user(roster: str, claim: str = "sub"):
    """A JupyterHub ``Authenticator.post_auth_hook``: (hub user name, id_token[claim]) into
    `roster`. JupyterHub runs it after normalizing the name (lower case) and checking the
    allowed users, so the name recorded is the one the hub and nbgrader use."""

    def hook(authenticator, handler, authentication: dict) -> dict:
        claims = authentication.get("auth_state") or {}
        user_id = str(claims.get(claim) or "")
        if user_id:
            remember(roster, authentication["name"], user_id)
        return authentication

    return hook


def remember(roster, student: str, user_id: str) -> None:
    """Add or update one row (under a lock: launches come in parallel; the new file replaces
    the old at once, so a publish reading it never sees half a file)."""
    path = Path(roster)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = read_roster(path) if path.exists() else {}
        if rows.get(student) == user_id:
            return
        rows[student] = user_id
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows([ROSTER_COLUMNS, *sorted(rows.items())])
        os.replace(tmp, path)
