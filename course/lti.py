"""Grades back to the LMS over LTI 1.3 Assignment and Grade Services (``make publish-lti``).

Each graded student's nbgrader score (automatic plus the TA's manual points, minus the late
penalty, read from the gradebook via course.gradebook) becomes one AGS score on one line item
per assignment (found by ``resourceId``/``tag``, created when missing). The tool gets its
access token by OAuth2 client credentials with a JWT client assertion signed by its private
key (RS256, jwcrypto). Dry run by default: prints what it would send and contacts nothing.

Idempotent by comparison: before sending, the line item's results (``<lineitem>/results``)
are read; a student whose result already has the same score and comment is skipped, so a
second publish sends nothing. Settings: ``c.LtiPublish.*`` in nbgrader_config.py
(docs/lti.md), the student -> LTI user id map in a roster CSV that the hub's
:func:`course.lti_launch.record_lti_user` post-auth hook writes at each launch (or the
instructor by hand).
"""

from __future__ import annotations

import csv
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Configurable

from course.app import PROG, GradebookCommand, launch
from course.layout import COURSE_ROOT, load_config
from graders import ASSIGNMENT

SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PENDING_COMMENT = "manual grading not done yet"
ROSTER_COLUMNS = ("student_id", "lti_user_id")
TAG = "nbgrader"


class LtiError(Exception):
    """A problem that stops the whole publish (configuration, token): printed, exit 2."""


class LtiPublish(Configurable):
    """``c.LtiPublish.*``: where and as whom ``make publish-lti`` sends the grades."""

    issuer = Unicode(
        "",
        help="The LMS's LTI issuer (Canvas: https://canvas.instructure.com; "
        "Moodle: the site URL); the launch's `iss`.",
    ).tag(config=True)
    client_id = Unicode(
        "",
        help="The tool's client id on the LMS (Canvas: the developer "
        "key's id; Moodle: the tool's Client ID).",
    ).tag(config=True)
    token_url = Unicode("", help="The LMS's OAuth2 access token URL.").tag(config=True)
    lineitems_url = Unicode(
        "", help="The course's AGS line items URL (the launch's ags `lineitems` claim)."
    ).tag(config=True)
    key_file = Unicode(
        "", help="PEM private key (RSA) of the tool; the LMS holds its public key or JWKS."
    ).tag(config=True)
    key_id = Unicode("", help="`kid` of that key in the tool's JWKS ('' = none).").tag(config=True)
    roster = Unicode(
        "", help="CSV with columns student_id,lti_user_id (written by record_lti_user)."
    ).tag(config=True)
    attempts = Integer(3, help="Tries per request when the LMS fails (5xx, 429, no answer).").tag(
        config=True
    )
    retry_delay = Float(
        2.0, help="Seconds before the first retry; doubles for each further one."
    ).tag(config=True)
    http_timeout = Float(30.0, help="Seconds to wait for one LMS answer.").tag(config=True)


# ------------------------------------------------------------------------- the platform


@dataclass
class Failure(Exception):
    status: int  # 0: no answer
    detail: str

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        return f"{where}: {self.detail}"[:300]


