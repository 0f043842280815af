"""Issue 32's launch end to end: a real JupyterHub (this venv's, on 127.0.0.1, with the Python
configurable-http-proxy) whose authenticator is jupyterhub-ltiauthenticator's
``LTI13Authenticator``, pointed at the loopback LMS of tests/lti_platform.py, with the course's
post-auth hook (course/lti_launch.py). A ``requests.Session`` is the student's browser:

LMS -> hub  the LMS's third-party-initiated login: the launch's iss, login_hint,
            target_link_uri, lti_message_hint, client_id posted to /hub/lti13/oauth_login
hub -> LMS  302 to the LMS's /authorize (state, nonce, redirect_uri, client_id, the hints;
            state and nonce also in the hub's encrypted cookies)
LMS -> hub  the auto-submitting form: id_token (signed, the nonce in it) and state posted to
            /hub/lti13/oauth_callback; the hub checks them, fetches the LMS's JWKS, names the
            user from the custom claim student_id, runs the hook, sets its session cookie

No single-user server is started (``redirect_to_server = False``: the launch lands on
/hub/home; every redirect is followed by hand and none may lead to /user/ or /hub/spawn).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from course import lti
from tests import servers
from tests.lti_platform import Platform, Serving, new_key

pytestmark = pytest.mark.process
HUB_START_S = 180  # ceilings, not expectations (the machine may be loaded)
HTTP_S = 60
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
ADA_SUB = "lti-7f3a"  # ada's LTI user id on the LMS
HUB_CONFIG = (
    servers.HUB_BASE_CONFIG
    + """\
from course.lti_launch import record_lti_user

