"""Grades to the LMS over LTI 1.3 AGS (course/lti.py), against the loopback platform of
tests/lti_platform.py (real HTTP on 127.0.0.1, real RS256 signatures checked by the platform),
from a real nbgrader gradebook (SQLite in tmp_path, written through nbgrader.api). The launch:
jupyterhub-ltiauthenticator's own validator and authenticator on an id_token the platform
signed, its key fetched from the platform's JWKS URL. No hub, no browser, no retry waits
(c.LtiPublish.retry_delay = 0)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from traitlets.config import Config

from course import gradebook, lti, lti_launch
from graders import ASSIGNMENT
from tests.lti_platform import Platform, Serving, new_key

# nbgrader's own Gradebook.add_submission trips SQLAlchemy 2's autoflush warnings.
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
USERS = {"ada": "lti-7f3a", "bob": "lti-91c2", "cy": "lti-c0de"}
# auto (of 90), manual (of 10; None = the TA has not graded it), late penalty
CLASS = {"ada": (80.0, 9.0, 0.0), "bob": (70.0, 6.0, 5.0), "cy": (60.0, None, 0.0)}
SCORES = {"ada": 89.0, "bob": 71.0}  # what the LMS must get: auto + manual - penalty


def make_gradebook(course: Path, students: dict[str, tuple]) -> None:
    """The assignment's two graded cells (90 automatic points, 10 manual) and the class."""
    with gradebook.open_gradebook(course, f"sqlite:///{course}/gradebook.db") as gb:
        gb.add_assignment(ASSIGNMENT, duedate="2025-10-15 23:59:00")
        gb.add_notebook(ASSIGNMENT, ASSIGNMENT)
        gb.add_grade_cell("auto", ASSIGNMENT, ASSIGNMENT, max_score=90, cell_type="code")
        gb.add_grade_cell(
            "explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, max_score=10, cell_type="markdown"
        )
        for student, (auto, manual, penalty) in students.items():
            gb.update_or_create_student(student)
            gb.add_submission(ASSIGNMENT, student, timestamp="2025-10-15 20:00:00")
            grade = gb.find_grade("auto", ASSIGNMENT, ASSIGNMENT, student)
            grade.auto_score, grade.needs_manual_grade = auto, False
            grade = gb.find_grade("explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, student)
            grade.manual_score, grade.needs_manual_grade = manual, manual is None
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            nb.late_submission_penalty = penalty
            gb.db.commit()


@pytest.fixture(scope="module")
def class_gradebook(tmp_path_factory) -> Path:
    """Made once (a new gradebook runs `alembic`, seconds); each test copies it."""
    folder = tmp_path_factory.mktemp("lti_gradebook")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        mp.delenv(gradebook.ENV, raising=False)
        make_gradebook(folder, CLASS)
    return folder / "gradebook.db"


@pytest.fixture(scope="module")
def tool_key():
    return new_key("tool-1")


@pytest.fixture
def course(tmp_path, class_gradebook, monkeypatch) -> Path:
    monkeypatch.delenv(gradebook.ENV, raising=False)
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(class_gradebook, root / "gradebook.db")
    with open(root / "lti_roster.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([lti.ROSTER_COLUMNS, *USERS.items()])
    return root


@pytest.fixture
def platform(tool_key):
    with Serving(Platform(tool_key=tool_key, members={USERS["ada"], USERS["bob"]})) as p:
        yield p


def settings(course: Path, platform: Platform, key) -> Config:
    key_file = course / "tool_key.pem"
    key_file.write_bytes(key.export_to_pem(private_key=True, password=None))
    config = Config()
    config.LtiPublish.update(
        issuer=platform.issuer,
        client_id=platform.client_id,
        token_url=platform.token_url,
        lineitems_url=platform.lineitems_url,
        key_file=str(key_file),
        key_id=key["kid"],
        roster=str(course / "lti_roster.csv"),
        retry_delay=0.0,
    )
    return config


def send(course, platform, key, **options) -> lti.Report:
    return lti.publish(course, send=True, config=settings(course, platform, key), **options)


def given(platform: Platform) -> dict[str, float]:
    return {user: s["scoreGiven"] for user, s in platform.latest().items()}


# ------------------------------------------------------------------------------ publish


def test_publish_sends_each_finished_students_score(course, platform, tool_key):
    report = send(course, platform, tool_key)
    assert report.sent == ["ada", "bob"] and not report.failed
    assert given(platform) == {USERS[s]: SCORES[s] for s in SCORES}
    score = platform.latest()[USERS["ada"]]
    assert score["scoreMaximum"] == 100.0
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert score["timestamp"].endswith("+00:00")
    (item,) = platform.line_items
    assert (item["resourceId"], item["tag"], item["scoreMaximum"]) == (ASSIGNMENT, "nbgrader", 100)


def test_the_dry_run_sends_nothing(course, platform, tool_key):
    report = lti.publish(course, config=settings(course, platform, tool_key))
    assert platform.requests == []
    assert "ada: would send 89/100 FullyGraded as LTI user lti-7f3a" in report.format()
    assert "dry run: nothing sent" in report.format()


def test_publishing_twice_changes_nothing(course, platform, tool_key):
    send(course, platform, tool_key)
    before = [r for r in platform.sent()]
    again = send(course, platform, tool_key)
    assert again.sent == [] and again.unchanged == ["ada", "bob"]
    assert platform.sent() == before  # no new line item, no new score
    assert len(platform.line_items) == 1


def test_a_changed_grade_is_sent_again(course, platform, tool_key):
    send(course, platform, tool_key)
    with gradebook.open_gradebook(course) as gb:
        gb.find_grade("explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, "bob").manual_score = 10
        gb.db.commit()
    again = send(course, platform, tool_key)
    assert again.sent == ["bob"] and again.unchanged == ["ada"]
    assert given(platform)[USERS["bob"]] == 75.0


def test_a_wrong_key_is_refused_and_nothing_is_sent(course, platform):
    with pytest.raises(lti.LtiError, match="refused an access token.*signature does not match"):
        send(course, platform, new_key("not-registered"))
    assert platform.sent() == [] and platform.scores == {}


def test_an_expired_token_is_renewed_and_the_request_retried(course, platform, tool_key):
    platform.revoke_after = 2  # each token works for two requests, then 401 as if expired
    report = send(course, platform, tool_key)
    assert report.sent == ["ada", "bob"] and not report.failed
    assert given(platform) == {USERS[s]: SCORES[s] for s in SCORES}
    assert platform.token_requests == 3  # first, and one renewal per score


def test_a_token_the_lms_keeps_refusing_stops_with_a_message(course, platform, tool_key):
    platform.token_seconds = 0  # expired as soon as issued: 401, renewed once, 401 again
    with pytest.raises(lti.LtiError, match="HTTP 401: invalid_token"):
        send(course, platform, tool_key)
    assert platform.sent() == []


def test_a_failing_student_is_retried_reported_and_the_others_sent(course, platform, tool_key):
    platform.fail_scores[USERS["ada"]] = 5  # more than the 3 attempts
    report = send(course, platform, tool_key)
    assert report.sent == ["bob"] and list(report.failed) == ["ada"]
    assert "HTTP 500" in report.failed["ada"] and USERS["ada"] in report.failed["ada"]
    assert platform.fail_scores[USERS["ada"]] == 2  # tried 3 times
    assert given(platform) == {USERS["bob"]: 71.0}
    assert "ada: FAILED: LTI user lti-7f3a: HTTP 500" in report.format()


def test_a_passing_glitch_is_retried_away(course, platform, tool_key):
    platform.fail_scores[USERS["bob"]] = 2
    report = send(course, platform, tool_key)
    assert report.sent == ["ada", "bob"] and not report.failed


def test_a_user_the_lms_does_not_know_is_reported_and_the_others_sent(course, platform, tool_key):
    platform.members.discard(USERS["ada"])
    report = send(course, platform, tool_key)
    assert report.sent == ["bob"]
    assert report.failed["ada"] == (
        "LTI user lti-7f3a: HTTP 422: {'type': 'user', 'message': 'User not found in course'}"
        " (is the user in the course?)"
    )
    assert platform.fail_scores == {}  # a 4xx is not retried: it would say no again


def test_a_student_missing_from_the_roster_is_reported(course, platform, tool_key):
    (course / "lti_roster.csv").write_text(f"student_id,lti_user_id\nbob,{USERS['bob']}\n")
    report = send(course, platform, tool_key)
    assert report.sent == ["bob"]
    assert report.failed == {"ada": f"no lti_user_id in the roster {course / 'lti_roster.csv'}"}


def test_unfinished_manual_grading_is_skipped_with_the_reason(course, platform, tool_key):
    report = send(course, platform, tool_key)
    assert list(report.skipped) == ["cy"] and "manual grading not done" in report.skipped["cy"]
    assert USERS["cy"] not in given(platform)


def test_include_pending_sends_it_as_pending_manual(course, platform, tool_key):
    platform.members.add(USERS["cy"])
    report = send(course, platform, tool_key, include_pending=True)
    assert report.sent == ["ada", "bob", "cy"]
    score = platform.latest()[USERS["cy"]]
    assert (score["scoreGiven"], score["gradingProgress"]) == (60.0, "PendingManual")
    assert send(course, platform, tool_key, include_pending=True).sent == []
    # the TA grades it, worth 0 points: same value, but now FullyGraded -> sent
    with gradebook.open_gradebook(course) as gb:
        grade = gb.find_grade("explain_accuracy_gain", ASSIGNMENT, ASSIGNMENT, "cy")
        grade.manual_score, grade.needs_manual_grade = 0.0, False
        gb.db.commit()
    assert send(course, platform, tool_key).sent == ["cy"]
    assert platform.latest()[USERS["cy"]]["gradingProgress"] == "FullyGraded"


def test_the_command_reads_the_course_config_and_fails_on_a_failure(
    course, platform, tool_key, capsys
):
    config = settings(course, platform, tool_key).LtiPublish
    lines = ["c = get_config()"] + [f"c.LtiPublish.{k} = {v!r}" for k, v in config.items()]
    (course / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    assert lti.main(["--course", str(course)]) == 0
    assert platform.requests == [] and "would send" in capsys.readouterr().out
    platform.members.discard(USERS["bob"])
    assert lti.main(["--course", str(course), "--send"]) == 1
    out = capsys.readouterr().out
    assert "bob: FAILED: LTI user lti-91c2: HTTP 422" in out
    assert "1 sent, 0 unchanged, 1 skipped, 1 failed" in out


def test_missing_settings_are_named(course, capsys):
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.LtiPublish.roster = {str(course / 'lti_roster.csv')!r}\n"
    )
    assert lti.main(["--course", str(course), "--send"]) == 2
    err = capsys.readouterr().err
    assert "set c.LtiPublish.client_id, c.LtiPublish.token_url" in err
    assert "nothing sent" in err


@pytest.mark.parametrize(
    "claims, refusal",
    [
        ({"exp": 1}, "Expired"),
        ({"aud": "https://elsewhere/token"}, "aud is not the token URL"),
        ({"iss": "another-tool"}, "iss/sub != client_id"),
    ],
)
def test_the_platform_checks_the_client_assertion(course, platform, tool_key, claims, refusal):
    """The loopback platform is only a test of the tool if it refuses what an LMS refuses."""
    import requests
    from jwcrypto import jwt

    good = {"iss": platform.client_id, "sub": platform.client_id, "aud": platform.token_url}
    token = jwt.JWT(header={"alg": "RS256"}, claims={**good, "exp": 2**40, **claims})
    token.make_signed_token(tool_key)
    form = {"grant_type": "client_credentials", "client_assertion": token.serialize()}
    answer = requests.post(platform.token_url, data=form, timeout=30)
    assert answer.status_code == 401 and refusal in answer.json()["error_description"]
    config = settings(course, platform, tool_key)
    form["client_assertion"] = lti.AgsClient(lti.LtiPublish(config=config)).client_assertion()
    assert requests.post(platform.token_url, data=form, timeout=30).status_code == 200


# ------------------------------------------------------------------------------ launch


def launch(platform: Platform, token: str, roster: Path) -> dict:
    """What the hub does with a launch's id_token once the OIDC redirects are done:
    LTI13CallbackHandler's validation, then Authenticator.get_authenticated_user (user name
    from the claims, normalization, allowed users, post_auth_hook)."""
    from ltiauthenticator.lti13.auth import LTI13Authenticator
    from ltiauthenticator.lti13.validator import LTI13LaunchValidator

    authenticator = LTI13Authenticator(
        issuer=platform.issuer,
        client_id={platform.client_id},
        jwks_endpoint=platform.jwks_url,
        username_key="custom_student_id",
        allow_all=True,
        post_auth_hook=lti_launch.record_lti_user(str(roster)),
    )
    validator = LTI13LaunchValidator()
    claims = validator.verify_and_decode_jwt(
        token,
        issuer=authenticator.issuer,
        audience=authenticator.client_id,
        jwks_endpoint=authenticator.jwks_endpoint,
        jwks_algorithms=authenticator.jwks_algorithms,
    )
    validator.validate_id_token(claims)
    validator.validate_azp_claim(claims, authenticator.client_id)
    return asyncio.run(authenticator.get_authenticated_user(None, claims))


def test_a_launch_logs_in_as_the_student_id_and_records_the_lti_user(platform, tmp_path):
    roster = tmp_path / "lti_roster.csv"
    token = platform.id_token(USERS["ada"], "n-1", **{CUSTOM: {"student_id": "ada"}})
    user = launch(platform, token, roster)
    assert user["name"] == "ada"
    assert platform.requests == [("GET", "/jwks")]
    launch(platform, platform.id_token(USERS["bob"], "n-2", **{CUSTOM: {"student_id": "Bob"}}),
           roster)  # fmt: skip
    assert lti.read_roster(roster) == {"ada": USERS["ada"], "bob": USERS["bob"]}


def test_a_launch_signed_by_another_key_is_refused(platform, tmp_path):
    from ltiauthenticator.lti13.error import TokenError

    platform.key = new_key(platform.key["kid"])  # same kid, the JWKS now has another key
    token = platform.id_token(USERS["ada"], "n-1", **{CUSTOM: {"student_id": "ada"}})
    platform.key = new_key(platform.key["kid"])
    with pytest.raises(TokenError, match="Signature verification failed"):
        launch(platform, token, tmp_path / "lti_roster.csv")
    assert not (tmp_path / "lti_roster.csv").exists()


@pytest.mark.parametrize(
    "change, refusal",
    [
        ({"redirect_uri": "http://elsewhere/hub/lti13/oauth_callback"}, "redirect_uri"),
        ({"client_id": "another-tool"}, "client_id"),
        ({"nonce": ""}, "nonce"),
        ({"state": ""}, "state"),
        ({"lti_message_hint": "forged"}, "lti_message_hint"),
        ({"response_mode": "query"}, "response_mode"),
    ],
)
def test_the_platform_checks_the_authentication_request(platform, change, refusal):
    """The launch's /authorize refuses what an LMS refuses (tests/test_lti_hub.py runs the
    whole launch through a hub); a right request gets the form posting id_token and state."""
    import requests
    from jwcrypto import jwt

    callback = "http://127.0.0.1:1/hub/lti13/oauth_callback"
    platform.redirect_uris.append(callback)
    start = platform.launch(
        USERS["ada"], "http://127.0.0.1:1/hub/", **{CUSTOM: {"student_id": "ada"}}
    )
    asked = {
        "response_type": "id_token", "scope": "openid", "response_mode": "form_post",
        "prompt": "none", "client_id": start["client_id"], "redirect_uri": callback,
        "login_hint": start["login_hint"], "lti_message_hint": start["lti_message_hint"],
        "nonce": "n-1", "state": "s-1",
    }  # fmt: skip
    answer = requests.get(platform.authorize_url, params={**asked, **change}, timeout=30)
    assert answer.status_code == 400 and refusal in answer.json()["error_description"]
    form = requests.get(platform.authorize_url, params=asked, timeout=30)
    assert form.status_code == 200 and f'action="{callback}"' in form.text
    (token,) = re.findall(r'name="id_token" value="([^"]+)"', form.text)
    claims = json.loads(jwt.JWT(jwt=token, key=platform.key).claims)
    assert (claims["sub"], claims["nonce"], claims["aud"]) == (USERS["ada"], "n-1", "c1w3-tool")
    assert 'name="state" value="s-1"' in form.text