class AgsClient:
    """The AGS calls: an access token (refreshed when it expires or the LMS refuses it) and
    bounded retries with backoff on failures worth retrying."""

    def __init__(self, settings: LtiPublish, session=None):
        import requests

        self.s = settings
        self.http = session or requests.Session()
        self.token, self.token_expires = "", 0.0

    def client_assertion(self) -> str:
        from jwcrypto import jwk, jwt

        try:
            key = jwk.JWK.from_pem(Path(self.s.key_file).read_bytes())
        except (OSError, ValueError) as error:
            raise LtiError(f"LtiPublish.key_file {self.s.key_file!r}: {error}") from error
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", **({"kid": self.s.key_id} if self.s.key_id else {})}
        claims = {
            "iss": self.s.client_id,
            "sub": self.s.client_id,
            "aud": self.s.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.JWT(header=header, claims=claims)
        token.make_signed_token(key)
        return token.serialize()

    def fetch_token(self) -> None:
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
            "scope": " ".join(SCOPES),
        }
        try:
            answer = self._retrying(
                lambda: self.http.post(self.s.token_url, data=data, timeout=self.s.http_timeout)
            )
        except Failure as failure:
            raise LtiError(
                f"the LMS refused an access token ({failure}); check LtiPublish.client_id, "
                "key_file and token_url, and that the LMS has the tool's public key"
            ) from None
        body = answer.json()
        self.token = body["access_token"]
        self.token_expires = time.monotonic() + float(body.get("expires_in", 3600)) - 30

    def request(self, method: str, url: str, headers: dict | None = None, **kwargs):
        """One AGS call; a 401 (token expired or revoked) gets one new token and one retry."""
        for renewed in (False, True):
            if not self.token or time.monotonic() >= self.token_expires:
                self.fetch_token()
            auth = {**(headers or {}), "Authorization": f"Bearer {self.token}"}
            call = partial(self.http.request, method, url, headers=auth, **kwargs)
            try:
                return self._retrying(partial(call, timeout=self.s.http_timeout))
            except Failure as failure:
                if failure.status != 401 or renewed:
                    raise
                self.token = ""
        raise AssertionError("unreachable")

    def _retrying(self, call):
        import requests

        delay = self.s.retry_delay
        for attempt in range(1, max(1, self.s.attempts) + 1):
            try:
                answer = call()
            except requests.RequestException as error:
                failure = Failure(0, f"{type(error).__name__}: {error}")
            else:
                if answer.status_code < 400:
                    return answer
                failure = Failure(answer.status_code, _reason(answer))
                if answer.status_code < 500 and answer.status_code != 429:
                    raise failure  # the LMS said no: asking again changes nothing
            if attempt < self.s.attempts:
                time.sleep(delay)
                delay *= 2
        raise failure

    def line_item(self, assignment: str, maximum: float) -> str:
        """The URL of the assignment's line item, created when the LMS has none yet."""
        found = self.request(
            "GET",
            self.s.lineitems_url,
            headers={"Accept": LINEITEMS},
            params={"resource_id": assignment, "tag": TAG},
        ).json()
        for item in found:
            if item.get("resourceId") == assignment and item.get("tag", TAG) == TAG:
                return item["id"]
        item = {"label": assignment, "scoreMaximum": maximum, "resourceId": assignment, "tag": TAG}
        made = self.request(
            "POST",
            self.s.lineitems_url,
            data=json.dumps(item),
            headers={"Content-Type": LINEITEM, "Accept": LINEITEM},
        )
        return made.json()["id"]

    def results(self, line_item: str) -> dict[str, dict]:
        """userId -> the LMS's current result, all pages (Link: rel="next")."""
        found, url = {}, _under(line_item, "results")
        while url:
            answer = self.request("GET", url, headers={"Accept": RESULTS})
            for result in answer.json():
                found[str(result.get("userId"))] = result
            url = answer.links.get("next", {}).get("url")
        return found

    def post_score(self, line_item: str, score: dict) -> None:
        self.request(
            "POST",
            _under(line_item, "scores"),
            data=json.dumps(score),
            headers={"Content-Type": SCORE},
        )


def _under(line_item: str, name: str) -> str:
    """<line item>/scores keeping its query (Moodle's line item URLs have one)."""
    parts = urlsplit(line_item)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + name))


def _reason(answer) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip()[:200] or answer.reason
    if isinstance(body, dict):
        parts = [body.get(k) for k in ("error", "error_description", "message", "errors")]
        return "; ".join(str(p) for p in parts if p) or json.dumps(body)[:200]
    return json.dumps(body)[:200]


# ----------------------------------------------------------------------------- grades


@dataclass(frozen=True)
class Grade:
    student: str
    score: float  # nbgrader's score minus its late penalty
    maximum: float
    pending_manual: bool


def read_grades(course_root, assignment: str = ASSIGNMENT, db_url: str | None = None):
    from course.gradebook import final_score, open_gradebook

    with open_gradebook(Path(course_root), db_url) as gb:
        maximum = float(gb.find_assignment(assignment).max_score or 0)
        return [
            Grade(
                s.student.id,
                final_score(s),
                maximum,
                bool(s.needs_manual_grade),
            )
            for s in sorted(gb.assignment_submissions(assignment), key=lambda s: s.student.id)
        ]


def read_roster(path) -> dict[str, str]:
    if not path:
        raise LtiError("LtiPublish.roster: give the CSV mapping student_id to lti_user_id")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as error:
        raise LtiError(f"LtiPublish.roster {path}: {error.strerror}") from None
    if rows and not set(ROSTER_COLUMNS) <= set(rows[0]):
        raise LtiError(f"roster {path}: needs columns {ROSTER_COLUMNS}, has {list(rows[0])}")
    return {r["student_id"].strip(): r["lti_user_id"].strip() for r in rows if r["student_id"]}