c.JupyterHub.redirect_to_server = False  # a launch lands on /hub/home: nothing spawned
# As docs/lti.md has it, the LMS being the loopback platform.
c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
c.LTI13Authenticator.issuer = {issuer!r}
c.LTI13Authenticator.client_id = [{client_id!r}]
c.LTI13Authenticator.authorize_url = {authorize_url!r}
c.LTI13Authenticator.jwks_endpoint = {jwks_url!r}
c.LTI13Authenticator.username_key = "custom_student_id"
c.LTI13Authenticator.post_auth_hook = record_lti_user({roster!r})
c.Authenticator.allow_all = True
# The test's admin token: read the hub's users through its REST API.
c.JupyterHub.services = [{{"name": "c1w3-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "c1w3-test", "scopes": ["list:users", "read:users"], "services": ["c1w3-test"]}}
]
"""
)


# ------------------------------------------------------------------ the hub (tests/servers.py)


@dataclass
class Hub:
    url: str  # the proxy's public URL
    token: str  # the test service's API token
    roster: Path
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    @property
    def login_url(self) -> str:
        return f"{self.url}/hub/lti13/oauth_login"

    @property
    def callback_url(self) -> str:
        return f"{self.url}/hub/lti13/oauth_callback"

    def users(self) -> list[str]:
        answer = requests.get(
            f"{self.url}/hub/api/users",
            headers={"Authorization": f"token {self.token}"},
            timeout=HTTP_S,
        )
        assert answer.status_code == 200, answer.text
        return sorted(u["name"] for u in answer.json())


@contextmanager
def jupyterhub(folder: Path, platform: Platform) -> Iterator[Hub]:
    """`jupyterhub` signing users in through `platform`, until it answers through its proxy
    (tests/servers.py)."""
    folder.mkdir(parents=True)
    values = servers.hub_ports(folder)
    url = f"http://127.0.0.1:{values['port']}"
    hub = Hub(url, secrets.token_hex(16), folder / "lti_roster.csv", folder / "jupyterhub.log")
    platform.redirect_uris.append(hub.callback_url)  # registered on the LMS with the tool
    config = HUB_CONFIG.format(
        **values,
        issuer=platform.issuer,
        client_id=platform.client_id,
        authorize_url=platform.authorize_url,
        jwks_url=platform.jwks_url,
        roster=str(hub.roster),
        token=hub.token,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("C1W3_", "JUPYTER"))}
    env.update(PATH=f"{servers.BIN}{os.pathsep}{env.get('PATH', '')}", HOME=str(folder))
    with servers.jupyterhub(folder, config, url, env, HUB_START_S):
        yield hub


@pytest.fixture(scope="module")
def platform():
    with Serving(Platform(tool_key=new_key("tool-1"))) as p:
        yield p


@pytest.fixture(scope="module")
def hub(tmp_path_factory, platform) -> Iterator[Hub]:
    with jupyterhub(tmp_path_factory.mktemp("lti_hub") / "jupyterhub", platform) as hub:
        yield hub


# ------------------------------------------------------------------ the student's browser


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the LMS's auto-submitting form."""
    import html

    (action,) = re.findall(r'<form method="post" action="([^"]*)"', page)
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
    return html.unescape(action), {k: html.unescape(v) for k, v in fields}


def follow(browser: requests.Session, answer: requests.Response) -> list[requests.Response]:
    """The redirects from `answer` on, by hand (none may start a server)."""
    hops = [answer]
    while hops[-1].is_redirect:
        url = requests.compat.urljoin(hops[-1].url, hops[-1].headers["Location"])
        assert not re.search(r"/user/|/hub/spawn", url), f"the launch would start a server: {url}"
        hops.append(browser.get(url, allow_redirects=False, timeout=HTTP_S))
    return hops


def launch(hub: Hub, platform: Platform, sub: str, student_id: str):
    """A student clicks the tool in the LMS: every step of the OIDC launch. Returns the
    browser, the hub's redirect to the LMS, and the hub's answers to the form post."""
    browser = requests.Session()
    initiation = platform.launch(sub, f"{hub.url}/hub/", **{CUSTOM: {"student_id": student_id}})
    to_lms = browser.post(hub.login_url, data=initiation, allow_redirects=False, timeout=HTTP_S)
    assert to_lms.status_code == 302, to_lms.text
    form = browser.get(to_lms.headers["Location"], allow_redirects=False, timeout=HTTP_S)
    assert form.status_code == 200 and "document.forms[0].submit()" in form.text, form.text
    action, fields = form_fields(form.text)
    answer = browser.post(action, data=fields, allow_redirects=False, timeout=HTTP_S)
    return browser, to_lms, follow(browser, answer)


# ------------------------------------------------------------------ the checks


def test_a_launch_through_the_hub_logs_in_the_student_id_and_records_the_lti_user(hub, platform):
    started = time.perf_counter()
    browser, to_lms, hops = launch(hub, platform, ADA_SUB, "Ada")
    seconds = time.perf_counter() - started

    # the hub's authentication request to the LMS, as the LMS received it
    assert to_lms.headers["Location"].startswith(platform.authorize_url + "?")
    asked = platform.authorizations[-1]
    assert asked["redirect_uri"] == hub.callback_url and asked["client_id"] == platform.client_id
    assert len(asked["nonce"]) == 64 and asked["state"]  # sha256 hex of the cookie's state
    # the callback: logged in, sent on to the target link (/hub/ -> /hub/home, no spawn)
    assert [h.status_code for h in hops] == [302, 302, 200], [h.url for h in hops]
    assert hops[0].url == hub.callback_url and hops[0].headers["Location"] == "/hub/"
    home = hops[-1]
    assert home.url == f"{hub.url}/hub/home", home.url
    assert '<span class="me-1">ada</span>' in home.text  # the page's user: normalized
    assert "jupyterhub-session-id" in browser.cookies
    # the hub's users, through its REST API; the hook's roster row
    assert hub.users() == ["ada"]
    assert lti.read_roster(hub.roster) == {"ada": ADA_SUB}
    assert ("GET", "/jwks") in platform.requests
    print(f"LTI launch through the hub: {seconds:.1f} s")

    # the session cookie alone keeps her in; a fresh browser is sent to log in
    again = browser.get(f"{hub.url}/hub/home", allow_redirects=False, timeout=HTTP_S)
    assert again.status_code == 200 and '<span class="me-1">ada</span>' in again.text
    stranger = requests.get(f"{hub.url}/hub/home", allow_redirects=False, timeout=HTTP_S)
    assert stranger.status_code == 302 and "/hub/login" in stranger.headers["Location"]


def test_a_launch_signed_by_a_key_not_in_the_jwks_is_refused(hub, platform, monkeypatch):
    before = hub.users()
    roster = hub.roster.read_bytes() if hub.roster.exists() else None
    monkeypatch.setattr(platform, "sign_launches_with", new_key(platform.key["kid"]))
    browser, _, hops = launch(hub, platform, "lti-forged", "mallory")
    (refused,) = hops
    assert refused.status_code == 400, refused.text
    assert "Signature verification failed" in refused.text
    assert "jupyterhub-session-id" not in browser.cookies
    assert hub.users() == before and "mallory" not in before
    assert (hub.roster.read_bytes() if hub.roster.exists() else None) == roster


def test_the_lms_form_posted_from_another_browser_is_refused(hub, platform):
    """The hub's state and nonce cookies tie the callback to the browser that started the
    launch: the same (valid) form posted from elsewhere logs nobody in."""
    before = hub.users()
    browser = requests.Session()
    initiation = platform.launch("lti-b0b", f"{hub.url}/hub/", **{CUSTOM: {"student_id": "bob"}})
    to_lms = browser.post(hub.login_url, data=initiation, allow_redirects=False, timeout=HTTP_S)
    form = browser.get(to_lms.headers["Location"], allow_redirects=False, timeout=HTTP_S)
    action, fields = form_fields(form.text)
    elsewhere = requests.post(action, data=fields, allow_redirects=False, timeout=HTTP_S)
    assert elsewhere.status_code == 400 and "OAuth state missing from cookies" in elsewhere.text
    assert hub.users() == before and "bob" not in before