def score_json(grade: Grade, user_id: str) -> dict:
    score = {
        "userId": user_id,
        "scoreGiven": round(grade.score, 6),
        "scoreMaximum": grade.maximum,
        "activityProgress": "Completed",
        "gradingProgress": "PendingManual" if grade.pending_manual else "FullyGraded",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if grade.pending_manual:
        score["comment"] = PENDING_COMMENT
    return score


def unchanged(result: dict | None, score: dict) -> bool:
    """The LMS's result already says this: same fraction of the maximum, same comment."""
    if not result or result.get("resultScore") is None:
        return False
    maximum = float(result.get("resultMaximum") or 1)
    given = score["scoreGiven"] / (score["scoreMaximum"] or 1)
    same = abs(float(result["resultScore"]) / maximum - given)
    return same < 1e-6 and (result.get("comment") or "") == score.get("comment", "")


# ---------------------------------------------------------------------------- publish


@dataclass
class Report:
    sent: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # student -> reason
    failed: dict[str, str] = field(default_factory=dict)  # student -> cause
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def format(self) -> str:
        counts = (
            f"{len(self.sent)} sent, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed"
        )
        return "\n".join([*self.lines, counts])


def publish(
    course_root=COURSE_ROOT,
    *,
    send: bool = False,
    include_pending: bool = False,
    assignment: str = ASSIGNMENT,
    db_url: str | None = None,
    config=None,
    session=None,
) -> Report:
    """The gradebook's scores -> the LMS (send=True), or what would be sent (dry run)."""
    settings = LtiPublish(config=config if config is not None else load_config(course_root))
    roster = read_roster(settings.roster)
    grades = read_grades(course_root, assignment, db_url)
    report = Report()
    report.say(f"{assignment} -> {settings.issuer or settings.lineitems_url or 'the LMS'}")
    if not grades:
        report.say(f"no submission of {assignment} in the gradebook")
        return report
    if send:
        missing = [
            n
            for n in ("client_id", "token_url", "lineitems_url", "key_file")
            if not getattr(settings, n)
        ]
        if missing:
            raise LtiError("set " + ", ".join(f"c.LtiPublish.{n}" for n in missing))
        client = AgsClient(settings, session)
        try:
            line_item = client.line_item(assignment, grades[0].maximum)
            current = client.results(line_item)
        except Failure as failure:
            raise LtiError(f"the line item of {assignment}: {failure}") from None
    for grade in grades:
        student = grade.student
        if grade.pending_manual and not include_pending:
            report.skipped[student] = (
                "manual grading not done (a manually graded cell has no "
                "score); --include-pending sends it as PendingManual"
            )
            report.say(f"{student}: skipped: {report.skipped[student]}")
            continue
        if student not in roster:
            report.failed[student] = f"no lti_user_id in the roster {settings.roster}"
            report.say(f"{student}: FAILED: {report.failed[student]}")
            continue
        score = score_json(grade, roster[student])
        shown = (
            f"{_fmt(grade.score)}/{_fmt(grade.maximum)} {score['gradingProgress']} "
            f"as LTI user {roster[student]}"
        )
        if not send:
            report.say(f"{student}: would send {shown}: {json.dumps(score)}")
            continue
        if unchanged(current.get(roster[student]), score):
            report.unchanged.append(student)
            report.say(f"{student}: unchanged ({shown} already on the LMS)")
            continue
        try:
            client.post_score(line_item, score)
        except (Failure, LtiError) as failure:
            status = getattr(failure, "status", 0)
            known = " (is the user in the course?)" if status in (400, 404, 422) else ""
            report.failed[student] = f"LTI user {roster[student]}: {failure}{known}"
            report.say(f"{student}: FAILED: {report.failed[student]}")
            continue
        report.sent.append(student)
        report.say(f"{student}: sent {shown}")
    if not send:
        report.say("dry run: nothing sent; --send publishes")
    return report


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------- CLI


class PublishApp(GradebookCommand):
    name = f"{PROG} publish-lti"
    description = (
        "Gradebook -> the LMS over LTI 1.3 AGS (c.LtiPublish.*, docs/lti.md). Dry run unless "
        "--send."
    )
    send = Bool(False, help="Publish (default: dry run).").tag(config=True)
    include_pending = Bool(
        False,
        help="Also send students whose manual grading is not done, as PendingManual.",
    ).tag(config=True)
    assignment = Unicode(ASSIGNMENT, help="The assignment.").tag(config=True)
    options = {"assignment": "assignment"}
    switches = {"send": "send", "include-pending": "include_pending"}

    def run(self) -> int:
        grading = self.grading(self.assignment, self.db_url)
        try:
            report = publish(
                self.course,
                send=self.send,
                include_pending=self.include_pending,
                assignment=self.assignment,
                db_url=self.db_url or None,
                config=grading.config,  # c.LtiPublish.* from the command line over the file
            )
        except LtiError as error:
            print(f"error: {error}; nothing sent", file=sys.stderr)
            return 2
        print(report.format())
        return 1 if report.failed else 0


def main(argv=None) -> int:
    return launch(PublishApp, argv)


if __name__ == "__main__":
    sys.exit(main())
